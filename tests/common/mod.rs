//! Shared helpers of the end-to-end tests: a reference server on loopback and synced clients.
#![allow(dead_code)]

use driftsync::protocol::AdminCommand;
use driftsync::*;
use driftsync_server::{AppConfig, RoleDef, Server, ServerOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "admin-secret";
pub const T: Duration = Duration::from_secs(20);

pub fn schema() -> Schema {
    Schema::new(vec![
        ClassSchema::new(
            "Item",
            "id",
            vec![
                Property::new("id", ScalarType::Int),
                Property::new("name", ScalarType::String),
                Property::new("count", ScalarType::Int),
                Property::new("tags", ScalarType::String).list(),
                Property::link("next", "Item"),
            ],
        ),
        ClassSchema::new(
            "Person",
            "name",
            vec![
                Property::new("name", ScalarType::String),
                Property::link_list("items", "Item"),
                Property::new("age", ScalarType::Int).optional(),
            ],
        ),
    ])
    .expect("valid schema")
}

/// The schema plus one class the server does not have.
pub fn schema_with_extra_class() -> Schema {
    let mut classes = schema().classes.clone();
    classes.push(ClassSchema::new("Note", "id", vec![Property::new("id", ScalarType::Int), Property::new("text", ScalarType::String)]));
    Schema::new(classes).expect("valid schema")
}

/// The schema plus the data kinds beyond scalars and lists (issue 15), added the way an app's
/// update adds them: `Item.hits`, an optional counter (null counts as 0); `Item.labels`, a set
/// of strings; `Item.friends`, a set of links to items; `Item.attrs`, a dictionary of strings;
/// `Item.refs`, a dictionary of (optional) links to items; `Item.any`, a mixed; `Item.bag`, a
/// set of mixed; `Item.address` and `Item.parts`, embedded objects (see `embedded_classes`).
pub fn kinds_schema() -> Schema {
    let mut classes = schema().classes.clone();
    classes[0].properties.push(Property::counter("hits").optional());
    classes[0].properties.push(Property::new("labels", ScalarType::String).set());
    classes[0].properties.push(Property::link_set("friends", "Item"));
    classes[0].properties.push(Property::new("attrs", ScalarType::String).dictionary());
    classes[0].properties.push(Property::link("refs", "Item").dictionary());
    classes[0].properties.push(Property::mixed("any"));
    classes[0].properties.push(Property::new("bag", ScalarType::Mixed).set());
    classes[0].properties.push(Property::link("address", "Address"));
    classes[0].properties.push(Property::link_list("parts", "Part"));
    classes.extend(embedded_classes());
    Schema::new(classes).expect("valid schema")
}

/// The embedded classes of `kinds_schema`: `Item.address` holds one `Address` (which holds one
/// `Geo`), `Item.parts` a list of `Part`s (each with a list of `subparts`).
pub fn embedded_classes() -> Vec<ClassSchema> {
    vec![
        ClassSchema::embedded(
            "Address",
            vec![
                Property::new("street", ScalarType::String),
                Property::new("city", ScalarType::String).optional(),
                Property::link("geo", "Geo"),
            ],
        ),
        ClassSchema::embedded("Geo", vec![Property::new("lat", ScalarType::Double), Property::new("lon", ScalarType::Double)]),
        ClassSchema::embedded(
            "Part",
            vec![Property::new("name", ScalarType::String), Property::new("qty", ScalarType::Int), Property::link_list("subparts", "Part")],
        ),
    ]
}

/// A server that already has `kinds_schema` (else a client bringing it is reset at its first
/// connection, `ClientSchemaAhead`).
pub fn start_kinds_server() -> TestServer {
    let ts = TestServer::start();
    ts.admin(driftsync::protocol::AdminCommand::ApplySchema { schema_json: kinds_schema().to_json() });
    ts
}

pub fn open_kinds_client(ts: &TestServer, file: &str, user: &str, reset: ClientResetConfig) -> Realm {
    open_client_with_schema(&ts.path(file), &ts.url(), user, reset, kinds_schema())
}

/// The schema with `Item.count` turned into a string: a breaking change.
pub fn breaking_schema() -> Schema {
    let mut classes = schema().classes.clone();
    classes[0].properties[2] = Property::new("count", ScalarType::String);
    Schema::new(classes).expect("valid schema")
}

pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(|c| c)
    }

    pub fn start_with(f: impl FnOnce(AppConfig) -> AppConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AppConfig::new(schema(), ADMIN)
            .with_role("editor", RoleDef::full_access())
            .with_role("reader", RoleDef { realms: vec!["*".into()], read: vec!["*".into()], write: vec![] })
            .with_role("editor2", RoleDef::full_access())
            .with_role("items-only", RoleDef { realms: vec!["*".into()], read: vec!["*".into()], write: vec!["Item".into()] })
            .with_user("alice", "alice-token", "editor")
            .with_user("bob", "bob-token", "editor")
            .with_user("carol", "carol-token", "items-only");
        let server = Server::start(ServerOptions::new(f(config), dir.path().join("server"))).expect("server starts");
        TestServer { server, dir }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn admin(&self, cmd: AdminCommand) -> String {
        self.server.admin(cmd).expect("admin command")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn sync_config(url: &str, user: &str, reset: ClientResetConfig) -> SyncConfig {
    let mut s = SyncConfig::new(url, &format!("{user}-token"), "main");
    s.client_reset = reset;
    s
}

pub fn open_client(path: &Path, url: &str, user: &str, reset: ClientResetConfig) -> Realm {
    open_client_with_schema(path, url, user, reset, schema())
}

pub fn open_client_with_schema(path: &Path, url: &str, user: &str, reset: ClientResetConfig, schema: Schema) -> Realm {
    let r = Realm::open(RealmConfig::new(path, schema).with_sync(sync_config(url, user, reset))).expect("open synced realm");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Printed only when a test fails: what the sync session saw.
    session(&r).on_error(move |e| eprintln!("[{name}] sync error: {e:?}"));
    r
}

pub fn session(r: &Realm) -> Arc<driftsync::sync::SyncSession> {
    r.sync_session().expect("a synced realm has a session")
}

/// Uploads everything and downloads everything the server has.
pub fn sync_all(r: &Realm) {
    let s = session(r);
    s.wait_for_upload(T).expect("upload completes");
    s.wait_for_download(T).expect("download completes");
}

/// Waits until `f` holds (polling), or panics with `what`.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for: {what}");
}

pub fn item(r: &Realm, id: i64, name: &str) {
    r.write(|r| r.create("Item", id, &[("name", name.into())])).expect("create item");
}

pub fn name_of(r: &Realm, id: i64) -> Option<String> {
    r.get("Item", &id.into()).expect("get").map(|o| o.value("name").and_then(|v| v.as_str()).unwrap_or_default().to_string())
}

/// String values.
pub fn strings(v: &[&str]) -> Vec<Value> {
    v.iter().map(|s| Value::from(*s)).collect()
}

/// Every object of every class, as a comparable dump.
pub fn dump(r: &Realm) -> Vec<Object> {
    let mut out = Vec::new();
    for c in &r.schema().classes {
        r.for_each(&c.name, |o| {
            out.push(o);
            true
        })
        .expect("scan");
    }
    out
}

/// A test certificate authority and a server certificate it signed, made with rcgen at test
/// time: (CA PEM, server chain PEM, server key PEM).
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

#[path = "../../examples/test_pki.rs"]
mod pki;

pub fn test_pki(server_names: &[&str]) -> TestPki {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // Each CA its own name: a client must not find another test CA as the issuer.
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (ca_pem, cert_pem, key_pem) =
        pki::make_pki(&format!("driftsync test CA {n}"), server_names.iter().map(|s| s.to_string()).collect()).expect("test PKI");
    TestPki { ca_pem, cert_pem, key_pem }
}

// ---- two clients of the kinds schema (tests/kinds.rs, tests/mixed.rs) ------------------------

pub fn offline(r: &Realm) {
    let s = session(r);
    s.pause();
    eventually("disconnected", || s.state() == sync::ConnectionState::Disconnected);
}

pub fn online(r: &Realm) {
    session(r).resume();
    sync_all(r);
}

/// Two synced clients of the kinds schema that both have `Item[1]`.
pub fn two_clients(ts: &TestServer, reset: ClientResetConfig) -> (Realm, Realm) {
    let a = open_kinds_client(ts, "a.realm", "alice", reset);
    let b = open_kinds_client(ts, "b.realm", "bob", ClientResetConfig::default());
    item(&a, 1, "one");
    sync_all(&a);
    sync_all(&b);
    (a, b)
}

/// Every change summary `r`'s observers get from now on, as text.
pub fn record_changes(r: &Realm) -> (Arc<Mutex<Vec<String>>>, NotificationToken) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let token = r.observe(ObserverScope::Realm, move |c: &ChangeSummary| s2.lock().unwrap().push(format!("{c:?}"))).unwrap();
    (seen, token)
}

/// A schema whose class `C` has the property `bad` is refused as invalid.
pub fn assert_invalid(bad: Property) {
    let s = Schema::new(vec![ClassSchema::new("C", "id", vec![Property::new("id", ScalarType::Int), bad.clone()])]);
    assert!(matches!(s, Err(Error::InvalidSchema(_))), "{bad:?}: {s:?}");
}

/// The server terminates sync (every client must reset); `other` resets at once and writes
/// `after_terminate`, then `r` comes back online and resets. Returns `r`'s report.
pub fn reset_while_other_writes(ts: &TestServer, r: &Realm, other: &Realm, after_terminate: impl FnOnce(&Realm)) -> reset::ResetReport {
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    eventually("other resets", || other.last_reset_report().unwrap().is_some());
    sync_all(other);
    after_terminate(other);
    sync_all(other);
    session(r).resume();
    eventually("the reset", || r.last_reset_report().unwrap().is_some());
    sync_all(r);
    sync_all(other);
    r.last_reset_report().unwrap().unwrap()
}
