//! `driftsync-server serve --config app.toml --data DIR [--listen 127.0.0.1:PORT]`
//! `driftsync-server admin --url ws://127.0.0.1:ADMIN_PORT --admin-token T <command>`

use driftsync::protocol::AdminCommand;
use driftsync_server::admin::parse_duration;
use driftsync_server::{Server, ServerOptions, admin_request};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage:
  driftsync-server serve --config app.toml --data DIR [--listen 127.0.0.1:PORT]
      (port 0 picks a free port; prints `listening on ws://HOST:PORT`, then
       `admin on ws://HOST:PORT`: the admin listener, set by [admin] in app.toml)
  driftsync-server admin --url ws://HOST:ADMIN_PORT --admin-token TOKEN COMMAND
      COMMAND is one of:
        backup NAME | restore NAME
        terminate | enable
        schema apply FILE            (Schema JSON; breaking changes start a new epoch)
        clock advance DURATION       (e.g. 31d, 12h, 30m, 90s)
        role assign USER ROLE
        role define ROLE FILE        (TOML: realms = [..], read = [..], write = [..])
        recovery on|off              (off sets is_recovery_mode_disabled)
        user add USER TOKEN ROLE | user remove USER | user rotate USER TOKEN
        status";

fn main() -> ExitCode {
    // The log level comes from DRIFTSYNC_LOG (see driftsync_server::log).
    if let Err(e) = driftsync_server::log::init_from_env() {
        eprintln!("driftsync-server: {e}");
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("admin") => admin(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftsync-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Splits `--name value` options from positional arguments.
fn options(args: &[String], known: &[&str]) -> Result<(std::collections::HashMap<String, String>, Vec<String>), String> {
    let mut opts = std::collections::HashMap::new();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (name.to_string(), it.next().cloned().ok_or_else(|| format!("--{name} needs a value"))?),
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}\n{USAGE}"));
            }
            opts.insert(name, value);
        } else {
            rest.push(a.clone());
        }
    }
    Ok((opts, rest))
}

fn serve(args: &[String]) -> Result<(), String> {
    let (opts, rest) = options(args, &["config", "data", "listen"])?;
    if !rest.is_empty() {
        return Err(format!("unexpected arguments {rest:?}\n{USAGE}"));
    }
    let config = opts.get("config").ok_or("serve needs --config app.toml")?;
    let data = opts.get("data").ok_or("serve needs --data DIR")?;
    let listen = opts.get("listen").map(String::as_str).unwrap_or("127.0.0.1:0");
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

fn admin(args: &[String]) -> Result<(), String> {
    let (opts, rest) = options(args, &["url", "admin-token"])?;
    let url = opts.get("url").ok_or("admin needs --url ws://HOST:PORT")?;
    let token = opts.get("admin-token").ok_or("admin needs --admin-token TOKEN")?;
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let command = match words.as_slice() {
        ["backup", name] => AdminCommand::Backup { name: name.to_string() },
        ["restore", name] => AdminCommand::Restore { name: name.to_string() },
        ["terminate"] => AdminCommand::Terminate,
        ["enable"] => AdminCommand::Enable,
        ["schema", "apply", file] => AdminCommand::ApplySchema { schema_json: read(file)? },
        ["clock", "advance", d] => AdminCommand::AdvanceClock { seconds: parse_duration(d).map_err(|e| e.to_string())?.as_secs() },
        ["role", "assign", user, role] => AdminCommand::AssignRole { user: user.to_string(), role: role.to_string() },
        ["role", "define", role, file] => AdminCommand::DefineRole { role: role.to_string(), definition_toml: read(file)? },
        ["recovery", "on"] => AdminCommand::SetRecoveryDisabled { disabled: false },
        ["recovery", "off"] => AdminCommand::SetRecoveryDisabled { disabled: true },
        ["status"] => AdminCommand::Status,
        ["user", "add", user, token, role] => {
            AdminCommand::AddUser { user: user.to_string(), token: token.to_string(), role: role.to_string() }
        }
        ["user", "remove", user] => AdminCommand::RemoveUser { user: user.to_string() },
        ["user", "rotate", user, token] => AdminCommand::RotateToken { user: user.to_string(), token: token.to_string() },
        _ => return Err(format!("unknown admin command {words:?}\n{USAGE}")),
    };
    let out = admin_request(url, token, command).map_err(|e| e.to_string())?;
    println!("{out}");
    Ok(())
}
