//! The sync path against an attacker, end to end with real clients: another user's client file,
//! strangers holding sockets open, TLS with a CA made at test time, cleartext refused.
//! Every test is named `security_…` (`cargo test --workspace security_`).

mod common;
#[path = "../server/tests/common/sockets.rs"]
mod sockets;

use common::*;
use driftsync::protocol::{self, Bind, ClientMessage, ErrorAction, ServerErrorCode, ServerMessage, UploadChangeset};
use driftsync::sync::{SyncError, TlsOptions, WsConn};
use driftsync::*;
use driftsync_server::Limits;
use sockets::closed_within;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The client file ident of `user`'s connected client, from the server's status.
fn connected_ident(s: &TestServer, user: &str) -> u64 {
    let mut ident = None;
    eventually("the client is connected", || {
        let status: serde_json::Value = serde_json::from_str(&s.server.status().unwrap()).unwrap();
        ident = status["connected"].as_array().unwrap().iter().find(|c| c["user"] == user).and_then(|c| c["client_file_ident"].as_u64());
        ident.is_some()
    });
    ident.unwrap()
}

#[test]
fn security_hijacked_client_file_is_refused_and_the_victims_writes_reach_the_server() {
    let s = TestServer::start();
    let alice = open_client(&s.path("alice.realm"), &s.url(), "alice", ClientResetConfig::default());
    item(&alice, 1, "before");
    sync_all(&alice);
    let victim_ident = connected_ident(&s, "alice");
    // Bob binds with Alice's client file ident and would upload a changeset far ahead of hers.
    let mut thief = WsConn::open(&s.url(), T, &TlsOptions::default()).unwrap();
    thief
        .send(&ClientMessage::Bind(Bind {
            protocol_version: protocol::PROTOCOL_VERSION,
            token: "bob-token".into(),
            realm: "main".into(),
            client_file_ident: Some(victim_ident),
            server_version: 0,
            salt: 0,
            schema_json: schema().to_json(),
            completing_reset: false,
        }))
        .unwrap();
    match thief.recv_required(T).unwrap() {
        ServerMessage::Error(e) => assert_eq!((e.code, e.action), (ServerErrorCode::PermissionDenied, ErrorAction::Fatal), "{e:?}"),
        ServerMessage::BindOk { .. } => {
            let cs = driftsync::changeset::Changeset::new(1_000_000, 7, vec![]);
            thief.send(&ClientMessage::Upload { changesets: vec![UploadChangeset { base_server_version: 0, changeset: cs }] }).unwrap();
            let _ = thief.recv_required(T);
        }
        other => panic!("{other:?}"),
    }
    // The victim's later writes are acknowledged and really applied.
    item(&alice, 2, "after");
    sync_all(&alice);
    let bob = open_client(&s.path("bob.realm"), &s.url(), "bob", ClientResetConfig::default());
    sync_all(&bob);
    assert_eq!(name_of(&bob, 1).as_deref(), Some("before"));
    assert_eq!(name_of(&bob, 2).as_deref(), Some("after"), "an acknowledged write of the victim was lost");
}

#[test]
fn security_500_idle_sockets_are_closed_after_the_bind_deadline_while_a_client_keeps_syncing() {
    let s = TestServer::start_with(|c| c.with_limits(Limits { bind_deadline_ms: 1_500, ..Limits::default() }));
    let alice = open_client(&s.path("alice.realm"), &s.url(), "alice", ClientResetConfig::default());
    let bob = open_client(&s.path("bob.realm"), &s.url(), "bob", ClientResetConfig::default());
    sync_all(&alice);
    sync_all(&bob);
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..500).map(|_| TcpStream::connect(s.server.addr()).expect("connect")).collect();
    // The real clients sync through the whole bind deadline and after it.
    let mut n = 0;
    while started.elapsed() < Duration::from_millis(2_500) {
        n += 1;
        item(&alice, n, "during");
        sync_all(&alice);
        sync_all(&bob);
        assert_eq!(name_of(&bob, n).as_deref(), Some("during"));
    }
    for (i, sock) in idle.iter_mut().enumerate() {
        assert!(closed_within(sock, Duration::from_secs(5)), "idle socket {i} is still open");
    }
    eventually("only the two clients' connections are left", || s.server.open_connections() == 2);
    item(&alice, 1_000, "after");
    sync_all(&alice);
    sync_all(&bob);
    assert_eq!(name_of(&bob, 1_000).as_deref(), Some("after"));
}

// ---- TLS ---------------------------------------------------------------------------------------

fn tls_server(pki: &TestPki) -> TestServer {
    TestServer::start_with(|c| c.with_tls(&pki.cert_pem, &pki.key_pem))
}

fn open_tls_client(path: &std::path::Path, url: &str, user: &str, ca_pem: &str) -> Realm {
    let sync = sync_config(url, user, ClientResetConfig::default()).with_trusted_ca_pem(ca_pem);
    Realm::open(RealmConfig::new(path, schema()).with_sync(sync)).expect("open")
}

#[test]
fn security_wss_sync_with_a_ca_made_at_test_time() {
    let pki = test_pki(&["localhost", "127.0.0.1"]);
    let s = tls_server(&pki);
    assert!(s.url().starts_with("wss://127.0.0.1:"), "{}", s.url());
    let port = s.server.port();
    let alice = open_tls_client(&s.path("a.realm"), &format!("wss://localhost:{port}"), "alice", &pki.ca_pem);
    let bob = open_tls_client(&s.path("b.realm"), &s.url(), "bob", &pki.ca_pem);
    item(&alice, 1, "over tls");
    sync_all(&alice);
    sync_all(&bob);
    assert_eq!(name_of(&bob, 1).as_deref(), Some("over tls"));
    // The admin listener speaks TLS too.
    let out = driftsync_server::admin::admin_request_tls(
        &s.server.admin_url(),
        ADMIN,
        protocol::AdminCommand::Status,
        &TlsOptions { trusted_ca_pem: vec![pki.ca_pem.clone()], allow_cleartext: false },
    )
    .expect("admin over TLS");
    assert!(out.contains("\"epoch\""), "{out}");
}

/// Opens a TLS client that cannot trust the server and returns the error it reports.
fn tls_failure(url: &str, ca_pem: &str, dir: &std::path::Path) -> SyncError {
    let errors = Arc::new(Mutex::new(Vec::<SyncError>::new()));
    let mut sync = sync_config(url, "alice", ClientResetConfig::default()).with_trusted_ca_pem(ca_pem);
    sync.start_paused = true;
    let r = Realm::open(RealmConfig::new(dir.join("x.realm"), schema()).with_sync(sync)).expect("open");
    let s = session(&r);
    let e2 = errors.clone();
    s.on_error(move |e| e2.lock().unwrap().push(e.clone()));
    s.resume();
    eventually("the TLS failure is reported", || !errors.lock().unwrap().is_empty());
    // Not retried: the session pauses after the first attempt.
    std::thread::sleep(Duration::from_millis(500));
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(s.is_paused());
    errors[0].clone()
}

#[test]
fn security_wss_with_an_untrusted_ca_fails_without_retrying() {
    let pki = test_pki(&["localhost", "127.0.0.1"]);
    let other = test_pki(&["localhost", "127.0.0.1"]);
    let s = tls_server(&pki);
    let e = tls_failure(&s.url(), &other.ca_pem, s.dir.path());
    assert_eq!((e.action, e.retryable), (ErrorAction::Fatal, false), "{e:?}");
    assert!(e.message.contains("certificate") && e.message.contains("UnknownIssuer"), "{e:?}");
}

#[test]
fn security_wss_with_a_wrong_host_name_fails_without_retrying() {
    let pki = test_pki(&["sync.example.org"]);
    let s = tls_server(&pki);
    let e = tls_failure(&s.url(), &pki.ca_pem, s.dir.path());
    assert_eq!((e.action, e.retryable), (ErrorAction::Fatal, false), "{e:?}");
    assert!(e.message.contains("certificate") && e.message.contains("NotValidForName"), "{e:?}");
}

#[test]
fn security_cleartext_to_a_host_that_is_not_loopback_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut sync = SyncConfig::new("ws://203.0.113.7:9000", "alice-token", "main");
    sync.start_paused = true;
    let Err(e) = Realm::open(RealmConfig::new(dir.path().join("a.realm"), schema()).with_sync(sync.clone())) else {
        panic!("cleartext to 203.0.113.7 was accepted")
    };
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("cleartext")), "{e:?}");
    sync.allow_cleartext = true;
    Realm::open(RealmConfig::new(dir.path().join("a.realm"), schema()).with_sync(sync)).expect("allowed explicitly");
    // A CA that is not PEM is refused at open too.
    let bad = SyncConfig::new("wss://localhost:1", "t", "main").with_trusted_ca_pem("not a certificate");
    assert!(Realm::open(RealmConfig::new(dir.path().join("b.realm"), schema()).with_sync(bad)).is_err());
}
