//! What a stranger or another user can do to the reference server, tried over real sockets:
//! client files that belong to someone else, schema changes without the role, admin commands on
//! the wrong port or with a wrong token, idle, slow and oversized connections, revoked users.
//! Every test is named `security_…` (`cargo test --workspace security_`).

mod common;

use common::sockets::closed_within;
use common::*;
use driftsync::protocol::{self, AdminCommand, ClientMessage, ErrorAction, ServerErrorCode, ServerMessage};
use driftsync::{ClassSchema, Property, ScalarType, Schema};
use driftsync_server::{AppConfig, Limits, Server, ServerOptions};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// Captures what the server logs, so that tests can check a refusal was logged.
struct Capture(Mutex<Vec<String>>);

static LOG: Capture = Capture(Mutex::new(Vec::new()));

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0.lock().unwrap().push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Info);
}

/// Whether a warning containing every one of `words` was logged.
fn logged(words: &[&str]) -> bool {
    LOG.0.lock().unwrap().iter().any(|l| l.starts_with("WARN") && words.iter().all(|w| l.contains(w)))
}

fn expect_error(raw: &mut Raw) -> protocol::ProtocolError {
    match raw.recv() {
        ServerMessage::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn start_with_limits(limits: Limits) -> TestServer {
    start_with(config().with_limits(limits))
}

// ---- a client file belongs to its user and realm ---------------------------------------------

#[test]
fn security_hijack_of_another_users_client_file_is_refused_and_the_victims_writes_reach_the_server() {
    capture_logs();
    let s = start();
    let mut victim = new_client(&s.url(), ALICE, "main");
    upload(&mut victim, vec![changeset(1, vec![create_task(1, "first")])]);
    // Bob has the same role and binds with Alice's client file ident.
    let mut thief = Raw::connect(&s.url());
    match thief.bind(bind_msg(BOB, "main", Some(victim.ident), 0, 0)) {
        ServerMessage::Error(e) => {
            assert_eq!((e.code, e.action), (ServerErrorCode::PermissionDenied, ErrorAction::Fatal), "{e:?}");
            thief.expect_closed();
        }
        ServerMessage::BindOk { .. } => {
            // Today's behaviour: the thief moves the victim's cursor far ahead.
            thief.send(&ClientMessage::Upload { changesets: vec![changeset(1_000_000, vec![create_task(99, "theft")])] });
            let _ = thief.recv();
        }
        other => panic!("{other:?}"),
    }
    assert!(logged(&["bob", &victim.ident.to_string()]), "the refusal is logged");
    // The victim's next write is acknowledged and applied.
    let acks = upload(&mut victim, vec![changeset(2, vec![create_task(2, "second")])]);
    assert_eq!(acks[0].0, 2);
    let mut reader = new_client(&s.url(), BOB, "main");
    let titles: Vec<_> = pull_state(&mut reader, 100).into_iter().map(|(_, o)| o.pk).collect();
    assert_eq!(titles, vec![driftsync::PrimaryKey::Int(1), driftsync::PrimaryKey::Int(2)]);
}

#[test]
fn security_client_file_of_another_realm_is_refused() {
    let s = start();
    let c = new_client(&s.url(), ALICE, "main");
    let e = bind_err(&s.url(), bind_msg(ALICE, "other", Some(c.ident), 0, 0));
    assert_eq!((e.code, e.action), (ServerErrorCode::PermissionDenied, ErrorAction::Fatal), "{e:?}");
}

/// Every integer anywhere in a MessagePack document.
fn integers(v: &serde_json::Value, out: &mut Vec<u64>) {
    match v {
        serde_json::Value::Number(n) => out.extend(n.as_u64()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| integers(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| integers(x, out)),
        _ => {}
    }
}

#[test]
fn security_downloads_do_not_reveal_other_clients_file_idents() {
    let s = start();
    let mut alice = new_client(&s.url(), ALICE, "main");
    upload(&mut alice, vec![changeset(1, vec![create_task(1, "a")])]);
    let mut bob = new_client(&s.url(), BOB, "main");
    bob.raw.send(&ClientMessage::StartDownload { after: 0 });
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no download arrived");
        let bytes = match bob.raw.ws.read() {
            Ok(Message::Binary(b)) => b,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) => panic!("{e}"),
        };
        let msg: ServerMessage = protocol::decode(&bytes).unwrap();
        let ServerMessage::Download { changesets, .. } = msg else { continue };
        assert_eq!(changesets.len(), 1);
        assert!(!changesets[0].own);
        let doc: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        let mut ints = Vec::new();
        integers(&doc, &mut ints);
        assert!(!ints.contains(&alice.ident), "Alice's ident {} is in Bob's download: {doc}", alice.ident);
        break;
    }
}

// ---- schema changes need the role ------------------------------------------------------------

#[test]
fn security_reset_completion_bind_cannot_change_the_schema_without_the_role() {
    capture_logs();
    let s = start();
    let mut classes = schema().classes.clone();
    classes.push(ClassSchema::new("Secret", "id", vec![Property::new("id", ScalarType::Int)]));
    let extended = Schema::new(classes).unwrap();
    let mut b = bind_msg(CAROL, "main", None, 0, 0);
    b.schema_json = extended.to_json();
    b.completing_reset = true;
    let e = bind_err(&s.url(), b);
    assert_eq!((e.code, e.action), (ServerErrorCode::PermissionDenied, ErrorAction::Fatal), "{e:?}");
    assert!(logged(&["carol", "schema"]));
    // The server schema is unchanged: a new client gets it without the class.
    match Raw::connect(&s.url()).bind(bind_msg(ALICE, "main", None, 0, 0)) {
        ServerMessage::BindOk { schema_json, .. } => assert_eq!(Schema::from_json(&schema_json).unwrap(), schema()),
        other => panic!("{other:?}"),
    }
    // A role that may change the schema still completes its reset with the extra class.
    let mut b = bind_msg(ALICE, "main", None, 0, 0);
    b.schema_json = extended.to_json();
    b.completing_reset = true;
    bind_ok(&s.url(), b);
}

// ---- admin -----------------------------------------------------------------------------------

#[test]
fn security_admin_commands_on_the_sync_port_are_refused() {
    capture_logs();
    let s = start();
    for bound in [false, true] {
        let mut raw = if bound { new_client(&s.url(), ALICE, "main").raw } else { Raw::connect(&s.url()) };
        raw.send(&ClientMessage::Admin { admin_token: ADMIN.into(), command: AdminCommand::Terminate });
        let e = expect_error(&mut raw);
        assert_eq!((e.code, e.action), (ServerErrorCode::PermissionDenied, ErrorAction::Fatal), "{e:?}");
        raw.expect_closed();
    }
    assert!(logged(&["admin command on the sync port"]));
    // Nothing was terminated.
    new_client(&s.url(), ALICE, "main");
    assert_ne!(s.server.admin_url(), s.url());
    assert!(driftsync_server::admin_request(&s.server.admin_url(), ADMIN, AdminCommand::Status).is_ok());
}

#[test]
fn security_wrong_admin_token_closes_the_connection_and_is_logged() {
    capture_logs();
    let s = start();
    let mut raw = Raw::connect(&s.server.admin_url());
    raw.send(&ClientMessage::Admin { admin_token: "guess".into(), command: AdminCommand::Terminate });
    assert!(matches!(raw.recv(), ServerMessage::AdminResult { ok: false, .. }));
    raw.expect_closed();
    assert!(logged(&["wrong admin token"]));
    // Nothing was terminated, and the right token still works.
    new_client(&s.url(), ALICE, "main");
    assert!(driftsync_server::admin_request(&s.server.admin_url(), "guess", AdminCommand::Status).is_err());
    assert!(driftsync_server::admin_request(&s.server.admin_url(), ADMIN, AdminCommand::Status).is_ok());
}

#[test]
fn security_admin_listener_is_loopback_only_unless_allowed_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.admin.listen = "0.0.0.0:0".into();
    let Err(e) = Server::start(ServerOptions::new(cfg.clone(), dir.path().join("a"))) else {
        panic!("a public admin listener was accepted")
    };
    assert!(e.0.contains("allow_remote"), "{e}");
    cfg.admin.allow_remote = true;
    let Err(e) = Server::start(ServerOptions::new(cfg.clone(), dir.path().join("b"))) else {
        panic!("a public admin listener without TLS was accepted")
    };
    assert!(e.0.contains("tls"), "{e}");
    let (cert, key) = self_signed("localhost");
    let s = Server::start(ServerOptions::new(cfg.with_tls(&cert, &key), dir.path().join("c"))).expect("allowed with TLS");
    assert!(s.admin_url().starts_with("wss://0.0.0.0:"), "{}", s.admin_url());
    // The default is loopback.
    let s = start();
    assert!(s.server.admin_url().starts_with("ws://127.0.0.1:"), "{}", s.server.admin_url());
}

fn self_signed(host: &str) -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec![host.to_string()]).unwrap();
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

#[test]
fn security_server_files_are_private() {
    let s = start();
    let mut c = new_client(&s.url(), ALICE, "main");
    upload(&mut c, vec![changeset(1, vec![create_task(1, "a")])]);
    s.server.backup("b1").unwrap();
    let data = s.server.data_dir().to_path_buf();
    assert_eq!(mode(&data), 0o700);
    let mut files = vec![data.join("server.sqlite"), data.join("realms/main.realm")];
    for e in std::fs::read_dir(data.join("backups/b1")).unwrap().chain(std::fs::read_dir(data.join("backups/b1/realms")).unwrap()) {
        let p = e.unwrap().path();
        if p.is_file() {
            files.push(p);
        }
    }
    for side in ["server.sqlite-wal", "realms/main.realm-wal"] {
        if data.join(side).exists() {
            files.push(data.join(side));
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

// ---- limits ----------------------------------------------------------------------------------

fn short_limits() -> Limits {
    Limits { bind_deadline_ms: 800, idle_timeout_ms: 1_500, frame_timeout_ms: 800, ..Limits::default() }
}

#[test]
fn security_slow_drip_handshake_and_bind_are_cut_at_the_bind_deadline() {
    let s = start_with_limits(short_limits());
    // A handshake sent one byte at a time, slower than the deadline allows.
    let addr = s.server.addr();
    let mut drip = TcpStream::connect(addr).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let started = Instant::now();
    for b in request.bytes() {
        if drip.write_all(&[b]).is_err() || started.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the dripping handshake was never cut");
    // A completed handshake whose Bind frame drips.
    let mut raw = Raw::connect(&s.url());
    let frame = protocol::encode(&ClientMessage::Bind(bind_msg(ALICE, "main", None, 0, 0)));
    let mut header = vec![0x82u8, 0xFE];
    header.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]); // mask key 0: payload as is
    let tcp = match raw.ws.get_mut() {
        tungstenite::stream::MaybeTlsStream::Plain(t) => t,
        _ => unreachable!(),
    };
    tcp.write_all(&header).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for b in frame {
        if tcp.write_all(&[b]).is_err() {
            cut = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cut || closed_within(tcp, Duration::from_secs(3)), "the dripping Bind was never cut");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn security_idle_bound_connection_is_closed_after_the_idle_timeout() {
    let s = start_with_limits(short_limits());
    let mut c = new_client(&s.url(), ALICE, "main");
    // Never reads, so it never answers the server's ping.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(s.server.connected_clients(), 0, "the idle connection is still open");
    c.raw.recv_until(|m| match m {
        ServerMessage::Error(e) if e.message.contains("idle") => Some(()),
        _ => None,
    });
    // A connection that answers pings (any client that reads) stays.
    let mut live = new_client(&s.url(), ALICE, "main");
    let until = Instant::now() + Duration::from_millis(2_500);
    while Instant::now() < until {
        assert!(live.raw.recv_within(Duration::from_millis(100)).is_none());
    }
    assert_eq!(s.server.connected_clients(), 1);
}

#[test]
fn security_slow_frame_after_bind_is_cut() {
    let s = start_with_limits(Limits { idle_timeout_ms: 60_000, ..short_limits() });
    let mut c = new_client(&s.url(), ALICE, "main");
    let tcp = match c.raw.ws.get_mut() {
        tungstenite::stream::MaybeTlsStream::Plain(t) => t,
        _ => unreachable!(),
    };
    // Header of a 100-byte binary frame, then nothing more.
    tcp.write_all(&[0x82, 0x80 | 100, 0, 0, 0, 0, 1, 2, 3]).unwrap();
    assert!(closed_within(tcp, Duration::from_secs(4)), "a frame that never completes keeps the connection");
}

#[test]
fn security_oversized_frame_before_bind_is_refused() {
    let s = start();
    let mut raw = Raw::connect(&s.url());
    let _ = raw.ws.send(Message::binary(vec![0u8; 2 << 20]));
    let e = expect_error(&mut raw);
    assert_eq!(e.code, ServerErrorCode::BadMessage, "{e:?}");
    assert!(e.message.contains("frame refused"), "{e:?}");
}

#[test]
fn security_connection_cap_refuses_connections_beyond_it() {
    let s = start_with_limits(Limits { max_connections: 5, ..Limits::default() });
    let mut held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(s.server.addr()).unwrap()).collect();
    let deadline = Instant::now() + TIMEOUT;
    while s.server.open_connections() < 5 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut extra = TcpStream::connect(s.server.addr()).unwrap();
    assert!(closed_within(&mut extra, Duration::from_secs(3)), "the sixth connection was accepted");
    assert_eq!(s.server.open_connections(), 5);
    held.clear();
    let deadline = Instant::now() + TIMEOUT;
    while s.server.open_connections() > 0 {
        assert!(Instant::now() < deadline, "closed sockets still count");
        std::thread::sleep(Duration::from_millis(10));
    }
    new_client(&s.url(), ALICE, "main");
}

/// CPU time (user + system) a process has used so far.
fn cpu_time_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // utime and stime are the 12th and 13th fields after the ")" that ends the command name.
    let fields: Vec<u64> = stat.rsplit_once(')').unwrap().1.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((fields[11] + fields[12]) * 1000 / hz)
}

#[test]
fn security_idle_connections_do_not_poll() {
    // The server runs as a child process, so that only its own CPU time is counted.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_files(dir.path());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_driftsync-server"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap().to_string();
    let mut clients: Vec<BoundClient> = (0..100).map(|_| new_client(&url, ALICE, "main")).collect();
    for c in &mut clients {
        c.raw.send(&ClientMessage::StartDownload { after: 0 });
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_time_of(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_time_of(child.id()) - before;
    let _ = child.kill();
    let _ = child.wait();
    // A 5 ms poll loop per connection costs about a tenth of a core here; waiting costs nothing.
    assert!(used < Duration::from_millis(60), "100 idle connections used {used:?} of CPU in 2 s");
    drop(clients);
}

// ---- users and tokens ------------------------------------------------------------------------

#[test]
fn security_removed_user_is_closed_on_a_live_connection_and_refused_after() {
    capture_logs();
    let s = start();
    let mut c = new_client(&s.url(), BOB, "main");
    s.server.admin(AdminCommand::RemoveUser { user: "bob".into() }).unwrap();
    let e = expect_error(&mut c.raw);
    assert_eq!((e.code, e.action), (ServerErrorCode::BadToken, ErrorAction::Fatal), "{e:?}");
    c.raw.expect_closed();
    assert!(logged(&["bob", "removed"]));
    let e = bind_err(&s.url(), bind_msg(BOB, "main", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::BadToken);
}

#[test]
fn security_rotated_token_is_refused_on_a_live_connection_and_the_new_one_works() {
    let s = start();
    let mut c = new_client(&s.url(), BOB, "main");
    s.server.admin(AdminCommand::RotateToken { user: "bob".into(), token: "bob-new".into() }).unwrap();
    let e = expect_error(&mut c.raw);
    assert_eq!(e.code, ServerErrorCode::BadToken, "{e:?}");
    assert_eq!(bind_err(&s.url(), bind_msg(BOB, "main", None, 0, 0)).code, ServerErrorCode::BadToken);
    new_client(&s.url(), "bob-new", "main");
    // Added users bind at once; a token of another user is refused.
    s.server.admin(AdminCommand::AddUser { user: "zoe".into(), token: "zoe-token".into(), role: "reader".into() }).unwrap();
    new_client(&s.url(), "zoe-token", "main");
    assert!(s.server.admin(AdminCommand::AddUser { user: "yan".into(), token: ALICE.into(), role: "reader".into() }).is_err());
}

#[test]
fn security_tokens_are_stored_hashed() {
    let s = start();
    s.server.admin(AdminCommand::AddUser { user: "zoe".into(), token: "zoe-plain-secret".into(), role: "reader".into() }).unwrap();
    let data = s.server.data_dir().to_path_buf();
    s.server.backup("b").unwrap();
    let bytes = std::fs::read(data.join("backups/b/server.sqlite")).unwrap();
    for secret in [ALICE, BOB, "zoe-plain-secret", ADMIN] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "'{secret}' is stored in clear");
    }
    let hash = driftsync_server::auth::hash_token(ALICE);
    assert!(bytes.windows(hash.len()).any(|w| w == hash.as_bytes()), "the hash is what is stored");
}

#[test]
fn security_config_users_are_reconciled_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let s = Server::start(ServerOptions::new(config(), &data)).unwrap();
        s.admin(AdminCommand::AddUser { user: "zoe".into(), token: "zoe-token".into(), role: "reader".into() }).unwrap();
        new_client(&s.url(), BOB, "main");
    }
    // Bob leaves the config, Alice's token changes there.
    let mut cfg = config();
    cfg.users.remove("bob");
    cfg.users.get_mut("alice").unwrap().token = "alice-rotated".into();
    let s = Server::start(ServerOptions::new(cfg, &data)).unwrap();
    assert_eq!(bind_err(&s.url(), bind_msg(BOB, "main", None, 0, 0)).code, ServerErrorCode::BadToken);
    assert_eq!(bind_err(&s.url(), bind_msg(ALICE, "main", None, 0, 0)).code, ServerErrorCode::BadToken);
    new_client(&s.url(), "alice-rotated", "main");
    // A user an admin command added stays.
    new_client(&s.url(), "zoe-token", "main");
}

#[test]
fn security_config_can_hold_token_hashes_only() {
    let mut cfg = config();
    let u = cfg.users.get_mut("alice").unwrap();
    u.token = String::new();
    u.token_sha256 = Some(driftsync_server::auth::hash_token("alice-from-hash"));
    let s = start_with(cfg);
    new_client(&s.url(), "alice-from-hash", "main");
}

// ---- signed tokens (JWT) ---------------------------------------------------------------------

const JWT_SECRET: &str = "a shared secret of at least thirty-two bytes";

fn jwt(sub: &str, exp_from_now: i64, secret: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = serde_json::json!({ "sub": sub, "exp": now + exp_from_now, "aud": "driftsync" });
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[test]
fn security_signed_tokens_name_the_user_and_expire() {
    let cfg: AppConfig = config().with_jwt(driftsync_server::JwtConfig {
        hs256_secret: Some(JWT_SECRET.into()),
        audience: Some("driftsync".into()),
        leeway_secs: Some(0),
        ..Default::default()
    });
    let s = start_with(cfg);
    let c = new_client(&s.url(), &jwt("alice", 600, JWT_SECRET), "main");
    // The file is Alice's: her static token binds it too.
    bind_ok(&s.url(), bind_msg(ALICE, "main", Some(c.ident), 0, 0));
    // A session ends when its token expires (leeway 0 here).
    let mut short = new_client(&s.url(), &jwt("alice", 2, JWT_SECRET), "main");
    let e = match short.raw.recv_within(Duration::from_secs(6)) {
        Some(ServerMessage::Error(e)) => e,
        other => panic!("the session outlived its token: {other:?}"),
    };
    assert_eq!((e.code, e.action), (ServerErrorCode::BadToken, ErrorAction::Fatal), "{e:?}");
    for (what, token) in [
        ("expired", jwt("alice", -600, JWT_SECRET)),
        ("wrong key", jwt("alice", 600, "another secret of at least thirty-two bytes")),
        ("unknown user", jwt("mallory", 600, JWT_SECRET)),
    ] {
        let e = bind_err(&s.url(), bind_msg(&token, "main", None, 0, 0));
        assert_eq!((e.code, e.action), (ServerErrorCode::BadToken, ErrorAction::Fatal), "{what}: {e:?}");
    }
}

#[test]
fn security_rs256_signed_tokens_are_checked_with_the_public_key() {
    // A test-only key pair (server/tests/data): the app backend signs, the server verifies.
    let private = include_str!("data/jwt-test-rs256.key");
    let public = include_str!("data/jwt-test-rs256.pub");
    let cfg = config().with_jwt(driftsync_server::JwtConfig {
        rs256_public_key_pem: Some(public.into()),
        issuer: Some("backend".into()),
        ..Default::default()
    });
    let s = start_with(cfg);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let sign = |claims: serde_json::Value| {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key).unwrap()
    };
    new_client(&s.url(), &sign(serde_json::json!({ "sub": "bob", "exp": now + 600, "iss": "backend" })), "main");
    let wrong_issuer = sign(serde_json::json!({ "sub": "bob", "exp": now + 600, "iss": "elsewhere" }));
    assert_eq!(bind_err(&s.url(), bind_msg(&wrong_issuer, "main", None, 0, 0)).code, ServerErrorCode::BadToken);
    // An HS256 token signed with the public key as secret (algorithm confusion) is refused.
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": "bob", "exp": now + 600, "iss": "backend" }),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(bind_err(&s.url(), bind_msg(&confused, "main", None, 0, 0)).code, ServerErrorCode::BadToken);
}
