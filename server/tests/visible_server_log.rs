//! The server binary's log (issue 11): its level comes from `DRIFTSYNC_LOG`; it logs binds,
//! refused tokens and admin commands on stderr, and never a token.

mod common;

use common::*;
use driftsync::protocol::{AdminCommand, ServerMessage};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_driftsync-server");

/// Runs `serve` with `DRIFTSYNC_LOG=level`, binds once with a good and once with a bad token, runs
/// one admin command, stops the server and returns its stderr.
fn serve_and_collect(level: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_files(dir.path());
    let mut child: Child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .env("DRIFTSYNC_LOG", level)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let admin_url = line.trim().strip_prefix("admin on ").unwrap_or_else(|| panic!("unexpected second line {line:?}")).to_string();

    let mut ok = Raw::connect(&url);
    assert!(matches!(ok.bind(bind_msg("alice-token", "logged", None, 0, 0)), ServerMessage::BindOk { .. }));
    let mut bad = Raw::connect(&url);
    assert!(matches!(bad.bind(bind_msg("not-a-real-token", "logged", None, 0, 0)), ServerMessage::Error(_)));
    driftsync_server::admin_request(&admin_url, "admin-secret", AdminCommand::Status).unwrap();
    drop(ok);
    drop(bad);

    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    err
}

#[test]
fn visible_server_binary_logs_at_the_level_of_driftsync_log_and_never_a_token() {
    let info = serve_and_collect("info");
    assert!(info.contains("bind: user 'alice' realm 'logged' client file "), "{info}");
    assert!(info.contains("refused token: realm 'logged'"), "{info}");
    assert!(info.contains("admin: status"), "{info}");
    assert!(!info.contains("alice-token") && !info.contains("not-a-real-token") && !info.contains("admin-secret"), "{info}");

    let warn = serve_and_collect("warn");
    assert!(warn.contains("refused token"), "warnings are logged at warn: {warn}");
    assert!(!warn.contains("bind: user"), "info lines are not logged at warn: {warn}");

    let off = serve_and_collect("off");
    assert!(!off.contains("refused token"), "{off}");
}

#[test]
fn visible_server_binary_refuses_an_invalid_log_level() {
    let out = Command::new(BIN).args(["serve"]).env("DRIFTSYNC_LOG", "loud").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DRIFTSYNC_LOG"), "{}", String::from_utf8_lossy(&out.stderr));
}
