//! The server as a child process: `serve` prints its port, survives SIGKILL without losing
//! anything it acknowledged, and the admin CLI drives it.

mod common;

use common::*;
use driftsync::protocol::{ClientMessage, ErrorAction, ResetCause, ServerErrorCode, ServerMessage};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_driftsync-server");

struct ChildServer {
    child: Child,
    url: String,
    admin_url: String,
}

impl ChildServer {
    fn start(config: &Path, data: &Path) -> ChildServer {
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
        assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let admin_url = line.trim().strip_prefix("admin on ").unwrap_or_else(|| panic!("unexpected second line {line:?}")).to_string();
        assert!(admin_url.starts_with("ws://127.0.0.1:"), "{admin_url}");
        ChildServer { child, url, admin_url }
    }

    fn sigkill(mut self) {
        // SIGKILL: no destructor, no checkpoint, nothing flushed by the server.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let status = self.child.wait().unwrap();
        assert!(!status.success());
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn admin_cli(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(["admin", "--url", url, "--admin-token", token]).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn child_process_server_prints_its_port_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_files(dir.path());
    let server = ChildServer::start(&config, &dir.path().join("data"));
    let mut c = new_client(&server.url, ALICE, "main");
    assert_eq!(upload(&mut c, vec![changeset(1, vec![create_task(1, "x")])]), vec![(1, 1)]);
    let e = bind_err(&server.url, bind_msg("nobody", "main", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::BadToken);
}

#[test]
fn sigkill_after_ack_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_files(dir.path());
    let data = dir.path().join("data");
    let server = ChildServer::start(&config, &data);
    let mut c = new_client(&server.url, ALICE, "main");
    let mut last = (0, 0);
    for i in 1..=50u64 {
        let acks = upload(&mut c, vec![changeset(i, vec![create_task(i as i64, "acked")])]);
        last = acks[0];
    }
    assert_eq!(last, (50, 50));
    // The salt of version 50, as a downloading client sees it.
    let mut d = new_client(&server.url, BOB, "main");
    d.raw.send(&ClientMessage::StartDownload { after: 49 });
    let salt50 = d.raw.recv_until(|m| match m {
        ServerMessage::Download { latest_server_version: 50, latest_salt, .. } => Some(latest_salt),
        _ => None,
    });
    // One more upload in flight while the server dies: it may or may not survive, but nothing
    // acknowledged may be lost.
    c.raw.send(&ClientMessage::Upload { changesets: vec![changeset(51, vec![create_task(51, "in flight")])] });
    let ident = c.ident;
    server.sigkill();

    let server = ChildServer::start(&config, &data);
    // The client file, its version and salt are all still known: no reset.
    let mut again = bind_ok(&server.url, bind_msg(ALICE, "main", Some(ident), 50, salt50));
    let state = pull_state(&mut again, 1000);
    assert!(state.len() >= 50, "{} objects", state.len());
    for i in 1..=50i64 {
        assert!(state.iter().any(|(c, o)| c == "Task" && o.pk == driftsync::PrimaryKey::Int(i)), "task {i} lost");
    }
    // Re-sending everything is acknowledged without duplicating anything.
    let acks = upload(&mut again, (50..=51).map(|i| changeset(i, vec![create_task(i as i64, "again")])).collect());
    assert_eq!(acks.iter().map(|a| a.0).collect::<Vec<_>>(), vec![50, 51]);
    assert_eq!(acks[0].1, 50);
}

#[test]
fn admin_cli_drives_a_child_process_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_files(dir.path());
    let server = ChildServer::start(&config, &dir.path().join("data"));
    let url = server.url.clone();
    let admin_url = server.admin_url.clone();
    let (ident, v, salt) = {
        let mut c = new_client(&url, ALICE, "main");
        let acks = upload(&mut c, vec![changeset(1, vec![create_task(1, "x")])]);
        c.raw.send(&ClientMessage::StartDownload { after: 0 });
        let salt = c.raw.recv_until(|m| match m {
            ServerMessage::Download { latest_salt, .. } => Some(latest_salt),
            _ => None,
        });
        (c.ident, acks[0].1, salt)
    };

    let (ok, out, _) = admin_cli(&admin_url, ADMIN, &["status"]);
    assert!(ok);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["epoch"], 1);
    assert_eq!(status["realms"]["main"]["latest_version"], 1);

    // Wrong token: refused, non-zero exit.
    let (ok, _, err) = admin_cli(&admin_url, "wrong", &["terminate"]);
    assert!(!ok);
    assert!(err.contains("admin token"), "{err}");
    // Unknown command.
    assert!(!admin_cli(&admin_url, ADMIN, &["frobnicate"]).0);

    // recovery off → the next reset has no recovery.
    assert!(admin_cli(&admin_url, ADMIN, &["recovery", "off"]).0);
    assert!(admin_cli(&admin_url, ADMIN, &["role", "assign", "alice", "reader"]).0);
    let e = bind_err(&url, bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::RoleChanged, ErrorAction::ClientResetNoRecovery);
    assert!(admin_cli(&admin_url, ADMIN, &["recovery", "on"]).0);
    assert!(admin_cli(&admin_url, ADMIN, &["role", "assign", "alice", "all"]).0);
    // Back to the original role and definition: the stamp matches again.
    bind_ok(&url, bind_msg(ALICE, "main", Some(ident), v, salt));

    // role define from a file.
    let role_file = dir.path().join("reader.toml");
    std::fs::write(&role_file, "realms = [\"*\"]\nread = [\"Task\"]\nwrite = []\n").unwrap();
    assert!(admin_cli(&admin_url, ADMIN, &["role", "define", "reader", role_file.to_str().unwrap()]).0);

    // clock advance.
    let (ok, out, _) = admin_cli(&admin_url, ADMIN, &["clock", "advance", "31d"]);
    assert!(ok, "{out}");
    let e = bind_err(&url, bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::ClientTooOld, ErrorAction::ClientResetNoRecovery);

    // backup / restore.
    assert!(admin_cli(&admin_url, ADMIN, &["backup", "b1"]).0);
    assert!(!admin_cli(&admin_url, ADMIN, &["backup", "b1"]).0, "a backup name is used once");
    let mut c = new_client(&url, BOB, "main");
    upload(&mut c, vec![changeset(1, vec![create_task(2, "after backup")])]);
    let bob_ident = c.ident;
    drop(c);
    assert!(admin_cli(&admin_url, ADMIN, &["restore", "b1"]).0);
    assert!(!admin_cli(&admin_url, ADMIN, &["restore", "nope"]).0);
    let e = bind_err(&url, bind_msg(BOB, "main", Some(bob_ident), 2, 0));
    assert_reset(&e, ResetCause::ServerRestored, ErrorAction::ClientReset);

    // schema apply (breaking).
    let mut task = task_class();
    task.properties[1] = driftsync::Property::new("title", driftsync::ScalarType::Int);
    let new_schema = driftsync::Schema::new(vec![driftsync::ClassSchema::new("Task", "id", task.properties), note_class()]).unwrap();
    let schema_file = dir.path().join("new-schema.json");
    std::fs::write(&schema_file, new_schema.to_json()).unwrap();
    let (ok, out, err) = admin_cli(&admin_url, ADMIN, &["schema", "apply", schema_file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let status: serde_json::Value = serde_json::from_str(&admin_cli(&admin_url, ADMIN, &["status"]).1).unwrap();
    assert_eq!(status["epoch"], 2);

    // terminate / enable.
    assert!(admin_cli(&admin_url, ADMIN, &["terminate"]).0);
    let e = bind_err(&url, bind_msg(BOB, "main", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::SyncTerminated);
    assert!(admin_cli(&admin_url, ADMIN, &["enable"]).0);
    let status: serde_json::Value = serde_json::from_str(&admin_cli(&admin_url, ADMIN, &["status"]).1).unwrap();
    assert_eq!(status["epoch"], 3);
    assert_eq!(status["sync_enabled"], true);
}

#[test]
fn serve_with_a_bad_config_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("app.toml");
    std::fs::write(&config, "admin_token = \"x\"\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&config).arg("--data").arg(dir.path().join("d")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("schema"), "{}", String::from_utf8_lossy(&out.stderr));
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    command.args(args);
    for var in
        ["DRIFTSYNC_URL", "DRIFTSYNC_ADMIN_TOKEN", "DRIFTSYNC_ADMIN_TOKEN_FILE", "DRIFTSYNC_CONFIG", "DRIFTSYNC_DATA", "DRIFTSYNC_LISTEN"]
    {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let out = command.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn cli_version_prints_the_crate_version() {
    let (ok, out, _) = cli(&["--version"], &[]);
    assert!(ok);
    assert_eq!(out.trim(), format!("driftsync-server {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn cli_every_command_has_its_own_help() {
    for (args, expect) in [
        (&["serve", "--help"][..], "--listen <HOST:PORT>"),
        (&["admin", "--help"][..], "DRIFTSYNC_ADMIN_TOKEN"),
        (&["admin", "role", "--help"][..], "assign"),
        (&["admin", "clock", "advance", "--help"][..], "31d"),
        (&["help", "admin", "schema", "apply"][..], "breaking changes start a new epoch"),
    ] {
        let (ok, out, err) = cli(args, &[]);
        assert!(ok, "{args:?}: {err}");
        assert!(out.contains(expect), "{args:?} help lacks {expect:?}:\n{out}");
    }
}

#[test]
fn cli_unknown_command_or_missing_token_fails_with_a_message() {
    let (ok, _, err) = cli(&["admin", "--url", "ws://127.0.0.1:1", "frobnicate"], &[("DRIFTSYNC_ADMIN_TOKEN", "t")]);
    assert!(!ok);
    assert!(err.contains("frobnicate"), "{err}");
    let (ok, _, err) = cli(&["admin", "--url", "ws://127.0.0.1:1", "status"], &[]);
    assert!(!ok);
    assert!(err.contains("admin needs a token"), "{err}");
    let (ok, _, err) = cli(&["serve", "--data", "/nonexistent"], &[]);
    assert!(!ok);
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn cli_admin_token_from_environment_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_files(dir.path());
    let server = ChildServer::start(&config, &dir.path().join("data"));
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let token_file = token_file.to_str().unwrap();
    let wrong_file = dir.path().join("wrong-token");
    std::fs::write(&wrong_file, "not-the-token\n").unwrap();

    // The token from the environment; the URL too.
    let (ok, out, err) = cli(&["admin", "status"], &[("DRIFTSYNC_URL", &server.admin_url), ("DRIFTSYNC_ADMIN_TOKEN", ADMIN)]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["sync_enabled"], true);
    // From a file named by an option or by the environment (its trailing newline ignored).
    let (ok, _, err) = cli(&["admin", "--url", &server.admin_url, "--admin-token-file", token_file, "status"], &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["admin", "--url", &server.admin_url, "status"], &[("DRIFTSYNC_ADMIN_TOKEN_FILE", token_file)]);
    assert!(ok, "{err}");
    // A wrong token is refused, whatever its source; an explicit token beats the file.
    let (ok, _, _) = cli(&["admin", "--url", &server.admin_url, "--admin-token-file", wrong_file.to_str().unwrap(), "status"], &[]);
    assert!(!ok);
    let (ok, _, err) = cli(
        &["admin", "--url", &server.admin_url, "status"],
        &[("DRIFTSYNC_ADMIN_TOKEN", ADMIN), ("DRIFTSYNC_ADMIN_TOKEN_FILE", wrong_file.to_str().unwrap())],
    );
    assert!(ok, "{err}");
    // A missing file is named.
    let (ok, _, err) = cli(&["admin", "--url", &server.admin_url, "--admin-token-file", "/nonexistent/token", "status"], &[]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/token"), "{err}");
}
