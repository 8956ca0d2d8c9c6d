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
pub mod auth;
pub mod config;
mod db;
pub mod log;
mod net;
mod realms;
mod session;

pub use admin::admin_request;
pub use config::{AdminListen, AppConfig, JwtConfig, Limits, RoleDef, TlsIdentity, UserDef};

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
/// The user was removed or its token rotated: tell the client (fatal `BadToken`) and close.
pub(crate) const KICK_REVOKED: u8 = 4;

/// Who a Bind's token names.
pub(crate) struct Identity {
    pub user: String,
    /// A static token (else a signed one).
    pub static_token: bool,
    /// When a signed token stops being valid (leeway included).
    pub expires: Option<std::time::Instant>,
}

/// A connection that completed a bind.
pub(crate) struct ConnEntry {
    pub ident: u64,
    pub realm: String,
    pub user: String,
    /// Authenticated with a static token (not a signed one).
    pub static_token: bool,
    pub kick: Arc<AtomicU8>,
    pub waker: Arc<net::Waker>,
}

pub(crate) struct Inner {
    pub data_dir: PathBuf,
    pub admin_token: String,
    pub max_offline_days: u64,
    /// Whether `BindOk` offers range reconciliation.
    pub reconcile: bool,
    /// Most objects of a class a reconciling session holds at a time.
    pub reconcile_window_objects: usize,
    /// Connections hold it shared while they handle a message; admin commands that replace
    /// stored data hold it exclusively.
    pub gate: RwLock<()>,
    pub db: Mutex<Db>,
    pub realms: Mutex<HashMap<String, Arc<RealmSlot>>>,
    pub conns: Mutex<HashMap<u64, ConnEntry>>,
    /// Every open sync connection, bound or not (the connection cap counts these).
    pub live: Mutex<HashMap<u64, Arc<net::Waker>>>,
    pub shutdown: AtomicBool,
    pub next_conn: AtomicU64,
    pub limits: Limits,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub jwt: Option<JwtConfig>,
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
        create_private_dir(&self.realms_dir())?;
        db::create_private_file(&self.realms_dir().join(format!("{name}.realm")))?;
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
                c.waker.wake();
                n += 1;
            }
        }
        n
    }

    /// Wakes the connections bound to `realm`: it has new versions to push.
    pub fn wake_realm(&self, realm: &str) {
        for c in self.conns.lock().values().filter(|c| c.realm == realm) {
            c.waker.wake();
        }
    }

    /// Who a token names. A signed token must name an existing user (its role comes from there).
    pub fn authenticate(&self, token: &str) -> std::result::Result<Identity, String> {
        if let Some(jwt) = &self.jwt
            && auth::looks_like_jwt(token)
        {
            let (user, exp) = auth::user_of_jwt(jwt, token)?;
            if !self.db.lock().cat.users.contains_key(&user) {
                return Err(format!("the signed token names the unknown user '{user}'"));
            }
            // The moment the session must end, on this process's monotonic clock.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let left = Duration::from_secs(exp.saturating_add(jwt.leeway()).saturating_sub(now));
            return Ok(Identity { user, static_token: false, expires: Some(std::time::Instant::now() + left) });
        }
        match self.db.lock().cat.user_by_token(token) {
            Some((name, _)) => Ok(Identity { user: name.clone(), static_token: true, expires: None }),
            None => Err("unknown user token".into()),
        }
    }
}

/// A running server. Dropping it stops it.
pub struct Server {
    inner: Arc<Inner>,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    admin_accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Whether `addr` (`host:port`) only resolves to loopback addresses.
fn is_loopback(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs().map(|mut a| a.all(|x| x.ip().is_loopback())).unwrap_or(false)
}

impl Server {
    /// Opens (or creates) the data directory, binds the listeners and starts accepting.
    pub fn start(opts: ServerOptions) -> Result<Server> {
        opts.config.validate()?;
        let admin_cfg = &opts.config.admin;
        let remote_allowed = admin_cfg.allow_remote && opts.config.tls.is_some();
        if !(is_loopback(&admin_cfg.listen) || remote_allowed) {
            return Err(ServerError(format!(
                "admin listen address {} is not loopback: that needs [admin] allow_remote = true and [tls]",
                admin_cfg.listen
            )));
        }
        let tls = opts.config.tls.as_ref().map(net::tls_config).transpose()?;
        create_private_dir(&opts.data_dir)?;
        let data_dir = opts.data_dir.canonicalize()?;
        create_private_dir(&data_dir.join("realms"))?;
        let db = Db::open(&data_dir.join("server.sqlite"), Some(&opts.config))?;
        let listener = TcpListener::bind(&opts.listen).map_err(|e| ServerError(format!("listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr()?;
        let admin_listener =
            TcpListener::bind(&admin_cfg.listen).map_err(|e| ServerError(format!("admin listen on {}: {e}", admin_cfg.listen)))?;
        let admin_addr = admin_listener.local_addr()?;
        let inner = Arc::new(Inner {
            data_dir,
            admin_token: opts.config.admin_token.clone(),
            max_offline_days: opts.config.client_max_offline_days,
            reconcile: opts.config.reconcile,
            reconcile_window_objects: opts.config.reconcile_window_objects.max(1),
            gate: RwLock::new(()),
            db: Mutex::new(db),
            realms: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            limits: opts.config.limits.clone(),
            tls,
            jwt: opts.config.jwt.clone(),
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
        let admin_accept = {
            let inner = inner.clone();
            let workers = workers.clone();
            std::thread::Builder::new()
                .name("driftsync-server-admin".into())
                .spawn(move || admin_accept_loop(inner, admin_listener, workers))?
        };
        Ok(Server { inner, addr, admin_addr, accept: Some(accept), admin_accept: Some(admin_accept), workers })
    }

    /// `ws://127.0.0.1:PORT` (`wss://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// The admin listener: `ws://127.0.0.1:PORT` (`wss://` with TLS).
    pub fn admin_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.admin_addr)
    }

    fn scheme(&self) -> &'static str {
        if self.inner.tls.is_some() { "wss" } else { "ws" }
    }

    /// Open sync connections, bound or not.
    pub fn open_connections(&self) -> usize {
        self.inner.live.lock().len()
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
        for w in self.inner.live.lock().values() {
            w.wake();
        }
        // Wake the accept loops.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = TcpStream::connect_timeout(&self.admin_addr, Duration::from_secs(1));
        for h in [self.accept.take(), self.admin_accept.take()].into_iter().flatten() {
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

/// Creates a directory only its owner may enter (0700), or tightens an existing one.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn spawn_worker(workers: &Mutex<Vec<JoinHandle<()>>>, name: String, f: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new().name(name).spawn(f);
    let mut w = workers.lock();
    w.retain(|h| !h.is_finished());
    match spawned {
        Ok(h) => w.push(h),
        Err(e) => ::log::error!("cannot start a connection thread: {e}"),
    }
}

/// Calls `on_stream` with each accepted connection until the server stops.
fn accept_each(inner: &Inner, listener: TcpListener, mut on_stream: impl FnMut(TcpStream)) {
    for stream in listener.incoming() {
        if inner.shutdown.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(s) => on_stream(s),
            // Out of descriptors or a reset before accept: pause briefly, then go on.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn accept_loop(inner: Arc<Inner>, listener: TcpListener, workers: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    accept_each(&inner.clone(), listener, |stream| {
        let id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
        // Registered before the thread starts, so the cap holds however fast peers connect.
        let waker = match net::Waker::new() {
            Ok(w) => Arc::new(w),
            Err(e) => {
                ::log::error!("connection refused: no eventfd: {e}");
                return;
            }
        };
        {
            let mut live = inner.live.lock();
            if live.len() >= inner.limits.max_connections {
                drop(live);
                ::log::warn!(
                    "connection from {:?} refused: {} connections open (max_connections)",
                    stream.peer_addr().ok(),
                    inner.limits.max_connections
                );
                return;
            }
            live.insert(id, waker.clone());
        }
        let inner2 = inner.clone();
        spawn_worker(&workers, format!("driftsync-server-conn-{id}"), move || {
            session::serve(inner2.clone(), stream, id, waker);
            inner2.live.lock().remove(&id);
        });
    });
}

/// Admin connections at most at once (they are loopback, or TLS with allow_remote).
const MAX_ADMIN_CONNECTIONS: usize = 16;

fn admin_accept_loop(inner: Arc<Inner>, listener: TcpListener, workers: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    accept_each(&inner.clone(), listener, |stream| {
        let Ok(peer) = stream.peer_addr() else { return };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_ADMIN_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            ::log::warn!("admin connection from {peer} refused: {MAX_ADMIN_CONNECTIONS} admin connections open");
            return;
        }
        let (inner2, open2) = (inner.clone(), open.clone());
        spawn_worker(&workers, "driftsync-server-admin-conn".into(), move || {
            admin::serve(inner2, stream, peer);
            open2.fetch_sub(1, Ordering::SeqCst);
        });
    });
}
