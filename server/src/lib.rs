//! The driftsync reference server: WebSocket on loopback, history and state in SQLite, and an
//! admin surface that can cause every kind of client reset on purpose.
//!
//! ```no_run
//! use driftsync_server::{AppConfig, Server, ServerOptions};
//! # fn main() -> driftsync_server::Result<()> {
//! let config = AppConfig::from_file("app.toml")?;
//! let server = Server::start(ServerOptions::new(config, "/tmp/server-data"))?;
//! println!("{}", server.url());
//! server.terminate()?;
//! # Ok(()) }
//! ```
//!
//! Storage under the data directory: `server.sqlite` (epochs, client files, users, roles,
//! schema, flags, clock offset), `realms/<name>.realm` (a driftsync realm file per realm name
//! holding its state and its server history in the same transactions), `backups/<NAME>/`.

pub mod admin;
pub mod config;
mod db;
pub mod log;
mod realms;
mod session;

pub use admin::admin_request;
pub use config::{AppConfig, RoleDef, UserDef};

use db::Db;
use parking_lot::{Mutex, RwLock};
use realms::RealmSlot;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// An error of the server (setup, storage, admin commands).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerError(pub String);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerError {}

impl From<driftsync::Error> for ServerError {
    fn from(e: driftsync::Error) -> Self {
        ServerError(e.to_string())
    }
}
impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        ServerError(format!("sqlite: {e}"))
    }
}
impl From<std::io::Error> for ServerError {
    fn from(e: std::io::Error) -> Self {
        ServerError(format!("i/o: {e}"))
    }
}
impl From<tungstenite::Error> for ServerError {
    fn from(e: tungstenite::Error) -> Self {
        ServerError(format!("websocket: {e}"))
    }
}
impl From<String> for ServerError {
    fn from(e: String) -> Self {
        ServerError(e)
    }
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub config: AppConfig,
    pub data_dir: PathBuf,
    /// `host:port`; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: String,
}

impl ServerOptions {
    pub fn new(config: AppConfig, data_dir: impl Into<PathBuf>) -> Self {
        ServerOptions { config, data_dir: data_dir.into(), listen: "127.0.0.1:0".into() }
    }

    /// Reads the config from an `app.toml`.
    pub fn from_config_file(config_path: impl AsRef<Path>, data_dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self::new(AppConfig::from_file(config_path)?, data_dir))
    }

    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = addr.to_string();
        self
    }
}

/// Why a connection is being closed by the server.
pub(crate) const KICK_NONE: u8 = 0;
/// Sync was terminated: tell the client with `SyncTerminated`.
pub(crate) const KICK_TERMINATED: u8 = 1;
/// The server's state changed under the client (restore, re-enable, schema, role): close; the
/// next bind tells the client what to do.
pub(crate) const KICK_RESET: u8 = 2;
/// The server is stopping.
pub(crate) const KICK_SHUTDOWN: u8 = 3;

/// A connection that completed a bind.
pub(crate) struct ConnEntry {
    pub ident: u64,
    pub realm: String,
    pub user: String,
    pub kick: Arc<AtomicU8>,
}

pub(crate) struct Inner {
    pub data_dir: PathBuf,
    pub admin_token: String,
    pub max_offline_days: u64,
    /// Connections hold it shared while they handle a message; admin commands that replace
    /// stored data hold it exclusively.
    pub gate: RwLock<()>,
    pub db: Mutex<Db>,
    pub realms: Mutex<HashMap<String, Arc<RealmSlot>>>,
    pub conns: Mutex<HashMap<u64, ConnEntry>>,
    pub shutdown: AtomicBool,
    pub next_conn: AtomicU64,
}

impl Inner {
    pub fn realms_dir(&self) -> PathBuf {
        self.data_dir.join("realms")
    }

    /// A debug line (the events an operator needs are logged at info or warn where they happen).
    pub fn log(&self, msg: impl AsRef<str>) {
        ::log::debug!(target: "driftsync_server", "{}", msg.as_ref());
    }

    /// The realm of this name, opened on first use with the current schema.
    pub fn realm(&self, name: &str) -> Result<Arc<RealmSlot>> {
        let mut map = self.realms.lock();
        if let Some(s) = map.get(name) {
            return Ok(s.clone());
        }
        let schema = self.db.lock().cat.schema.clone();
        std::fs::create_dir_all(self.realms_dir())?;
        let slot = Arc::new(RealmSlot::open(&self.realms_dir(), name, &schema)?);
        map.insert(name.to_string(), slot.clone());
        Ok(slot)
    }

    /// The names of every realm that has a file.
    pub fn realm_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let dir = self.realms_dir();
        if !dir.exists() {
            return Ok(names);
        }
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.extension().and_then(|x| x.to_str()) == Some("realm")
                && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Closes the given connections (all bound ones when `filter` accepts everything).
    pub fn kick(&self, reason: u8, filter: impl Fn(&ConnEntry) -> bool) -> usize {
        let conns = self.conns.lock();
        let mut n = 0;
        for c in conns.values() {
            if filter(c) {
                c.kick.store(reason, Ordering::SeqCst);
                n += 1;
            }
        }
        n
    }
}

/// A running server. Dropping it stops it.
pub struct Server {
    inner: Arc<Inner>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Server {
    /// Opens (or creates) the data directory, binds the listener and starts accepting.
    pub fn start(opts: ServerOptions) -> Result<Server> {
        opts.config.validate()?;
        std::fs::create_dir_all(&opts.data_dir)?;
        let data_dir = opts.data_dir.canonicalize()?;
        std::fs::create_dir_all(data_dir.join("realms"))?;
        let db = Db::open(&data_dir.join("server.sqlite"), Some(&opts.config))?;
        let listener = TcpListener::bind(&opts.listen).map_err(|e| ServerError(format!("listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            data_dir,
            admin_token: opts.config.admin_token.clone(),
            max_offline_days: opts.config.client_max_offline_days,
            gate: RwLock::new(()),
            db: Mutex::new(db),
            realms: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
        });
        // Open every existing realm now, so a damaged file fails the start, not a client.
        for name in inner.realm_names()? {
            inner.realm(&name)?;
        }
        let workers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let inner = inner.clone();
            let workers = workers.clone();
            std::thread::Builder::new().name("driftsync-server-accept".into()).spawn(move || accept_loop(inner, listener, workers))?
        };
        Ok(Server { inner, addr, accept: Some(accept), workers })
    }

    /// `ws://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Runs an admin command in-process (as `admin_request` does over the socket).
    pub fn admin(&self, command: driftsync::protocol::AdminCommand) -> Result<String> {
        admin::run(&self.inner, command)
    }

    /// A consistent copy of all stored data to `<data>/backups/NAME/`.
    pub fn backup(&self, name: &str) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::Backup { name: name.into() })
    }
    /// Replaces all stored data with the backup NAME; connected clients are disconnected.
    pub fn restore(&self, name: &str) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::Restore { name: name.into() })
    }
    /// Switches sync off; connected clients are disconnected, binds get `SyncTerminated`.
    pub fn terminate(&self) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::Terminate)
    }
    /// Switches sync on in a new epoch: the history is forgotten, the state is kept.
    pub fn enable(&self) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::Enable)
    }
    /// Applies a schema: additive changes migrate, breaking ones start a new epoch with empty realms.
    pub fn apply_schema(&self, schema: &driftsync::Schema) -> Result<String> {
        self.apply_schema_json(&schema.to_json())
    }
    pub fn apply_schema_json(&self, schema_json: &str) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::ApplySchema { schema_json: schema_json.into() })
    }
    /// Moves the server clock forward, then expires client files offline too long.
    pub fn advance_clock(&self, by: Duration) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::AdvanceClock { seconds: by.as_secs() })
    }
    pub fn assign_role(&self, user: &str, role: &str) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::AssignRole { user: user.into(), role: role.into() })
    }
    /// Replaces (or creates) a role from its TOML definition (`realms = [..]`, `read`, `write`).
    pub fn define_role(&self, role: &str, definition_toml: &str) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::DefineRole { role: role.into(), definition_toml: definition_toml.into() })
    }
    pub fn set_recovery_disabled(&self, disabled: bool) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::SetRecoveryDisabled { disabled })
    }
    /// JSON: epoch, sync and recovery flags, clock offset, latest version per realm, connected clients.
    pub fn status(&self) -> Result<String> {
        self.admin(driftsync::protocol::AdminCommand::Status)
    }

    /// How many connections have completed a bind and are still open.
    pub fn connected_clients(&self) -> usize {
        self.inner.conns.lock().len()
    }

    /// Stops accepting, closes every connection and waits for all threads. Idempotent.
    pub fn stop(&mut self) {
        if self.inner.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.kick(KICK_SHUTDOWN, |_| true);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let handles: Vec<_> = std::mem::take(&mut *self.workers.lock());
        for h in handles {
            let _ = h.join();
        }
        self.inner.realms.lock().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(inner: Arc<Inner>, listener: TcpListener, workers: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    for stream in listener.incoming() {
        if inner.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
        let inner2 = inner.clone();
        let spawned =
            std::thread::Builder::new().name(format!("driftsync-server-conn-{id}")).spawn(move || session::serve(inner2, stream, id));
        let mut w = workers.lock();
        w.retain(|h| !h.is_finished());
        if let Ok(h) = spawned {
            w.push(h);
        }
    }
}
