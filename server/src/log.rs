//! The server's log: lines on stderr, at a level taken from `DRIFTSYNC_LOG` (off, error, warn,
//! info, debug, trace; default info) when the binary starts. The server logs each bind (user,
//! realm, client file), each reset demand with its cause, each refused token or bind, and each
//! admin command, through the `log` crate (target `driftsync_server`); it never logs a token.
//! An embedding process (the tests) may install its own `log` logger instead.

use std::io::Write;

/// The environment variable that sets the level.
pub const LEVEL_VAR: &str = "DRIFTSYNC_LOG";

struct Stderr;

static STDERR: Stderr = Stderr;

impl log::Log for Stderr {
    /// Only driftsync's lines: other crates' (tungstenite traces frames, tokens included) are not
    /// the server's log.
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level() && metadata.target().starts_with("driftsync")
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(std::io::stderr(), "driftsync-server {} [{}] {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Parses a level name (case-insensitive).
pub fn parse_level(s: &str) -> Result<log::LevelFilter, String> {
    s.trim().parse::<log::LevelFilter>().map_err(|_| format!("'{s}' is not a log level (off, error, warn, info, debug, trace)"))
}

/// Logs to stderr at `level` (once per process; a logger already installed wins).
pub fn init(level: log::LevelFilter) {
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(level);
    }
}

/// Logs to stderr at the level of `DRIFTSYNC_LOG` (info when unset); an invalid value is an error.
pub fn init_from_env() -> Result<(), String> {
    let level = match std::env::var(LEVEL_VAR) {
        Ok(v) => parse_level(&v).map_err(|e| format!("{LEVEL_VAR}: {e}"))?,
        Err(_) => log::LevelFilter::Info,
    };
    init(level);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_server_log_levels_parse_and_refuse_garbage() {
        assert_eq!(parse_level("debug"), Ok(log::LevelFilter::Debug));
        assert_eq!(parse_level("WARN"), Ok(log::LevelFilter::Warn));
        assert_eq!(parse_level("off"), Ok(log::LevelFilter::Off));
        assert!(parse_level("loud").is_err());
    }
}
