//! Sync fault tests from the client's side: the server killed with SIGKILL and restarted while a
//! client uploads; a client killed while it downloads. Nothing acknowledged is lost, the realm
//! reopens intact, and sync completes after the restart.

mod common;
use common::*;
use driftsync::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("driftsync-server")).expect("target dir");
    assert!(bin.exists(), "{} is missing: `cargo test --workspace` builds it", bin.display());
    bin
}

/// The reference server as a child process on `listen` (port 0: any); returns it and its URL.
fn spawn_server(dir: &Path, listen: &str) -> (Child, String) {
    let cfg = dir.join("app.toml");
    if !cfg.exists() {
        let toml = format!(
            "admin_token = \"{ADMIN}\"\nschema_json = '''{}'''\n[users.alice]\ntoken = \"alice-token\"\nrole = \"rw\"\n[users.bob]\ntoken = \"bob-token\"\nrole = \"rw\"\n[roles.rw]\nrealms = [\"*\"]\nread = [\"*\"]\nwrite = [\"*\"]\n",
            schema().to_json()
        );
        std::fs::write(&cfg, toml).unwrap();
    }
    let mut child = Command::new(server_binary())
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    (child, url)
}

fn sigkill(child: &mut Child) {
    let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
    let _ = child.wait();
}

#[test]
fn server_killed_mid_upload_and_restarted_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = spawn_server(dir.path(), "127.0.0.1:0");
    let addr = url.trim_start_matches("ws://").to_string();
    let a = open_client(&dir.path().join("a.realm"), &url, "alice", ClientResetConfig::default());
    sync_all(&a);
    let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = states.clone();
    session(&a).on_state_change(move |_, new| s2.lock().unwrap().push(new));
    for i in 0..2_000 {
        item(&a, i, "x");
    }
    // Kill the server while the uploads are in flight, then start it again on the same port.
    std::thread::sleep(Duration::from_millis(30));
    let acked_before_kill = session(&a).progress().uploaded;
    sigkill(&mut server);
    eventually("the client notices", || session(&a).state() != sync::ConnectionState::Connected);
    let (mut server, _) = spawn_server(dir.path(), &addr);
    sync_all(&a);
    assert!(session(&a).progress().uploaded >= acked_before_kill);
    let b = open_client(&dir.path().join("b.realm"), &url, "bob", ClientResetConfig::default());
    sync_all(&b);
    assert_eq!(b.count("Item").unwrap(), 2_000, "every change reached the server exactly once");
    assert!(a.last_reset_report().unwrap().is_none(), "a server restart is not a reset");
    let seen = states.lock().unwrap().clone();
    assert!(seen.iter().filter(|s| **s == sync::ConnectionState::Connected).count() >= 1, "reconnected: {seen:?}");
    sigkill(&mut server);
}

#[test]
fn client_killed_mid_download_reopens_intact_and_completes() {
    if let Ok(path) = std::env::var("DRIFTSYNC_DOWNLOAD_CHILD") {
        let url = std::env::var("DRIFTSYNC_URL").unwrap();
        let r = open_client(Path::new(&path), &url, "bob", ClientResetConfig::default());
        std::thread::sleep(Duration::from_secs(60));
        drop(r);
        std::process::exit(3);
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = spawn_server(dir.path(), "127.0.0.1:0");
    let a = open_client(&dir.path().join("a.realm"), &url, "alice", ClientResetConfig::default());
    // Many separate changesets: the new client downloads them in many messages.
    for chunk in 0..40 {
        a.write(|r| (chunk * 500..(chunk + 1) * 500).try_for_each(|i| r.create("Item", i, &[("name", "n".into())]))).unwrap();
    }
    for i in 0..3_000 {
        a.write(|r| r.set("Item", &(i % 20_000).into(), "count", Value::Int(i))).unwrap();
    }
    sync_all(&a);
    let path = dir.path().join("b.realm");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "client_killed_mid_download_reopens_intact_and_completes", "--nocapture"])
        .env("DRIFTSYNC_DOWNLOAD_CHILD", &path)
        .env("DRIFTSYNC_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once its realm exists and has started receiving.
    eventually("the child starts syncing", || path.exists());
    std::thread::sleep(Duration::from_millis(150));
    sigkill(&mut child);
    {
        let plain = Realm::open(RealmConfig::new(&path, schema())).expect("the killed client's realm reopens");
        let n = plain.count("Item").unwrap();
        assert!(n == 0 || n == 20_000, "a bootstrap is one transaction: all or nothing, got {n}");
    }
    let b = open_client(&path, &url, "bob", ClientResetConfig::default());
    sync_all(&b);
    assert_eq!(dump(&a), dump(&b));
    sigkill(&mut server);
}

/// A fake server that accepts WebSocket connections, reads the client's first message and
/// answers with `reply`; it counts connections.
fn fake_server(reply: tungstenite::Message) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(stream) = stream else { continue };
            c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reply = reply.clone();
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else { return };
                let _ = ws.read();
                let _ = ws.send(reply);
                let _ = ws.read();
            });
        }
    });
    (url, count)
}

fn client_sees_bad_server_input(reply: tungstenite::Message, expect: &str) {
    let (url, connections) = fake_server(reply);
    let dir = tempfile::tempdir().unwrap();
    let r = open_client(&dir.path().join("c.realm"), &url, "alice", ClientResetConfig::default());
    item(&r, 1, "local");
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let e2 = errors.clone();
    session(&r).on_error(move |e| e2.lock().unwrap().push(e.clone()));
    eventually("the client reconnects after bad input", || connections.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    eventually("the error is reported", || errors.lock().unwrap().iter().any(|e| e.message.contains(expect)));
    let e = errors.lock().unwrap().iter().find(|e| e.message.contains(expect)).cloned().unwrap();
    assert_eq!(e.action, protocol::ErrorAction::Retry, "{e:?}");
    assert_eq!(name_of(&r, 1).as_deref(), Some("local"), "nothing stored changed");
    assert_eq!(r.count("Item").unwrap(), 1);
}

#[test]
fn client_survives_an_undecodable_server_message() {
    client_sees_bad_server_input(tungstenite::Message::Binary(vec![0xc1, 0xff, 0x00].into()), "undecodable");
}

#[test]
fn client_survives_a_text_frame_from_the_server() {
    client_sees_bad_server_input(tungstenite::Message::Text("hello".into()), "text frame");
}

#[test]
fn client_survives_an_unexpected_server_message() {
    let msg = protocol::encode(&protocol::ServerMessage::Pong { nonce: 1, latest_server_version: 0 });
    client_sees_bad_server_input(tungstenite::Message::Binary(msg.into()), "expected BindOk");
}

/// Unsynced changesets that together exceed one message (the server refuses frames over
/// `MAX_FRAME_BYTES`) are uploaded in several messages. Before, one upload carried up to 500
/// changesets whatever their size: the server refused it, the client reconnected and sent the
/// same message again, forever (the 1,000,000-object bench setup stalled this way).
#[test]
fn upload_of_changesets_larger_than_one_message_completes() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("big-a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    sync_all(&a);
    session(&a).pause();
    // 12 changesets of 2 MB: 24 MB, more than one 16 MiB message.
    let big = "x".repeat(2_000_000);
    for i in 0..12 {
        item(&a, i, &big);
    }
    session(&a).resume();
    session(&a).wait_for_upload(Duration::from_secs(60)).expect("every changeset uploaded");
    let b = open_client(&ts.path("big-b.realm"), &ts.url(), "bob", ClientResetConfig::default());
    sync_all(&b);
    assert_eq!(b.count("Item").unwrap(), 12);
}

/// One changeset larger than any message can carry ends the session at once with an error that
/// says so, instead of being retried forever.
#[test]
fn a_changeset_no_message_can_carry_ends_the_session_at_once() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("huge-a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    sync_all(&a);
    item(&a, 1, &"x".repeat(protocol::MAX_FRAME_BYTES + 1));
    let started = std::time::Instant::now();
    let err = session(&a).wait_for_upload(Duration::from_secs(60)).expect_err("no upload can carry it");
    assert!(started.elapsed() < Duration::from_secs(30), "the session ended at once, not by the wait's timeout");
    assert!(err.to_string().contains("more than one upload message can carry"), "{err}");
}
