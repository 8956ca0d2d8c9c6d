//! A raw-protocol client and a test server setup, shared by the server's tests.
#![allow(dead_code)]

pub mod sockets;

use driftsync::changeset::Changeset;
use driftsync::protocol::{self, Bind, ClientMessage, ErrorAction, ProtocolError, ResetCause, ServerMessage, UploadChangeset};
use driftsync::{ClassSchema, Instruction, PrimaryKey, Property, ScalarType, Schema, Value};
use driftsync_server::{AppConfig, RoleDef, Server, ServerOptions};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub const ADMIN: &str = "admin-secret";
pub const ALICE: &str = "alice-token";
pub const BOB: &str = "bob-token";
/// Reads everything, writes nothing.
pub const CAROL: &str = "carol-token";
/// Writes only Task, reads everything.
pub const DAVE: &str = "dave-token";
/// May open only the realm "team".
pub const ERIN: &str = "erin-token";

pub fn task_class() -> ClassSchema {
    ClassSchema::new(
        "Task",
        "id",
        vec![
            Property::new("id", ScalarType::Int),
            Property::new("title", ScalarType::String),
            Property::new("done", ScalarType::Bool).optional(),
            Property::new("tags", ScalarType::String).list(),
        ],
    )
}

pub fn note_class() -> ClassSchema {
    ClassSchema::new("Note", "id", vec![Property::new("id", ScalarType::String), Property::new("text", ScalarType::String).optional()])
}

pub fn schema() -> Schema {
    Schema::new(vec![task_class(), note_class()]).unwrap()
}

pub fn config() -> AppConfig {
    AppConfig::new(schema(), ADMIN)
        .with_role("all", RoleDef::full_access())
        .with_role("reader", RoleDef { realms: vec!["*".into()], read: vec!["*".into()], write: vec![] })
        .with_role("tasks", RoleDef { realms: vec!["*".into()], read: vec!["*".into()], write: vec!["Task".into()] })
        .with_role("team", RoleDef { realms: vec!["team".into()], read: vec!["*".into()], write: vec!["*".into()] })
        .with_user("alice", ALICE, "all")
        .with_user("bob", BOB, "all")
        .with_user("carol", CAROL, "reader")
        .with_user("dave", DAVE, "tasks")
        .with_user("erin", ERIN, "team")
}

pub const APP_TOML: &str = r#"
admin_token = "admin-secret"
client_max_offline_days = 30
schema_file = "schema.json"

[users.alice]
token = "alice-token"
role = "all"

[users.bob]
token = "bob-token"
role = "all"

[users.carol]
token = "carol-token"
role = "reader"

[roles.all]
realms = ["*"]
read = ["*"]
write = ["*"]

[roles.reader]
realms = ["*"]
read = ["*"]
write = []
"#;

/// Writes app.toml and schema.json into `dir`; returns the app.toml path.
pub fn write_config_files(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::write(dir.join("schema.json"), schema().to_json()).unwrap();
    let p = dir.join("app.toml");
    std::fs::write(&p, APP_TOML).unwrap();
    p
}

pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn url(&self) -> String {
        self.server.url()
    }
}

pub fn start_with(config: AppConfig) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerOptions::new(config, dir.path().join("data"))).unwrap();
    TestServer { server, dir }
}

pub fn start() -> TestServer {
    start_with(config())
}

/// A client speaking the raw protocol over a real WebSocket.
pub struct Raw {
    pub ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

pub const TIMEOUT: Duration = Duration::from_secs(20);

impl Raw {
    pub fn connect(url: &str) -> Raw {
        let (ws, _) = tungstenite::connect(url).unwrap();
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        Raw { ws }
    }

    pub fn send(&mut self, msg: &ClientMessage) {
        self.ws.send(Message::binary(protocol::encode(msg))).unwrap();
    }

    pub fn send_frame(&mut self, msg: Message) {
        self.ws.send(msg).unwrap();
    }

    /// The next protocol message within `timeout`; None on timeout or when the connection ends.
    pub fn recv_within(&mut self, timeout: Duration) -> Option<ServerMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ws.read() {
                Ok(Message::Binary(b)) => return Some(protocol::decode(&b).expect("the server sent an undecodable message")),
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if Instant::now() > deadline {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    pub fn recv(&mut self) -> ServerMessage {
        self.recv_within(TIMEOUT).expect("no message from the server")
    }

    /// Skips messages until `f` picks one.
    pub fn recv_until<T>(&mut self, mut f: impl FnMut(ServerMessage) -> Option<T>) -> T {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(m) = self.recv_within(deadline - Instant::now()) {
                if let Some(t) = f(m) {
                    return t;
                }
            } else {
                break;
            }
        }
        panic!("the expected message did not arrive");
    }

    /// Asserts that the server closes this connection (after any messages still in flight).
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "the server did not close the connection");
            match self.ws.read() {
                Ok(Message::Close(_)) => {}
                Ok(Message::Binary(b)) => {
                    let m: ServerMessage = protocol::decode(&b).unwrap();
                    panic!("expected the connection to close, got {m:?}");
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }

    pub fn bind(&mut self, b: Bind) -> ServerMessage {
        self.send(&ClientMessage::Bind(b));
        self.recv()
    }
}

pub fn bind_msg(token: &str, realm: &str, ident: Option<u64>, server_version: u64, salt: u64) -> Bind {
    Bind {
        protocol_version: protocol::PROTOCOL_VERSION,
        token: token.into(),
        realm: realm.into(),
        client_file_ident: ident,
        server_version,
        salt,
        schema_json: schema().to_json(),
        completing_reset: false,
    }
}

pub struct BoundClient {
    pub raw: Raw,
    pub ident: u64,
    pub server_version: u64,
    pub salt: u64,
    pub epoch: u64,
}

/// Connects and binds; panics unless the server answers BindOk.
pub fn bind_ok(url: &str, b: Bind) -> BoundClient {
    let mut raw = Raw::connect(url);
    match raw.bind(b) {
        ServerMessage::BindOk { client_file_ident, server_version, salt, epoch, .. } => {
            BoundClient { raw, ident: client_file_ident, server_version, salt, epoch }
        }
        other => panic!("expected BindOk, got {other:?}"),
    }
}

/// A new client file of `token` on `realm`.
pub fn new_client(url: &str, token: &str, realm: &str) -> BoundClient {
    bind_ok(url, bind_msg(token, realm, None, 0, 0))
}

/// Binds and returns the error the server answered with (the connection must then close).
pub fn bind_err(url: &str, b: Bind) -> ProtocolError {
    let mut raw = Raw::connect(url);
    match raw.bind(b) {
        ServerMessage::Error(e) => {
            raw.expect_closed();
            e
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn assert_reset(e: &ProtocolError, cause: ResetCause, action: ErrorAction) {
    assert_eq!(e.code, protocol::ServerErrorCode::ClientResetRequired, "{e:?}");
    assert_eq!(e.cause, Some(cause), "{e:?}");
    assert_eq!(e.action, action, "{e:?}");
    assert!(!e.retryable, "{e:?}");
    assert!(!e.message.is_empty());
}

pub fn changeset(local_version: u64, instructions: Vec<Instruction>) -> UploadChangeset {
    UploadChangeset { base_server_version: 0, changeset: Changeset::new(local_version, 42, instructions) }
}

pub fn create_task(id: i64, title: &str) -> Instruction {
    Instruction::CreateObject { class: "Task".into(), pk: PrimaryKey::Int(id), fields: vec![("title".into(), Value::String(title.into()))] }
}

pub fn create_note(id: &str, text: &str) -> Instruction {
    Instruction::CreateObject {
        class: "Note".into(),
        pk: PrimaryKey::String(id.into()),
        fields: vec![("text".into(), Value::String(text.into()))],
    }
}

/// Uploads and waits for the acks; returns (local_version, server_version) pairs.
pub fn upload(c: &mut BoundClient, changesets: Vec<UploadChangeset>) -> Vec<(u64, u64)> {
    let n = changesets.len();
    c.raw.send(&ClientMessage::Upload { changesets });
    let mut acks = Vec::new();
    while acks.len() < n {
        match c.raw.recv() {
            ServerMessage::UploadAck { local_version, server_version } => acks.push((local_version, server_version)),
            ServerMessage::Download { .. } => {}
            other => panic!("expected an UploadAck, got {other:?}"),
        }
    }
    acks
}

/// Every object of the realm's state, via StateRequest (chunks of `per_chunk`).
pub fn pull_state(c: &mut BoundClient, per_chunk: u32) -> Vec<(String, driftsync::protocol::ObjectState)> {
    let mut after = None;
    let mut out = Vec::new();
    loop {
        c.raw.send(&ClientMessage::StateRequest { after: after.clone(), max_objects: per_chunk });
        match c.raw.recv() {
            ServerMessage::StateChunk { class, objects, last, done, .. } => {
                out.extend(objects.into_iter().map(|o| (class.clone(), o)));
                if done {
                    return out;
                }
                after = Some(last.expect("a chunk that is not the last has a resume key"));
            }
            other => panic!("expected a StateChunk, got {other:?}"),
        }
    }
}

/// Waits until the server has no bound connection left (a dropped client is noticed a moment
/// after it goes away).
pub fn wait_no_connections(s: &TestServer) {
    let deadline = Instant::now() + TIMEOUT;
    while s.server.connected_clients() > 0 {
        assert!(Instant::now() < deadline, "connections did not go away");
        std::thread::sleep(Duration::from_millis(5));
    }
}
