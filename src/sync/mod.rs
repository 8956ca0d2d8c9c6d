//! The client sync session: one background thread per synced realm file that connects, binds,
//! uploads unsynced changesets, integrates downloads, reconnects with exponential backoff, and
//! hands reset demands to the client-reset pipeline.
//!
//! Threads: state and error callbacks, observers fired by integrated downloads, and client-reset
//! hooks all run on this session's sync thread.

mod connection;
pub mod integrate;

pub use connection::{ServerUrl, TlsOptions, WsConn, count_pem_certificates};

use crate::config::SyncConfig;
use crate::error::{Error, Result};
use crate::protocol::{self, Bind, ClientMessage, ErrorAction, ProtocolError, ResetCause, ServerErrorCode, ServerMessage, UploadChangeset};
use crate::realm::Realm;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
const UPLOAD_BATCH: usize = 500;
/// Stored changeset bytes in one upload message: far below the frame limit the server enforces
/// (a larger message is refused, and the retry would send it again, forever).
const UPLOAD_BATCH_BYTES: usize = protocol::MAX_FRAME_BYTES / 4;
/// Room in an upload message for what surrounds one changeset.
const UPLOAD_FRAME_MARGIN: usize = 64 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    Disconnected,
    Connecting,
    Connected,
}

/// A sync error as the app sees it: from the server (with its code, action and reset cause) or
/// from the connection (no code, action `Retry`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncError {
    pub server_code: Option<ServerErrorCode>,
    pub action: ErrorAction,
    pub cause: Option<ResetCause>,
    pub message: String,
    pub retryable: bool,
    /// With a `ServerRestored` reset: where the restored server history ends.
    pub restored_at: Option<u64>,
}

impl SyncError {
    fn from_protocol(e: ProtocolError) -> Self {
        SyncError {
            server_code: Some(e.code),
            action: e.action,
            cause: e.cause,
            message: e.message,
            retryable: e.retryable,
            restored_at: e.restored_at,
        }
    }
    fn connection(e: &Error) -> Self {
        SyncError { server_code: None, action: ErrorAction::Retry, cause: None, message: e.to_string(), retryable: true, restored_at: None }
    }
    pub fn is_client_reset(&self) -> bool {
        matches!(self.action, ErrorAction::ClientReset | ErrorAction::ClientResetNoRecovery)
    }

    /// The typed error a wait returns when this error ends the session.
    pub fn to_error(&self) -> Error {
        let message = self.message.clone();
        if self.is_client_reset() {
            return Error::ClientReset { cause: self.cause.map(|c| c.name().to_string()).unwrap_or_default(), message };
        }
        match self.server_code {
            Some(ServerErrorCode::BadToken) => Error::Authentication(message),
            Some(ServerErrorCode::PermissionDenied) => Error::PermissionDenied(message),
            Some(ServerErrorCode::UnsupportedProtocolVersion | ServerErrorCode::BadMessage | ServerErrorCode::BadChangeset) => {
                Error::Protocol(message)
            }
            _ => Error::Sync(message),
        }
    }
}

/// Upload and download progress, in versions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyncProgress {
    /// Newest local version the server acknowledged / newest local version.
    pub uploaded: u64,
    pub uploadable: u64,
    /// Newest server version integrated / newest server version known to exist.
    pub downloaded: u64,
    pub downloadable: u64,
}

type StateFn = dyn Fn(ConnectionState, ConnectionState) + Send + Sync;
type ErrorFn = dyn Fn(&SyncError) + Send + Sync;
/// A connection-state handler set on the sync configuration: `f(old, new)` on the sync thread.
pub type ConnectionStateHandler = Arc<StateFn>;
/// A sync-error handler set on the sync configuration: every sync error, on the sync thread.
pub type SyncErrorHandler = Arc<ErrorFn>;

struct Control {
    state: ConnectionState,
    paused: bool,
    stopped: bool,
    /// Something to do (a local commit to upload, a ping to send).
    wake: bool,
    progress: SyncProgress,
    ping_wanted: u64,
    pong_seen: u64,
    last_error: Option<SyncError>,
    /// The error that ended the session (fatal error, manual reset, failed automatic reset):
    /// every pending and later wait returns it, until `resume`.
    ended: Option<Error>,
}

/// The sync session of one realm file.
pub struct SyncSession {
    realm: Realm,
    config: SyncConfig,
    ctl: Mutex<Control>,
    changed: Condvar,
    state_listeners: Mutex<Vec<(u64, Arc<StateFn>)>>,
    error_listeners: Mutex<Vec<(u64, Arc<ErrorFn>)>>,
    next_listener: Mutex<u64>,
    thread: Mutex<Option<JoinHandle<()>>>,
    commit_listener: Mutex<Option<u64>>,
}

/// A connection the server accepted.
pub(crate) struct Bound {
    pub conn: WsConn,
    pub ident: u64,
    pub server_version: u64,
    pub epoch: u64,
    pub new_file: bool,
    /// The server offers range reconciliation of the fresh copy.
    pub reconcile: bool,
}

/// How one connection ended.
pub(crate) enum End {
    /// Paused or stopped by the app.
    Requested,
    Retry(SyncError),
    Fatal(SyncError),
    Reset(SyncError),
}

impl From<Error> for End {
    /// A URL the connection cannot use ends the session; any other local failure is retried.
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(_) => {
                End::Fatal(SyncError { action: ErrorAction::Fatal, retryable: false, ..SyncError::connection(&e) })
            }
            _ => End::Retry(SyncError::connection(&e)),
        }
    }
}

impl SyncSession {
    /// Starts the session of a synced realm if it is not running.
    pub(crate) fn ensure_started(realm: &Realm) -> Result<()> {
        let Some(config) = realm.shared.sync_config.lock().clone() else { return Ok(()) };
        let mut slot = realm.shared.sync.lock();
        if slot.as_ref().is_some_and(|s| !s.ctl.lock().stopped) {
            return Ok(());
        }
        let session = Arc::new(SyncSession {
            realm: realm.internal_handle(),
            ctl: Mutex::new(Control {
                state: ConnectionState::Disconnected,
                paused: config.start_paused,
                stopped: false,
                wake: true,
                progress: SyncProgress::default(),
                ping_wanted: 0,
                pong_seen: 0,
                last_error: None,
                ended: None,
            }),
            config,
            changed: Condvar::new(),
            state_listeners: Mutex::new(Vec::new()),
            error_listeners: Mutex::new(Vec::new()),
            next_listener: Mutex::new(0),
            thread: Mutex::new(None),
            commit_listener: Mutex::new(None),
        });
        // Handlers from the configuration are in place before the first connection.
        if let Some(f) = session.config.on_error.clone() {
            session.add_listener(&session.error_listeners, f);
        }
        if let Some(f) = session.config.on_state_change.clone() {
            session.add_listener(&session.state_listeners, f);
        }
        // Progress is known before connecting: what the server acknowledged and what is pending.
        let cursor = crate::sync_meta::cursor(realm)?;
        let last_local = realm.last_local_version()?;
        session.update_progress(|p| {
            p.uploaded = cursor.acked;
            p.uploadable = last_local.max(cursor.acked);
            p.downloaded = cursor.server_version;
            p.downloadable = cursor.server_version;
        });
        let weak = Arc::downgrade(&session);
        let id = realm.add_commit_listener(move |version| {
            if let Some(s) = weak.upgrade() {
                // Local changes count while offline too (0: nothing was recorded).
                s.update_progress(|p| p.uploadable = p.uploadable.max(version));
                s.poke();
            }
        });
        *session.commit_listener.lock() = Some(id);
        let runner = session.clone();
        let handle = std::thread::Builder::new()
            .name("driftsync-sync".into())
            .spawn(move || runner.run())
            .map_err(|e| Error::Internal(format!("cannot start the sync thread: {e}")))?;
        *session.thread.lock() = Some(handle);
        *slot = Some(session);
        Ok(())
    }

    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    pub(crate) fn realm(&self) -> &Realm {
        &self.realm
    }

    pub fn state(&self) -> ConnectionState {
        self.ctl.lock().state
    }

    pub fn progress(&self) -> SyncProgress {
        self.ctl.lock().progress
    }

    pub fn last_error(&self) -> Option<SyncError> {
        self.ctl.lock().last_error.clone()
    }

    pub fn is_paused(&self) -> bool {
        self.ctl.lock().paused
    }

    /// Disconnects and stays disconnected until `resume`.
    pub fn pause(&self) {
        self.ctl.lock().paused = true;
        self.changed.notify_all();
    }

    /// Resumes a paused session; after a session-ending error, waits wait again.
    pub fn resume(&self) {
        let mut c = self.ctl.lock();
        c.paused = false;
        c.ended = None;
        c.wake = true;
        drop(c);
        self.changed.notify_all();
    }

    /// Stops the session for good (the realm's last handle closed).
    pub(crate) fn stop(&self) {
        self.ctl.lock().stopped = true;
        self.changed.notify_all();
        if let Some(id) = self.commit_listener.lock().take() {
            self.realm.remove_commit_listener(id);
        }
        let handle = self.thread.lock().take();
        if let Some(h) = handle
            && h.thread().id() != std::thread::current().id()
        {
            let _ = h.join();
        }
    }

    fn poke(&self) {
        self.ctl.lock().wake = true;
        self.changed.notify_all();
    }

    fn add_listener<T: ?Sized>(&self, list: &Mutex<Vec<(u64, Arc<T>)>>, f: Arc<T>) -> u64 {
        let mut n = self.next_listener.lock();
        *n += 1;
        list.lock().push((*n, f));
        *n
    }

    /// Calls `f(old, new)` on every connection state change (on the sync thread).
    pub fn on_state_change(&self, f: impl Fn(ConnectionState, ConnectionState) + Send + Sync + 'static) -> u64 {
        self.add_listener(&self.state_listeners, Arc::new(f))
    }

    /// Calls `f` with every sync error, reset demands included (on the sync thread).
    pub fn on_error(&self, f: impl Fn(&SyncError) + Send + Sync + 'static) -> u64 {
        self.add_listener(&self.error_listeners, Arc::new(f))
    }

    pub fn remove_listener(&self, id: u64) {
        self.state_listeners.lock().retain(|(i, _)| *i != id);
        self.error_listeners.lock().retain(|(i, _)| *i != id);
    }

    /// Waits until every local change committed before this call is acknowledged by the server.
    /// A timeout too large to be a deadline (`Duration::MAX`) waits without limit. Ends at once
    /// with the session's error when a fatal error, a manual reset or a failed automatic reset
    /// ends the session (now or while waiting); a retryable error leaves it waiting.
    pub fn wait_for_upload(&self, timeout: Duration) -> Result<()> {
        let target = self.realm.last_local_version()?;
        let mut c = self.ctl.lock();
        c.wake = true;
        self.changed.notify_all();
        self.wait_while(&mut c, timeout, |c| c.progress.uploaded < target)
            .map_err(|c| Error::Timeout(format!("upload not complete: {} of {target} acknowledged", c.progress.uploaded)))?
    }

    /// Waits until everything the server had when this call was made is integrated locally. As
    /// `wait_for_upload` for the timeout and the session's error.
    pub fn wait_for_download(&self, timeout: Duration) -> Result<()> {
        let mut c = self.ctl.lock();
        c.ping_wanted += 1;
        let nonce = c.ping_wanted;
        c.wake = true;
        self.changed.notify_all();
        self.wait_while(&mut c, timeout, |c| c.pong_seen < nonce).map_err(|_| Error::Timeout("download not complete".into()))?
    }

    /// Sleeps while `pending` holds. Ok(Err(e)) when the session stopped or ended with `e`;
    /// Err(control) when `timeout` passed first (for the caller's timeout message).
    fn wait_while<'a>(
        &self,
        c: &'a mut parking_lot::MutexGuard<'_, Control>,
        timeout: Duration,
        pending: impl Fn(&Control) -> bool,
    ) -> std::result::Result<Result<()>, &'a Control> {
        let deadline = Instant::now().checked_add(timeout);
        while pending(c) {
            if c.stopped {
                return Ok(Err(Error::Closed));
            }
            if let Some(e) = &c.ended {
                return Ok(Err(e.clone()));
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(c, d).timed_out() && pending(c) && c.ended.is_none() {
                        return Err(c);
                    }
                }
                None => self.changed.wait(c),
            }
        }
        Ok(Ok(()))
    }

    /// Ends the session with `error`: every pending and later wait returns it until `resume`.
    /// The session stays paused.
    pub(crate) fn end_with(&self, error: Error) {
        log::warn!(target: "driftsync::sync", "session of {} ended: {error}", self.realm.path().display());
        let mut c = self.ctl.lock();
        c.paused = true;
        c.ended = Some(error);
        drop(c);
        self.changed.notify_all();
    }

    fn set_state(&self, new: ConnectionState) {
        let old = {
            let mut c = self.ctl.lock();
            std::mem::replace(&mut c.state, new)
        };
        self.changed.notify_all();
        if old != new {
            let ls: Vec<_> = self.state_listeners.lock().iter().map(|(_, f)| f.clone()).collect();
            for f in ls {
                f(old, new);
            }
        }
    }

    pub(crate) fn report_error(&self, e: &SyncError) {
        self.ctl.lock().last_error = Some(e.clone());
        self.changed.notify_all();
        let ls: Vec<_> = self.error_listeners.lock().iter().map(|(_, f)| f.clone()).collect();
        for f in ls {
            f(e);
        }
    }

    fn update_progress(&self, f: impl FnOnce(&mut SyncProgress)) {
        f(&mut self.ctl.lock().progress);
        self.changed.notify_all();
    }

    /// Sleeps until runnable (not paused); false once stopped.
    fn wait_runnable(&self) -> bool {
        let mut c = self.ctl.lock();
        while c.paused && !c.stopped {
            self.changed.wait(&mut c);
        }
        !c.stopped
    }

    /// Sleeps for `d`, waking early on pause, resume or stop.
    fn backoff_sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut c = self.ctl.lock();
        while !c.stopped && !c.paused && Instant::now() < deadline {
            if self.changed.wait_until(&mut c, deadline).timed_out() {
                break;
            }
        }
    }

    fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        while self.wait_runnable() {
            self.set_state(ConnectionState::Connecting);
            let end = self.connect_and_sync();
            self.set_state(ConnectionState::Disconnected);
            match end {
                End::Requested => backoff = Duration::from_millis(100),
                End::Retry(e) => {
                    log::info!(target: "driftsync::sync", "connection ended, retrying in {} ms: {}", backoff.as_millis(), e.message);
                    self.report_error(&e);
                    self.backoff_sleep(backoff + Duration::from_millis(rand::random::<u64>() % 50));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                End::Fatal(e) => {
                    log::error!(target: "driftsync::sync", "fatal sync error {:?}: {}", e.server_code, e.message);
                    // Waits end before the handlers run, so a slow handler cannot hold them.
                    self.end_with(e.to_error());
                    self.report_error(&e);
                }
                End::Reset(e) => {
                    log::warn!(target: "driftsync::reset", "the server demands a client reset ({:?}, {:?}): {}", e.cause, e.action, e.message);
                    self.report_error(&e);
                    match crate::reset::handle_reset_demand(&self, &e) {
                        Ok(crate::reset::AfterReset::Reconnect) => backoff = Duration::from_millis(100),
                        Ok(crate::reset::AfterReset::Retry) => {
                            self.backoff_sleep(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                        // The manual path ended the session before calling the handler.
                        Ok(crate::reset::AfterReset::Pause) => self.ctl.lock().paused = true,
                        Err(err) => {
                            log::error!(target: "driftsync::reset", "automatic client reset failed: {err}");
                            let cause = e.cause.map(|c| c.name().to_string()).unwrap_or_default();
                            self.end_with(Error::ClientReset { cause, message: format!("automatic client reset failed: {err}") });
                            let se = SyncError::connection(&err);
                            self.report_error(&SyncError { action: ErrorAction::Fatal, retryable: false, ..se });
                        }
                    }
                }
            }
        }
        self.set_state(ConnectionState::Disconnected);
    }

    fn should_stop(&self) -> bool {
        let c = self.ctl.lock();
        c.stopped || c.paused
    }

    /// Opens a connection and sends `Bind`; returns the connection and the server's `BindOk`
    /// fields (ident, server version, salt, new_file), or how it ended.
    pub(crate) fn bind(&self, completing_reset: bool, fresh_ident: bool) -> std::result::Result<Bound, End> {
        let cursor = crate::sync_meta::cursor(&self.realm)?;
        log::debug!(target: "driftsync::sync", "connecting to {} for {}", self.config.server_url, self.realm.path().display());
        let mut conn = WsConn::open(&self.config.server_url, CONNECT_TIMEOUT, &self.config.tls_options()).map_err(|e| match e {
            // A certificate this client does not trust: trying again cannot help.
            Error::PermissionDenied(_) => {
                End::Fatal(SyncError { action: ErrorAction::Fatal, retryable: false, ..SyncError::connection(&e) })
            }
            other => End::from(other),
        })?;
        let (ident, sv, salt) = if fresh_ident { (None, 0, 0) } else { (cursor.ident, cursor.server_version, cursor.salt) };
        conn.send(&ClientMessage::Bind(Bind {
            protocol_version: protocol::PROTOCOL_VERSION,
            token: self.config.user_token.clone(),
            realm: self.config.realm_name.clone(),
            client_file_ident: ident,
            server_version: sv,
            salt,
            schema_json: self.realm.schema().to_json(),
            completing_reset,
        }))?;
        match conn.recv_required(ANSWER_TIMEOUT)? {
            ServerMessage::BindOk { client_file_ident, server_version, epoch, new_file, reconcile, .. } => {
                log::info!(target: "driftsync::sync", "bound {} as client file {client_file_ident} (server version {server_version}, new file: {new_file})", self.realm.path().display());
                Ok(Bound { conn, ident: client_file_ident, server_version, epoch, new_file, reconcile })
            }
            ServerMessage::Error(e) => Err(classify(e)),
            other => Err(End::Retry(SyncError::connection(&Error::Protocol(format!("expected BindOk, got {other:?}"))))),
        }
    }

    fn connect_and_sync(&self) -> End {
        match self.sync_once() {
            Ok(()) => End::Requested,
            Err(end) => end,
        }
    }

    fn sync_once(&self) -> std::result::Result<(), End> {
        let pending_reset = crate::reset::pending_reset(&self.realm)?;
        let mut bound = self.bind(pending_reset.is_some(), false)?;
        if bound.new_file {
            // A new client file: pull the server state and merge the local data into it.
            crate::reset::bootstrap(self, &mut bound)?;
        }
        let latest = bound.server_version;
        let mut conn = bound.conn;
        if pending_reset.is_some() {
            // After a reset, a completed download is half of what clears the pending record.
            self.ctl.lock().ping_wanted += 1;
        }
        self.set_state(ConnectionState::Connected);
        let cursor = crate::sync_meta::cursor(&self.realm)?;
        self.update_progress(|p| {
            p.downloaded = cursor.server_version;
            p.downloadable = p.downloadable.max(latest);
            p.uploaded = cursor.acked;
        });
        conn.send(&ClientMessage::StartDownload { after: cursor.server_version })?;
        let mut sent_through = cursor.acked;
        let mut pings_sent = self.ctl.lock().pong_seen;
        loop {
            if self.should_stop() {
                conn.close();
                return Ok(());
            }
            // Upload what is new.
            let last_local = self.realm.last_local_version()?;
            self.update_progress(|p| p.uploadable = last_local);
            if last_local > sent_through {
                let (batch, first_bytes) =
                    self.realm.read(|c, _| crate::sync_meta::upload_batch(c, sent_through, UPLOAD_BATCH, UPLOAD_BATCH_BYTES))?;
                if first_bytes + UPLOAD_FRAME_MARGIN > protocol::MAX_FRAME_BYTES {
                    // No upload can carry it: retrying cannot help, so the session ends now.
                    let version = batch.first().map_or(0, |c| c.local_version);
                    let e = Error::Sync(format!(
                        "local changeset {version} is {first_bytes} bytes: more than one upload message can carry ({} bytes)",
                        protocol::MAX_FRAME_BYTES
                    ));
                    return Err(End::Fatal(SyncError { action: ErrorAction::Fatal, retryable: false, ..SyncError::connection(&e) }));
                }
                if let Some(last) = batch.last() {
                    sent_through = last.local_version;
                    let base = crate::sync_meta::cursor(&self.realm)?.server_version;
                    let changesets = batch.into_iter().map(|changeset| UploadChangeset { base_server_version: base, changeset }).collect();
                    conn.send(&ClientMessage::Upload { changesets })?;
                    if pending_reset.is_some() {
                        crate::reset::crash_point("during_upload");
                    }
                }
            }
            // Answer download-completion waiters.
            let wanted = self.ctl.lock().ping_wanted;
            if wanted > pings_sent {
                conn.send(&ClientMessage::Ping { nonce: wanted })?;
                pings_sent = wanted;
            }
            let Some(msg) = conn.recv(POLL)? else {
                continue;
            };
            match msg {
                ServerMessage::Download { changesets, latest_server_version, latest_salt } => {
                    integrate::integrate_download(&self.realm, &changesets, latest_server_version, latest_salt)?;
                    if pending_reset.is_some() {
                        crate::reset::note_sync_progress(&self.realm, true)?;
                    }
                    self.update_progress(|p| {
                        p.downloaded = p.downloaded.max(latest_server_version);
                        p.downloadable = p.downloadable.max(latest_server_version);
                    });
                }
                ServerMessage::UploadAck { local_version, server_version } => {
                    integrate::apply_ack(&self.realm, local_version, server_version)?;
                    if pending_reset.is_some() {
                        crate::reset::note_sync_progress(&self.realm, false)?;
                    }
                    self.update_progress(|p| {
                        p.uploaded = p.uploaded.max(local_version);
                        p.downloadable = p.downloadable.max(server_version);
                    });
                }
                ServerMessage::Pong { nonce, latest_server_version } => {
                    self.update_progress(|p| p.downloadable = p.downloadable.max(latest_server_version));
                    if pending_reset.is_some() {
                        crate::reset::note_sync_progress(&self.realm, true)?;
                    }
                    let mut c = self.ctl.lock();
                    c.pong_seen = c.pong_seen.max(nonce);
                    drop(c);
                    self.changed.notify_all();
                }
                ServerMessage::Compensate { local_version, objects } => {
                    integrate::apply_compensation(&self.realm, local_version, &objects)?;
                }
                ServerMessage::Error(e) if e.action == ErrorAction::Warning => self.report_error(&SyncError::from_protocol(e)),
                ServerMessage::Error(e) => return Err(classify(e)),
                other => {
                    return Err(End::Retry(SyncError::connection(&Error::Protocol(format!("unexpected message {other:?}")))));
                }
            }
        }
    }
}

fn classify(e: ProtocolError) -> End {
    let se = SyncError::from_protocol(e);
    match se.action {
        ErrorAction::ClientReset | ErrorAction::ClientResetNoRecovery => End::Reset(se),
        ErrorAction::Fatal => End::Fatal(se),
        ErrorAction::Retry | ErrorAction::Warning => End::Retry(se),
    }
}

impl Drop for SyncSession {
    fn drop(&mut self) {
        self.ctl.lock().stopped = true;
    }
}
