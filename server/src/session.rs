//! One client connection: a thread that sleeps in `poll(2)` until the client sends something,
//! its realm has new versions to push (the connection's waker), an admin command closes it, or
//! one of its deadlines (bind, idle, slow frame) comes. It never polls on a timer.

use crate::config::RoleDef;
use crate::net::{self, Stream, Waker};
use crate::realms::{self, MAX_DOWNLOAD_BYTES, MAX_DOWNLOAD_CHANGESETS, Pending, RealmSlot, UploadError};
use crate::{ConnEntry, Inner, KICK_NONE, KICK_RESET, KICK_REVOKED, KICK_SHUTDOWN, KICK_TERMINATED};
use driftsync::changeset::{Changeset, Instruction};
use driftsync::protocol::{
    self, Bind, ClientMessage, DownloadChangeset, ErrorAction, MAX_FRAME_BYTES, PROTOCOL_VERSION, ProtocolError, ResetCause,
    ServerErrorCode, ServerMessage, UploadChangeset,
};
use driftsync::protocol::{RangeAnswer, RangeQuery, ReconcileClass, WantedRecords};
use driftsync::reconcile;
use driftsync::schema::AdditiveChange;
use driftsync::{PrimaryKey, Schema};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Most messages handled in one turn before the connection pushes downloads again.
const MESSAGES_PER_TURN: usize = 64;

/// Bytes read from the socket at a time: tungstenite's 128 KiB default, allocated per connection,
/// would be most of what an idle connection costs.
const READ_BUFFER_BYTES: usize = 16 * 1024;

fn ws_config_up_to(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES).max_message_size(Some(max_message)).max_frame_size(Some(max_message))
}

pub(crate) fn ws_config() -> WebSocketConfig {
    ws_config_up_to(MAX_FRAME_BYTES)
}

/// Until the Bind is accepted a stranger gets small frames only.
fn unbound_ws_config(max: usize) -> WebSocketConfig {
    ws_config_up_to(max)
}

pub(crate) fn serve(inner: Arc<Inner>, stream: std::net::TcpStream, id: u64, waker: Arc<Waker>) {
    let started = Instant::now();
    let deadline = started + inner.limits.bind_deadline();
    let peer = stream.peer_addr().ok();
    let ws = match net::accept(stream, inner.tls.as_ref(), unbound_ws_config(inner.limits.max_unbound_message_bytes), deadline) {
        Ok(ws) => ws,
        Err(e) => {
            log::info!("connection {id} from {peer:?} closed: {e}");
            return;
        }
    };
    let read_at_accept = ws.get_ref().read_total();
    let mut s = Session {
        inner: inner.clone(),
        ws,
        id,
        bound: None,
        reconcile: None,
        download: None,
        kick: Arc::new(AtomicU8::new(KICK_NONE)),
        waker,
        last_touch: 0,
        started,
        last_rx: started,
        ping_sent: false,
        partial_since: None,
        read_at_last_frame: read_at_accept,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run()));
    if outcome.is_err() {
        // A bug, not bad input (input is checked): keep the server healthy. A write
        // transaction this thread left open would block the realm for everyone.
        log::error!("connection {id} panicked; closing it");
        if let Some(b) = &s.bound
            && let Some(slot) = inner.realms.lock().get(&b.realm).cloned()
            && slot.realm.is_in_write_transaction()
        {
            let _ = slot.realm.cancel();
        }
    }
    inner.conns.lock().remove(&id);
}

struct Bound {
    ident: u64,
    realm: String,
    user: String,
    static_token: bool,
    /// When the signed token the session was opened with expires.
    expires: Option<Instant>,
    role: RoleDef,
    /// The highest local version of this client the server has integrated.
    last_integrated: u64,
}

struct DownloadState {
    /// Every server version up to this one has been sent (or was this client's own).
    sent: u64,
    /// The highest local version of this client among history rows up to `sent`.
    running_max: u64,
}

enum Flow {
    Continue,
    Close,
}

struct Session {
    inner: Arc<Inner>,
    ws: WebSocket<Stream>,
    id: u64,
    bound: Option<Bound>,
    download: Option<DownloadState>,
    /// The snapshot a range reconciliation answers from (after `ReconcileBegin`).
    reconcile: Option<crate::realms::ReconcileSnapshot>,
    kick: Arc<AtomicU8>,
    waker: Arc<Waker>,
    last_touch: i64,
    /// When the connection was accepted (the bind deadline runs from here).
    started: Instant,
    /// When the client last sent anything (a frame of any kind).
    last_rx: Instant,
    /// The server pinged after half the idle timeout and awaits any answer.
    ping_sent: bool,
    /// Since when part of a message has arrived but not all of it.
    partial_since: Option<Instant>,
    /// `Stream::read_total` when the last whole frame came out: more than that means part of
    /// the next one is in.
    read_at_last_frame: u64,
}

/// Why a connection's own deadline ended it.
enum Overdue {
    Bind,
    Idle,
    SlowFrame,
    TokenExpired,
}

fn error(code: ServerErrorCode, action: ErrorAction, message: impl Into<String>) -> ProtocolError {
    ProtocolError { code, cause: None, action, message: message.into(), retryable: matches!(action, ErrorAction::Retry), restored_at: None }
}

fn fatal(code: ServerErrorCode, message: impl Into<String>) -> ProtocolError {
    error(code, ErrorAction::Fatal, message)
}

fn reset(cause: ResetCause, recovery: bool, message: impl Into<String>) -> ProtocolError {
    ProtocolError {
        code: ServerErrorCode::ClientResetRequired,
        cause: Some(cause),
        action: if recovery { ErrorAction::ClientReset } else { ErrorAction::ClientResetNoRecovery },
        message: message.into(),
        retryable: false,
        restored_at: None,
    }
}

/// A `ServerRestored` reset demand that tells the client where the restored history ends.
fn restored(slot: &RealmSlot, message: impl Into<String>) -> ProtocolError {
    ProtocolError { restored_at: slot.restored_at(), ..reset(ResetCause::ServerRestored, true, message) }
}

fn internal(message: impl std::fmt::Display) -> ProtocolError {
    error(ServerErrorCode::Internal, ErrorAction::Retry, format!("server error: {message}"))
}

/// A realm name is also a file name: letters, digits, `_`, `-`, `.`; not starting with a dot.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Compares the client's schema with the server's. A client that is a subset of the server is
/// fine. Returns the breaking differences (a class or property both have but differently) and
/// the additive extras the client has (new classes, new optional properties or lists).
pub(crate) fn compare_client_schema(server: &Schema, client: &Schema) -> (Vec<String>, Vec<AdditiveChange>) {
    let mut breaking = Vec::new();
    let mut extras = Vec::new();
    for cc in &client.classes {
        let Some(si) = server.class_index(&cc.name) else {
            extras.push(AdditiveChange::AddClass(cc.clone()));
            continue;
        };
        let sc = &server.classes[si];
        if sc.primary_key != cc.primary_key {
            breaking.push(format!(
                "class '{}': primary key is '{}' on the server, '{}' on the client",
                cc.name, sc.primary_key, cc.primary_key
            ));
        }
        for cp in &cc.properties {
            match sc.property_index(&cp.name).map(|i| &sc.properties[i]) {
                Some(sp) if sp != cp => breaking.push(format!(
                    "class '{}', property '{}': {:?}{}{} on the server, {:?}{}{} on the client",
                    cc.name,
                    cp.name,
                    sp.kind,
                    if sp.list { " list" } else { "" },
                    if sp.optional { " optional" } else { "" },
                    cp.kind,
                    if cp.list { " list" } else { "" },
                    if cp.optional { " optional" } else { "" },
                )),
                Some(_) => {}
                None if cp.optional || cp.is_collection() => {
                    extras.push(AdditiveChange::AddProperty { class: cc.name.clone(), property: cp.clone() })
                }
                None => breaking.push(format!(
                    "class '{}': the client has the required property '{}' the server lacks (only optional properties can be added)",
                    cc.name, cp.name
                )),
            }
        }
    }
    (breaking, extras)
}

/// One line per refused bind: a refused token (never the token itself), a reset demand with its
/// cause, or another refusal.
fn log_refused_bind(conn: u64, b: &Bind, e: &ProtocolError) {
    let file = b.client_file_ident.map(|i| i.to_string()).unwrap_or_else(|| "new".into());
    match (e.code, e.action) {
        (ServerErrorCode::BadToken, _) => {
            log::warn!(target: "driftsync_server", "refused token: realm '{}' client file {file} (connection {conn}): {}", b.realm, e.message)
        }
        (_, ErrorAction::ClientReset | ErrorAction::ClientResetNoRecovery) => log::info!(
            target: "driftsync_server",
            "reset demand: realm '{}' client file {file} cause {} action {:?} (connection {conn}): {}",
            b.realm,
            e.cause.map(|c| c.name()).unwrap_or("none"),
            e.action,
            e.message
        ),
        _ => log::warn!(
            target: "driftsync_server",
            "refused bind: realm '{}' client file {file} {:?} (connection {conn}): {}",
            b.realm,
            e.code,
            e.message
        ),
    }
}

impl Session {
    fn run(&mut self) {
        loop {
            if self.inner.shutdown.load(Ordering::SeqCst) {
                self.close();
                return;
            }
            if self.handle_kick() {
                return;
            }
            if let Flow::Close = self.read_available() {
                return;
            }
            let mut more_to_push = false;
            if self.download.is_some() {
                // Under the gate: an admin command never replaces a realm file under a push.
                let inner = self.inner.clone();
                let _gate = inner.gate.read();
                if self.handle_kick() {
                    return;
                }
                if let Flow::Close = self.push_downloads() {
                    return;
                }
                more_to_push = self.download_behind();
            }
            if self.ws.flush().is_err() {
                return;
            }
            if let Some(why) = self.overdue() {
                self.cut(why);
                return;
            }
            let timeout =
                if more_to_push { Some(Duration::ZERO) } else { self.next_deadline().map(|d| d.saturating_duration_since(Instant::now())) };
            let fd = self.ws.get_ref().tcp().as_raw_fd();
            net::wait(fd, &self.waker, timeout);
        }
    }

    /// Whether the realm has versions this connection has not pushed yet.
    fn download_behind(&self) -> bool {
        let (Some(b), Some(dl)) = (&self.bound, &self.download) else { return false };
        self.inner.realms.lock().get(&b.realm).is_some_and(|slot| slot.head().version > dl.sent)
    }

    /// Handles the messages that have arrived, without waiting for more.
    fn read_available(&mut self) -> Flow {
        for _ in 0..MESSAGES_PER_TURN {
            let tcp = self.ws.get_ref().tcp();
            if tcp.set_nonblocking(true).is_err() {
                return Flow::Close;
            }
            let r = self.ws.read();
            if self.ws.get_ref().tcp().set_nonblocking(false).is_err() {
                return Flow::Close;
            }
            let msg = match r {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Bytes came but no whole frame: the slow-frame clock runs.
                    if self.ws.get_ref().read_total() > self.read_at_last_frame && self.partial_since.is_none() {
                        self.partial_since = Some(Instant::now());
                    }
                    return Flow::Continue;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Flow::Close,
                Err(tungstenite::Error::Capacity(e)) => {
                    let limit = if self.bound.is_some() { MAX_FRAME_BYTES } else { self.inner.limits.max_unbound_message_bytes };
                    return self.fail(fatal(ServerErrorCode::BadMessage, format!("frame refused: {e} (the limit is {limit} bytes)")));
                }
                Err(tungstenite::Error::Protocol(e)) => {
                    return self.fail(fatal(ServerErrorCode::BadMessage, format!("websocket protocol error: {e}")));
                }
                Err(tungstenite::Error::Utf8(e)) => return self.fail(fatal(ServerErrorCode::BadMessage, format!("invalid UTF-8: {e}"))),
                Err(_) => return Flow::Close,
            };
            self.last_rx = Instant::now();
            self.ping_sent = false;
            self.read_at_last_frame = self.ws.get_ref().read_total();
            // Only a whole data message stops the slow-frame clock: control frames may come
            // between the fragments of a message that never completes.
            if matches!(msg, Message::Binary(_) | Message::Text(_)) {
                self.partial_since = None;
            }
            let flow = match msg {
                Message::Binary(bytes) => self.on_binary(&bytes),
                Message::Text(_) => self.fail(fatal(
                    ServerErrorCode::BadMessage,
                    "text frames are not part of the protocol; send MessagePack in binary frames",
                )),
                Message::Close(_) => {
                    // The client is offline from here on (client expiry spares connected
                    // clients): forget it before the answer it may wait for is sent.
                    self.inner.conns.lock().remove(&self.id);
                    let _ = self.ws.flush();
                    Flow::Close
                }
                _ => Flow::Continue, // ping/pong are answered by tungstenite
            };
            if let Flow::Close = flow {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// The next moment one of this connection's deadlines needs a look (None: none runs).
    fn next_deadline(&self) -> Option<Instant> {
        let limits = &self.inner.limits;
        let mut next = if self.bound.is_none() {
            self.started + limits.bind_deadline()
        } else if self.ping_sent {
            self.last_rx + limits.idle_timeout()
        } else {
            self.last_rx + limits.idle_timeout() / 2
        };
        if let Some(p) = self.partial_since {
            next = next.min(p + limits.frame_timeout());
        }
        if let Some(e) = self.bound.as_ref().and_then(|b| b.expires) {
            next = next.min(e);
        }
        Some(next)
    }

    /// A deadline that has passed; sends the idle ping when half the idle time has gone.
    fn overdue(&mut self) -> Option<Overdue> {
        let now = Instant::now();
        let limits = &self.inner.limits;
        if self.partial_since.is_some_and(|p| now >= p + limits.frame_timeout()) {
            return Some(Overdue::SlowFrame);
        }
        if self.bound.is_none() {
            return (now >= self.started + limits.bind_deadline()).then_some(Overdue::Bind);
        }
        if self.bound.as_ref().and_then(|b| b.expires).is_some_and(|e| now >= e) {
            return Some(Overdue::TokenExpired);
        }
        if now >= self.last_rx + limits.idle_timeout() {
            return Some(Overdue::Idle);
        }
        if !self.ping_sent && now >= self.last_rx + limits.idle_timeout() / 2 {
            self.ping_sent = true;
            let _ = self.ws.send(Message::Ping(Vec::new().into()));
        }
        None
    }

    fn cut(&mut self, why: Overdue) {
        let text = match why {
            Overdue::Bind => "no Bind before the bind deadline",
            Overdue::Idle => "idle longer than the idle timeout",
            Overdue::SlowFrame => "a message took longer than the frame timeout to arrive",
            Overdue::TokenExpired => {
                log::info!("connection {}: closed: the signed token expired", self.id);
                // The same token cannot bind again: the app needs a fresh one.
                let _ = self.fail(fatal(ServerErrorCode::BadToken, "the signed token expired"));
                return;
            }
        };
        log::info!("connection {}: closed: {text}", self.id);
        // Retry: a client that was merely slow or quiet may come back.
        let _ = self.fail(error(ServerErrorCode::BadMessage, ErrorAction::Retry, text));
    }

    /// Closes the connection if an admin command asked for it; true when closed.
    fn handle_kick(&mut self) -> bool {
        match self.kick.load(Ordering::SeqCst) {
            KICK_NONE => false,
            KICK_TERMINATED => {
                self.fail(error(ServerErrorCode::SyncTerminated, ErrorAction::Retry, "sync was terminated by the server administrator"));
                true
            }
            KICK_REVOKED => {
                self.fail(fatal(ServerErrorCode::BadToken, "the user was removed or its token was replaced"));
                true
            }
            KICK_RESET | KICK_SHUTDOWN => {
                self.close();
                true
            }
            _ => {
                self.close();
                true
            }
        }
    }

    fn send(&mut self, msg: &ServerMessage) -> bool {
        self.ws.send(Message::binary(protocol::encode(msg))).is_ok()
    }

    /// Sends the error and closes the connection.
    fn fail(&mut self, err: ProtocolError) -> Flow {
        self.inner.log(format!("connection {}: {:?} {:?}: {}", self.id, err.code, err.cause, err.message));
        let _ = self.send(&ServerMessage::Error(err));
        self.close();
        Flow::Close
    }

    /// A clean close: close frame, then wait briefly for the peer's.
    fn close(&mut self) {
        self.inner.conns.lock().remove(&self.id);
        let _ = self.ws.close(None);
        let deadline = Instant::now() + Duration::from_millis(500);
        // A peer dripping bytes must not keep the read going past the deadline.
        self.ws.get_mut().set_deadline(Some(deadline));
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    let _ = self.ws.flush();
                }
                Err(_) => break,
            }
        }
    }

    fn touch(&mut self) {
        let Some(b) = &self.bound else { return };
        let db = self.inner.db.lock();
        let now = db.now();
        if now != self.last_touch {
            self.last_touch = now;
            let _ = db.touch(b.ident, now);
        }
    }

    fn on_binary(&mut self, bytes: &[u8]) -> Flow {
        let msg: ClientMessage = match protocol::decode(bytes) {
            Ok(m) => m,
            Err(e) => return self.fail(fatal(ServerErrorCode::BadMessage, e.to_string())),
        };
        if let ClientMessage::Admin { .. } = msg {
            log::warn!("connection {}: admin command on the sync port refused; connection closed", self.id);
            return self.fail(fatal(ServerErrorCode::PermissionDenied, "admin commands are served on the admin listener only"));
        }
        let inner = self.inner.clone();
        let _gate = inner.gate.read();
        if self.handle_kick() {
            return Flow::Close;
        }
        // A reconciliation's snapshot is a read transaction of the realm file (it holds back
        // the WAL's checkpoint): it ends as soon as the client moves on to anything else.
        if !matches!(msg, ClientMessage::ReconcileRanges { .. } | ClientMessage::ReconcileFetch { .. } | ClientMessage::Ping { .. }) {
            self.reconcile = None;
        }
        match msg {
            ClientMessage::Bind(b) => {
                if self.bound.is_some() {
                    return self.fail(fatal(ServerErrorCode::BadMessage, "this connection is already bound"));
                }
                self.bind(b)
            }
            ClientMessage::Ping { nonce } => {
                self.touch();
                self.ping(nonce)
            }
            _ if self.bound.is_none() => self.fail(fatal(ServerErrorCode::BadMessage, "the first message must be a Bind")),
            ClientMessage::StateRequest { after, max_objects } => {
                self.touch();
                self.state_request(after, max_objects)
            }
            ClientMessage::ReconcileBegin => {
                self.touch();
                self.reconcile_begin()
            }
            ClientMessage::ReconcileRanges { queries } => {
                self.touch();
                self.reconcile_ranges(queries)
            }
            ClientMessage::ReconcileFetch { class, wanted } => {
                self.touch();
                self.reconcile_fetch(&class, &wanted)
            }
            ClientMessage::StartDownload { after } => {
                self.touch();
                self.start_download(after)
            }
            ClientMessage::Upload { changesets } => {
                self.touch();
                self.upload(changesets)
            }
            ClientMessage::Admin { .. } => Flow::Continue,
        }
    }

    // ---- bind ------------------------------------------------------------------------------

    fn bind(&mut self, b: Bind) -> Flow {
        match self.check_bind(&b) {
            Ok((bound, msg)) => {
                self.inner.conns.lock().insert(
                    self.id,
                    ConnEntry {
                        ident: bound.ident,
                        realm: bound.realm.clone(),
                        user: bound.user.clone(),
                        static_token: bound.static_token,
                        kick: self.kick.clone(),
                        waker: self.waker.clone(),
                    },
                );
                self.ws.set_config(|c| *c = ws_config());
                log::info!(
                    target: "driftsync_server",
                    "bind: user '{}' realm '{}' client file {} (connection {})",
                    bound.user,
                    bound.realm,
                    bound.ident,
                    self.id
                );
                self.bound = Some(bound);
                if self.send(&msg) { Flow::Continue } else { Flow::Close }
            }
            Err(mut e) => {
                if e.action == ErrorAction::ClientReset && self.inner.db.lock().cat.recovery_disabled {
                    e.action = ErrorAction::ClientResetNoRecovery;
                    e.message.push_str(" (recovery of unsynced changes is disabled on this server: is_recovery_mode_disabled)");
                }
                log_refused_bind(self.id, &b, &e);
                self.fail(e)
            }
        }
    }

    fn check_bind(&mut self, b: &Bind) -> Result<(Bound, ServerMessage), ProtocolError> {
        if b.protocol_version != PROTOCOL_VERSION {
            return Err(fatal(
                ServerErrorCode::UnsupportedProtocolVersion,
                format!("protocol version {} is not supported; this server speaks version {PROTOCOL_VERSION}", b.protocol_version),
            ));
        }
        let crate::Identity { user, static_token, expires } =
            self.inner.authenticate(&b.token).map_err(|e| fatal(ServerErrorCode::BadToken, e))?;
        let (role_name, role, sync_enabled, server_schema) = {
            let db = self.inner.db.lock();
            let Some(u) = db.cat.users.get(&user) else {
                return Err(fatal(ServerErrorCode::BadToken, "unknown user token"));
            };
            (u.role.clone(), db.cat.roles.get(&u.role).cloned(), db.cat.sync_enabled, db.cat.schema.clone())
        };
        let Some(role) = role else {
            return Err(fatal(ServerErrorCode::PermissionDenied, format!("user '{user}' has the undefined role '{role_name}'")));
        };
        if !valid_name(&b.realm) {
            return Err(fatal(ServerErrorCode::UnknownRealm, format!("'{}' is not a valid realm name", b.realm)));
        }
        if !role.may_open(&b.realm) {
            return Err(fatal(
                ServerErrorCode::PermissionDenied,
                format!("role '{role_name}' of user '{user}' may not open realm '{}'", b.realm),
            ));
        }
        if !sync_enabled {
            return Err(error(ServerErrorCode::SyncTerminated, ErrorAction::Retry, "sync is terminated on this server"));
        }
        let client_schema = Schema::from_json(&b.schema_json)
            .map_err(|e| fatal(ServerErrorCode::BadMessage, format!("the client's schema is invalid: {e}")))?;
        let (breaking, extras) = compare_client_schema(&server_schema, &client_schema);
        if !breaking.is_empty() {
            return Err(reset(
                ResetCause::BreakingSchemaChange,
                false,
                format!("the client's schema differs from the server's in a breaking way: {}", breaking.join("; ")),
            ));
        }
        if !extras.is_empty() {
            if b.completing_reset {
                // The same rule as schema instructions in uploads: only `write = ["*"]`.
                if !role.may_change_schema() {
                    return Err(fatal(
                        ServerErrorCode::PermissionDenied,
                        format!(
                            "role '{role_name}' of user '{user}' may not change the schema (the client's schema has more than the server's)"
                        ),
                    ));
                }
                crate::admin::merge_schema(&self.inner, &extras).map_err(internal)?;
            } else {
                let names: Vec<String> = extras
                    .iter()
                    .map(|x| match x {
                        AdditiveChange::AddClass(c) => format!("class '{}'", c.name),
                        AdditiveChange::AddProperty { class, property } => format!("property '{class}.{}'", property.name),
                    })
                    .collect();
                return Err(reset(
                    ResetCause::ClientSchemaAhead,
                    true,
                    format!("the client's schema has what the server's lacks: {}", names.join(", ")),
                ));
            }
        }
        let slot = self.inner.realm(&b.realm).map_err(internal)?;
        let existing = {
            let db = self.inner.db.lock();
            match b.client_file_ident {
                None => None,
                Some(id) => {
                    let row = db.client(id).map_err(internal)?;
                    let row = match row {
                        Some(r) if r.user != user || r.realm != b.realm => {
                            return Err(fatal(
                                ServerErrorCode::PermissionDenied,
                                format!("client file {id} is not one of user '{user}' in realm '{}'", b.realm),
                            ));
                        }
                        Some(r) => r,
                        None => {
                            return Err(restored(
                                &slot,
                                format!("client file {id} is unknown to this server (was it restored from a backup?)"),
                            ));
                        }
                    };
                    if row.epoch < db.cat.epoch {
                        if db.breaking_epoch_after(row.epoch).map_err(internal)? {
                            return Err(reset(
                                ResetCause::BreakingSchemaChange,
                                false,
                                format!(
                                    "the server's schema changed in a breaking way since client file {id} last synced (epoch {} → {})",
                                    row.epoch, db.cat.epoch
                                ),
                            ));
                        }
                        return Err(reset(
                            ResetCause::SyncReenabled,
                            true,
                            format!(
                                "sync was terminated and re-enabled since client file {id} last synced (epoch {} → {})",
                                row.epoch, db.cat.epoch
                            ),
                        ));
                    }
                    if row.expired {
                        return Err(reset(
                            ResetCause::ClientTooOld,
                            false,
                            format!(
                                "client file {id} was offline longer than client_max_offline_days ({} days)",
                                self.inner.max_offline_days
                            ),
                        ));
                    }
                    if row.role_stamp != db.current_stamp(&user) {
                        return Err(reset(
                            ResetCause::RoleChanged,
                            true,
                            format!(
                                "the role of user '{user}' (now '{role_name}') or its definition changed since client file {id} last synced"
                            ),
                        ));
                    }
                    Some(row)
                }
            }
        };
        let head = slot.head();
        if b.server_version > head.version {
            return Err(restored(
                &slot,
                format!(
                    "the client integrated server version {} but the server's latest is {} (restored from a backup?)",
                    b.server_version, head.version
                ),
            ));
        }
        if b.server_version > 0 {
            let (salt, compacted) = slot.salt_of(b.server_version).map_err(internal)?;
            if compacted {
                return Err(reset(
                    ResetCause::ClientTooOld,
                    false,
                    format!("server version {} is older than the history this server keeps", b.server_version),
                ));
            }
            if salt != Some(b.salt) {
                return Err(restored(
                    &slot,
                    format!(
                        "server version {} has another salt on this server: its history was replaced (restored from a backup?)",
                        b.server_version
                    ),
                ));
            }
        }
        let (ident, new_file, last_integrated) = match existing {
            Some(row) => {
                let stored = slot.last_origin_version(row.ident, u64::MAX).map_err(internal)?;
                (row.ident, false, row.last_integrated_client_version.max(stored))
            }
            None => {
                let db = self.inner.db.lock();
                let stamp = db.current_stamp(&user);
                (db.new_client(&b.realm, &user, stamp).map_err(internal)?, true, 0)
            }
        };
        let (epoch, schema_json) = {
            let db = self.inner.db.lock();
            let now = db.now();
            db.touch(ident, now).map_err(internal)?;
            self.last_touch = now;
            (db.cat.epoch, db.cat.schema.to_json())
        };
        let bound = Bound { ident, realm: b.realm.clone(), user, static_token, expires, role, last_integrated };
        let msg = ServerMessage::BindOk {
            client_file_ident: ident,
            server_version: head.version,
            salt: head.salt,
            epoch,
            schema_json,
            new_file,
            reconcile: self.inner.reconcile,
        };
        Ok((bound, msg))
    }

    // ---- state, download, upload -----------------------------------------------------------

    fn state_request(&mut self, after: Option<(String, PrimaryKey)>, max_objects: u32) -> Flow {
        let Some(b) = &self.bound else { return Flow::Close };
        let slot = match self.inner.realm(&b.realm) {
            Ok(s) => s,
            Err(e) => return self.fail(internal(e)),
        };
        match slot.state_chunk(&b.role, after, max_objects) {
            Ok(msg) => {
                if self.send(&msg) {
                    Flow::Continue
                } else {
                    Flow::Close
                }
            }
            Err(UploadError::Bad(m)) => self.fail(fatal(ServerErrorCode::BadMessage, m)),
            Err(UploadError::Internal(m)) => self.fail(internal(m)),
        }
    }

    fn reconcile_begin(&mut self) -> Flow {
        let Some(b) = &self.bound else { return Flow::Close };
        if !self.inner.reconcile {
            return self.fail(fatal(ServerErrorCode::BadMessage, "range reconciliation is not offered by this server"));
        }
        let slot = match self.inner.realm(&b.realm) {
            Ok(s) => s,
            Err(e) => return self.fail(internal(e)),
        };
        let snapshot = match slot.reconcile_snapshot(&b.role, self.inner.reconcile_window_objects) {
            Ok(s) => s,
            Err(UploadError::Bad(m) | UploadError::Internal(m)) => return self.fail(internal(m)),
        };
        let classes = snapshot
            .classes
            .iter()
            .map(|c| ReconcileClass { name: c.name.clone(), properties: c.properties.clone(), fingerprint: c.fingerprint })
            .collect();
        let msg = ServerMessage::ReconcileClasses { server_version: snapshot.server_version, salt: snapshot.salt, classes };
        self.reconcile = Some(snapshot);
        if self.send(&msg) { Flow::Continue } else { Flow::Close }
    }

    fn reconcile_ranges(&mut self, queries: Vec<RangeQuery>) -> Flow {
        let Some(snapshot) = self.reconcile.as_mut() else {
            return self.fail(fatal(ServerErrorCode::BadMessage, "ReconcileRanges before ReconcileBegin"));
        };
        if queries.len() > reconcile::MAX_QUERIES {
            return self.fail(fatal(ServerErrorCode::BadMessage, format!("more than {} ranges in one message", reconcile::MAX_QUERIES)));
        }
        let mut answers = Vec::with_capacity(queries.len());
        let mut record_bytes = 0usize;
        for q in &queries {
            let answer = match snapshot.answer(q) {
                // Records are read now, at most about MAX_RECORD_BYTES per message.
                Ok(RangeAnswer::Records { .. }) if record_bytes >= reconcile::MAX_RECORD_BYTES => {
                    RangeAnswer::Records { records: Vec::new(), resume: Some(q.lo.clone()) }
                }
                Ok(RangeAnswer::Records { .. }) => match snapshot.records_in_range(&q.class, &q.lo, q.hi.as_ref().map(|h| h.as_slice())) {
                    Ok((records, resume)) => {
                        record_bytes += records.iter().map(|r| r.key.len() + r.data.len()).sum::<usize>();
                        RangeAnswer::Records { records, resume: resume.map(Into::into) }
                    }
                    Err(e) => return self.fail(internal(format!("{e:?}"))),
                },
                Ok(other) => other,
                Err(e) => return self.fail(internal(format!("{e:?}"))),
            };
            answers.push(answer);
        }
        if self.send(&ServerMessage::ReconcileAnswers { answers }) { Flow::Continue } else { Flow::Close }
    }

    fn reconcile_fetch(&mut self, class: &str, wanted: &[WantedRecords]) -> Flow {
        let Some(snapshot) = &self.reconcile else {
            return self.fail(fatal(ServerErrorCode::BadMessage, "ReconcileFetch before ReconcileBegin"));
        };
        if wanted.iter().map(|w| w.hashes.len()).sum::<usize>() > reconcile::MAX_FETCH_HASHES {
            return self.fail(fatal(ServerErrorCode::BadMessage, format!("more than {} hashes in one fetch", reconcile::MAX_FETCH_HASHES)));
        }
        // Whole ranges (at most `LEAF_ITEMS` objects each) until about MAX_RECORD_BYTES; a class
        // the client may not read or the server lacks gives none.
        let (mut records, mut served, mut bytes) = (Vec::new(), 0usize, 0usize);
        for w in wanted {
            if served > 0 && bytes >= reconcile::MAX_RECORD_BYTES {
                break;
            }
            match snapshot.records_with_hashes(class, w) {
                Ok(got) => {
                    bytes += got.iter().map(|r| r.key.len() + r.data.len()).sum::<usize>();
                    records.extend(got);
                }
                Err(e) => return self.fail(internal(format!("{e:?}"))),
            }
            served += 1;
        }
        if self.send(&ServerMessage::ReconcileRecords { records, served: served as u32 }) { Flow::Continue } else { Flow::Close }
    }

    fn start_download(&mut self, after: u64) -> Flow {
        let Some(b) = &self.bound else { return Flow::Close };
        let slot = match self.inner.realm(&b.realm) {
            Ok(s) => s,
            Err(e) => return self.fail(internal(e)),
        };
        let head = slot.head();
        if after > head.version {
            return self.fail(fatal(
                ServerErrorCode::BadMessage,
                format!("StartDownload after version {after}, but the server's latest is {}", head.version),
            ));
        }
        match slot.last_origin_version(b.ident, after) {
            Ok(running_max) => {
                self.download = Some(DownloadState { sent: after, running_max });
                self.push_downloads()
            }
            Err(e) => self.fail(internal(e)),
        }
    }

    /// Answers a ping once every server version up to the current latest has been sent (when
    /// the download stream is running), so one ping tells the client its download is complete.
    fn ping(&mut self, nonce: u64) -> Flow {
        let latest = match &self.bound {
            Some(b) => match self.inner.realm(&b.realm) {
                Ok(slot) => slot.head().version,
                Err(e) => return self.fail(internal(e)),
            },
            None => 0,
        };
        if self.download.is_some() {
            while self.download.as_ref().is_some_and(|d| d.sent < latest) {
                if let Flow::Close = self.push_downloads() {
                    return Flow::Close;
                }
            }
        }
        if self.send(&ServerMessage::Pong { nonce, latest_server_version: latest }) { Flow::Continue } else { Flow::Close }
    }

    /// Sends the history the client has not seen, in bounded `Download` messages. The caller
    /// holds the gate.
    fn push_downloads(&mut self) -> Flow {
        let (Some(b), Some(dl)) = (&self.bound, &mut self.download) else { return Flow::Continue };
        let Some(slot) = self.inner.realms.lock().get(&b.realm).cloned() else { return Flow::Continue };
        let (ident, role) = (b.ident, b.role.clone());
        let mut messages = Vec::new();
        // One message per turn of the connection loop: between two, the loop reads what the
        // client sends, so neither side blocks writing while the other one does too.
        for _ in 0..1 {
            let head = slot.head();
            if head.version <= dl.sent {
                break;
            }
            let rows = match slot.history_after(dl.sent, MAX_DOWNLOAD_CHANGESETS, MAX_DOWNLOAD_BYTES) {
                Ok(r) => r,
                Err(e) => return self.fail(internal(e)),
            };
            let Some(last) = rows.last().map(|r| (r.server_version, r.salt)) else {
                // The history before the head was forgotten (sync re-enabled): nothing to send.
                dl.sent = head.version;
                messages.push(ServerMessage::Download {
                    changesets: Vec::new(),
                    latest_server_version: head.version,
                    latest_salt: head.salt,
                });
                break;
            };
            let mut out = Vec::new();
            for r in rows {
                if r.origin_file == ident {
                    dl.running_max = dl.running_max.max(r.origin_version);
                    continue;
                }
                let cs = match Changeset::decode(&r.changeset) {
                    Ok(cs) => cs,
                    Err(e) => return self.fail(internal(format!("stored changeset {} is unreadable: {e}", r.server_version))),
                };
                out.push(DownloadChangeset {
                    server_version: r.server_version,
                    salt: r.salt,
                    last_integrated_client_version: dl.running_max,
                    own: false,
                    changeset: realms::filter_reads(&role, cs),
                });
            }
            dl.sent = last.0;
            messages.push(ServerMessage::Download { changesets: out, latest_server_version: last.0, latest_salt: last.1 });
        }
        for m in messages {
            if !self.send(&m) {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    fn upload(&mut self, changesets: Vec<UploadChangeset>) -> Flow {
        let Some(b) = &self.bound else { return Flow::Close };
        let (ident, role, realm) = (b.ident, b.role.clone(), b.realm.clone());
        let slot = match self.inner.realm(&realm) {
            Ok(s) => s,
            Err(e) => return self.fail(internal(e)),
        };
        let schema = slot.realm.schema();
        let mut highest = b.last_integrated;
        let mut reacks = Vec::new();
        let mut pending = Vec::new();
        let mut denied_by_version = Vec::new();
        let mut added_classes = std::collections::HashSet::new();
        for uc in changesets {
            let cs = uc.changeset;
            if cs.local_version <= highest {
                reacks.push(cs.local_version);
                continue;
            }
            for ins in &cs.instructions {
                match ins {
                    Instruction::AddClass { class } => {
                        added_classes.insert(class.name.clone());
                    }
                    other => {
                        if let Some((class, _)) = other.object()
                            && schema.class_index(class).is_none()
                            && !added_classes.contains(class)
                        {
                            let m = format!("changeset {} names the unknown class '{class}'", cs.local_version);
                            return self.fail(fatal(ServerErrorCode::BadChangeset, m));
                        }
                    }
                }
            }
            highest = cs.local_version;
            let (kept, denied) = realms::filter_writes(&role, &schema, cs);
            if !denied.is_empty() {
                denied_by_version.push((kept.local_version, denied));
            }
            pending.push(Pending { changeset: kept });
        }
        let changes_schema = pending
            .iter()
            .any(|p| p.changeset.instructions.iter().any(|i| matches!(i, Instruction::AddClass { .. } | Instruction::AddProperty { .. })));
        let now = self.inner.db.lock().now();
        let applied = match slot.apply_upload(ident, pending, now) {
            Ok(a) => a,
            Err(UploadError::Bad(m)) => return self.fail(fatal(ServerErrorCode::BadChangeset, m)),
            Err(UploadError::Internal(m)) => return self.fail(internal(m)),
        };
        if let Some(b) = &mut self.bound {
            b.last_integrated = highest;
        }
        if applied.iter().any(|a| a.server_version > 0) {
            self.inner.wake_realm(&realm);
        }
        let _ = self.inner.db.lock().set_last_integrated(ident, highest);
        if changes_schema && *slot.realm.schema() != *self.inner.db.lock().cat.schema {
            let global = self.inner.db.lock().cat.schema.clone();
            let extras = global.diff(&slot.realm.schema()).additive;
            if let Err(e) = crate::admin::merge_schema(&self.inner, &extras) {
                self.inner.log(format!("schema merge after an upload failed: {e}"));
            }
        }
        let head = slot.head();
        for v in reacks {
            let sv = slot.server_version_of(ident, v).ok().flatten().unwrap_or(head.version);
            if !self.send(&ServerMessage::UploadAck { local_version: v, server_version: sv }) {
                return Flow::Close;
            }
        }
        for a in applied {
            if let Some((_, denied)) = denied_by_version.iter().find(|(v, _)| *v == a.local_version) {
                let described: Vec<String> = denied.iter().map(Instruction::describe).collect();
                let msg = ServerMessage::Error(error(
                    ServerErrorCode::PermissionDenied,
                    ErrorAction::Warning,
                    format!("changeset {}: the role may not write, so these were not applied: {}", a.local_version, described.join("; ")),
                ));
                if !self.send(&msg) {
                    return Flow::Close;
                }
                // Compensating write: the client undoes what the server did not apply.
                let objects = match slot.compensation(&role, denied) {
                    Ok(o) => o,
                    Err(e) => return self.fail(internal(e)),
                };
                if !objects.is_empty() && !self.send(&ServerMessage::Compensate { local_version: a.local_version, objects }) {
                    return Flow::Close;
                }
            }
            for d in &a.dropped {
                self.inner.log(format!("file {ident} changeset {}: rule dropped {d}", a.local_version));
            }
            if !self.send(&ServerMessage::UploadAck { local_version: a.local_version, server_version: a.server_version }) {
                return Flow::Close;
            }
        }
        Flow::Continue
    }
}
