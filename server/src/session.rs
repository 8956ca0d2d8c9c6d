//! One client connection: a thread that reads a message if one is there (short read timeout),
//! handles it, then pushes any server versions the client has not seen yet.

use crate::config::RoleDef;
use crate::realms::{self, MAX_DOWNLOAD_BYTES, MAX_DOWNLOAD_CHANGESETS, Pending, RealmSlot, UploadError};
use crate::{ConnEntry, Inner, KICK_NONE, KICK_RESET, KICK_SHUTDOWN, KICK_TERMINATED};
use driftsync::changeset::{Changeset, Instruction};
use driftsync::protocol::{
    self, Bind, ClientMessage, DownloadChangeset, ErrorAction, MAX_FRAME_BYTES, PROTOCOL_VERSION, ProtocolError, ResetCause,
    ServerErrorCode, ServerMessage, UploadChangeset,
};
use driftsync::schema::AdditiveChange;
use driftsync::{PrimaryKey, Schema};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long a connection waits for input before it looks for new server versions to push.
const POLL: Duration = Duration::from_millis(5);
/// How long the WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(MAX_FRAME_BYTES)).max_frame_size(Some(MAX_FRAME_BYTES))
}

pub(crate) fn serve(inner: Arc<Inner>, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    if stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() || stream.set_write_timeout(Some(Duration::from_secs(30))).is_err() {
        return;
    }
    let Ok(ws) = tungstenite::accept_with_config(stream, Some(ws_config())) else { return };
    if ws.get_ref().set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut s =
        Session { inner: inner.clone(), ws, id, bound: None, download: None, kick: Arc::new(AtomicU8::new(KICK_NONE)), last_touch: 0 };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.run()));
    if outcome.is_err() {
        // A bug, not bad input (input is checked): keep the server healthy. A write
        // transaction this thread left open would block the realm for everyone.
        eprintln!("driftsync-server: connection {id} panicked; closing it");
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
    ws: WebSocket<TcpStream>,
    id: u64,
    bound: Option<Bound>,
    download: Option<DownloadState>,
    kick: Arc<AtomicU8>,
    last_touch: i64,
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
                None if cp.optional || cp.list => extras.push(AdditiveChange::AddProperty { class: cc.name.clone(), property: cp.clone() }),
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
            let flow = match self.ws.read() {
                Ok(Message::Binary(bytes)) => self.on_binary(&bytes),
                Ok(Message::Text(_)) => self.fail(fatal(
                    ServerErrorCode::BadMessage,
                    "text frames are not part of the protocol; send MessagePack in binary frames",
                )),
                Ok(_) => Flow::Continue, // ping/pong/close are answered by tungstenite
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    Flow::Continue
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return,
                Err(tungstenite::Error::Capacity(e)) => {
                    self.fail(fatal(ServerErrorCode::BadMessage, format!("frame refused: {e} (the limit is {MAX_FRAME_BYTES} bytes)")))
                }
                Err(tungstenite::Error::Protocol(e)) => {
                    self.fail(fatal(ServerErrorCode::BadMessage, format!("websocket protocol error: {e}")))
                }
                Err(tungstenite::Error::Utf8(e)) => self.fail(fatal(ServerErrorCode::BadMessage, format!("invalid UTF-8: {e}"))),
                Err(_) => return,
            };
            if let Flow::Close = flow {
                return;
            }
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
            }
            match self.ws.flush() {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }

    /// Closes the connection if an admin command asked for it; true when closed.
    fn handle_kick(&mut self) -> bool {
        match self.kick.load(Ordering::SeqCst) {
            KICK_NONE => false,
            KICK_TERMINATED => {
                self.fail(error(ServerErrorCode::SyncTerminated, ErrorAction::Retry, "sync was terminated by the server administrator"));
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
        if let ClientMessage::Admin { admin_token, command } = msg {
            let (ok, output) = match crate::admin::run_authorized(&self.inner, &admin_token, command) {
                Ok(out) => (true, out),
                Err(e) => (false, e.0),
            };
            return if self.send(&ServerMessage::AdminResult { ok, output }) { Flow::Continue } else { Flow::Close };
        }
        let inner = self.inner.clone();
        let _gate = inner.gate.read();
        if self.handle_kick() {
            return Flow::Close;
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
                    ConnEntry { ident: bound.ident, realm: bound.realm.clone(), user: bound.user.clone(), kick: self.kick.clone() },
                );
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
        let (user, role_name, role, sync_enabled, server_schema) = {
            let db = self.inner.db.lock();
            let Some((name, u)) = db.cat.user_by_token(&b.token) else {
                return Err(fatal(ServerErrorCode::BadToken, "unknown user token"));
            };
            (name.clone(), u.role.clone(), db.cat.roles.get(&u.role).cloned(), db.cat.sync_enabled, db.cat.schema.clone())
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
                        Some(r) if r.realm == b.realm => r,
                        _ => {
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
        let bound = Bound { ident, realm: b.realm.clone(), user, role, last_integrated };
        let msg =
            ServerMessage::BindOk { client_file_ident: ident, server_version: head.version, salt: head.salt, epoch, schema_json, new_file };
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
                    origin_file: r.origin_file,
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
