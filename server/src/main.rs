//! The `driftsync-server` command line (clap): `serve` runs the server, `admin` sends one admin
//! command to a running server. `driftsync-server help [COMMAND]` or `COMMAND --help` for details.

use clap::{Args, Parser, Subcommand, ValueEnum};
use driftsync::protocol::AdminCommand;
use driftsync_server::admin::parse_duration;
use driftsync_server::{Server, ServerOptions, admin_request};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The driftsync reference sync server.
#[derive(Parser)]
#[command(
    name = "driftsync-server",
    version,
    about,
    propagate_version = true,
    after_help = "Logging: DRIFTSYNC_LOG sets the level of the lines on stderr (see server/README.md)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until it is killed.
    ///
    /// Prints exactly `listening on ws://HOST:PORT`, then `admin on ws://HOST:PORT` (the admin
    /// listener, set by `[admin]` in the config), flushed, once it accepts connections; `wss://`
    /// with `[tls]`.
    Serve {
        /// The app configuration (TOML; see server/app.example.toml).
        #[arg(long, env = "DRIFTSYNC_CONFIG", value_name = "FILE")]
        config: PathBuf,
        /// The data directory (created when missing).
        #[arg(long, env = "DRIFTSYNC_DATA", value_name = "DIR")]
        data: PathBuf,
        /// The address to listen on; port 0 picks a free port.
        #[arg(long, env = "DRIFTSYNC_LISTEN", value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Send one admin command to a running server and print its answer.
    ///
    /// The admin token comes from --admin-token or DRIFTSYNC_ADMIN_TOKEN, else from the file
    /// named by --admin-token-file or DRIFTSYNC_ADMIN_TOKEN_FILE. Prefer the environment or a
    /// file: a token on the command line is visible to every user of the machine (`ps`).
    Admin {
        #[command(flatten)]
        connection: AdminConnection,
        #[command(subcommand)]
        command: AdminCli,
    },
}

/// Where the server is and the admin token.
#[derive(Args)]
struct AdminConnection {
    /// The admin listener's URL, as printed by `serve` after `admin on`.
    #[arg(long, env = "DRIFTSYNC_URL", value_name = "ws://HOST:PORT")]
    url: String,
    /// The admin token (takes precedence over --admin-token-file).
    #[arg(long, env = "DRIFTSYNC_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A file holding the admin token (surrounding whitespace is ignored).
    #[arg(long, env = "DRIFTSYNC_ADMIN_TOKEN_FILE", value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AdminCli {
    /// Take a backup of the server's data under NAME.
    Backup { name: String },
    /// Restore the backup NAME (clients then reset: server restored from a backup).
    Restore { name: String },
    /// Terminate sync (clients are told to retry).
    Terminate,
    /// Re-enable sync: a new epoch (clients reset: sync re-enabled).
    Enable,
    /// Schema changes.
    #[command(subcommand)]
    Schema(SchemaCli),
    /// The server's clock.
    #[command(subcommand)]
    Clock(ClockCli),
    /// Roles of users.
    #[command(subcommand)]
    Role(RoleCli),
    /// Whether client resets may recover unsynced changes.
    Recovery {
        /// `off` sets is_recovery_mode_disabled (resets become ClientResetNoRecovery).
        state: OnOff,
    },
    /// Users and their static tokens (effective at once: open sessions of a removed user or a
    /// rotated token are closed).
    #[command(subcommand)]
    User(UserCli),
    /// Print the server's status (JSON).
    Status,
}

#[derive(Subcommand)]
enum UserCli {
    /// Add USER with TOKEN and ROLE.
    Add { user: String, token: String, role: String },
    /// Remove USER (revokes its token).
    Remove { user: String },
    /// Give USER a new TOKEN (the old one stops working).
    Rotate { user: String, token: String },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
enum SchemaCli {
    /// Apply a schema (driftsync Schema JSON); breaking changes start a new epoch.
    Apply { file: PathBuf },
}

#[derive(Subcommand)]
enum ClockCli {
    /// Advance the server clock (e.g. 31d, 12h, 30m, 90s); expires and compacts.
    Advance { duration: String },
}

#[derive(Subcommand)]
enum RoleCli {
    /// Give USER the role ROLE.
    Assign { user: String, role: String },
    /// Define ROLE from a TOML file: realms = [..], read = [..], write = [..].
    Define { role: String, file: PathBuf },
}

fn main() -> ExitCode {
    // The log level comes from DRIFTSYNC_LOG (see driftsync_server::log); a bad value is refused
    // before anything else.
    if let Err(e) = driftsync_server::log::init_from_env() {
        eprintln!("driftsync-server: {e}");
        return ExitCode::FAILURE;
    }
    let result = match Cli::parse().command {
        Command::Serve { config, data, listen } => serve(&config, &data, &listen),
        Command::Admin { connection, command } => admin(&connection, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftsync-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: &Path, data: &Path, listen: &str) -> Result<(), String> {
    let options = ServerOptions::from_config_file(config, data).map_err(|e| e.to_string())?.listen(listen);
    let server = Server::start(options).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", server.url());
    let _ = writeln!(out, "admin on {}", server.admin_url());
    let _ = out.flush();
    // Serve until killed.
    loop {
        std::thread::park();
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn admin_token(connection: &AdminConnection) -> Result<String, String> {
    let token = match (&connection.admin_token, &connection.admin_token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(file)) => read(file)?.trim().to_string(),
        (None, None) => {
            return Err("admin needs a token: DRIFTSYNC_ADMIN_TOKEN, --admin-token-file FILE or --admin-token TOKEN".into());
        }
    };
    if token.is_empty() {
        return Err("the admin token is empty".into());
    }
    Ok(token)
}

fn admin(connection: &AdminConnection, command: AdminCli) -> Result<(), String> {
    let token = admin_token(connection)?;
    let command = match command {
        AdminCli::Backup { name } => AdminCommand::Backup { name },
        AdminCli::Restore { name } => AdminCommand::Restore { name },
        AdminCli::Terminate => AdminCommand::Terminate,
        AdminCli::Enable => AdminCommand::Enable,
        AdminCli::Schema(SchemaCli::Apply { file }) => AdminCommand::ApplySchema { schema_json: read(&file)? },
        AdminCli::Clock(ClockCli::Advance { duration }) => {
            AdminCommand::AdvanceClock { seconds: parse_duration(&duration).map_err(|e| e.to_string())?.as_secs() }
        }
        AdminCli::Role(RoleCli::Assign { user, role }) => AdminCommand::AssignRole { user, role },
        AdminCli::Role(RoleCli::Define { role, file }) => AdminCommand::DefineRole { role, definition_toml: read(&file)? },
        AdminCli::Recovery { state } => AdminCommand::SetRecoveryDisabled { disabled: state == OnOff::Off },
        AdminCli::User(UserCli::Add { user, token, role }) => AdminCommand::AddUser { user, token, role },
        AdminCli::User(UserCli::Remove { user }) => AdminCommand::RemoveUser { user },
        AdminCli::User(UserCli::Rotate { user, token }) => AdminCommand::RotateToken { user, token },
        AdminCli::Status => AdminCommand::Status,
    };
    let out = admin_request(&connection.url, &token, command).map_err(|e| e.to_string())?;
    println!("{out}");
    Ok(())
}
