//! The sync session of a synced realm: connection state, progress, pause and resume, waiting for
//! upload and download, and the state-change and sync-error callbacks; the sync error object and
//! the enums that describe sync errors and client resets.

use super::observe::{driftsync_token_t, driftsync_user_data_free_fn, register};
use super::realm::driftsync_realm_t;
use super::types::*;
use crate::protocol::{ErrorAction, ResetCause, ServerErrorCode};
use crate::sync::{ConnectionState, SyncError, SyncSession};
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The connection state of a sync session.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_connection_state_t {
    /// Not connected (paused, waiting to reconnect, or stopped).
    DRIFTSYNC_CONNECTION_DISCONNECTED = 0,
    /// Connecting and binding to the server.
    DRIFTSYNC_CONNECTION_CONNECTING = 1,
    /// Bound: uploading and downloading.
    DRIFTSYNC_CONNECTION_CONNECTED = 2,
}

impl From<ConnectionState> for driftsync_connection_state_t {
    fn from(s: ConnectionState) -> Self {
        match s {
            ConnectionState::Disconnected => Self::DRIFTSYNC_CONNECTION_DISCONNECTED,
            ConnectionState::Connecting => Self::DRIFTSYNC_CONNECTION_CONNECTING,
            ConnectionState::Connected => Self::DRIFTSYNC_CONNECTION_CONNECTED,
        }
    }
}

/// Why the server demands a client reset (DESIGN "Reset causes").
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_reset_cause_t {
    /// No cause: not a reset demand (or a preview).
    DRIFTSYNC_RESET_CAUSE_NONE = 0,
    /// The server was restored from a backup.
    DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED = 1,
    /// Sync was terminated and re-enabled (the client file belongs to an old sync epoch).
    DRIFTSYNC_RESET_CAUSE_SYNC_REENABLED = 2,
    /// The client's schema has classes or properties the server lacks.
    DRIFTSYNC_RESET_CAUSE_CLIENT_SCHEMA_AHEAD = 3,
    /// The client was offline longer than the server's `client_max_offline_days`.
    DRIFTSYNC_RESET_CAUSE_CLIENT_TOO_OLD = 4,
    /// The server's schema changed in a breaking way (always a manual reset).
    DRIFTSYNC_RESET_CAUSE_BREAKING_SCHEMA_CHANGE = 5,
    /// The user's role, or the role's definition, changed since the client last synced.
    DRIFTSYNC_RESET_CAUSE_ROLE_CHANGED = 6,
}

pub(crate) fn cause_of(c: Option<ResetCause>) -> driftsync_reset_cause_t {
    use driftsync_reset_cause_t as C;
    match c {
        None => C::DRIFTSYNC_RESET_CAUSE_NONE,
        Some(ResetCause::ServerRestored) => C::DRIFTSYNC_RESET_CAUSE_SERVER_RESTORED,
        Some(ResetCause::SyncReenabled) => C::DRIFTSYNC_RESET_CAUSE_SYNC_REENABLED,
        Some(ResetCause::ClientSchemaAhead) => C::DRIFTSYNC_RESET_CAUSE_CLIENT_SCHEMA_AHEAD,
        Some(ResetCause::ClientTooOld) => C::DRIFTSYNC_RESET_CAUSE_CLIENT_TOO_OLD,
        Some(ResetCause::BreakingSchemaChange) => C::DRIFTSYNC_RESET_CAUSE_BREAKING_SCHEMA_CHANGE,
        Some(ResetCause::RoleChanged) => C::DRIFTSYNC_RESET_CAUSE_ROLE_CHANGED,
    }
}

/// What the client must do about a server error.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_error_action_t {
    /// Reset; recovery of unsynced changes is allowed.
    DRIFTSYNC_ERROR_ACTION_CLIENT_RESET = 0,
    /// Reset; unsynced changes cannot be recovered (discard or manual).
    DRIFTSYNC_ERROR_ACTION_CLIENT_RESET_NO_RECOVERY = 1,
    /// The session reconnects later by itself.
    DRIFTSYNC_ERROR_ACTION_RETRY = 2,
    /// The session stops (pauses) until the application resumes it.
    DRIFTSYNC_ERROR_ACTION_FATAL = 3,
    /// Informational; the session goes on.
    DRIFTSYNC_ERROR_ACTION_WARNING = 4,
}

pub(crate) fn action_of(a: ErrorAction) -> driftsync_error_action_t {
    use driftsync_error_action_t as A;
    match a {
        ErrorAction::ClientReset => A::DRIFTSYNC_ERROR_ACTION_CLIENT_RESET,
        ErrorAction::ClientResetNoRecovery => A::DRIFTSYNC_ERROR_ACTION_CLIENT_RESET_NO_RECOVERY,
        ErrorAction::Retry => A::DRIFTSYNC_ERROR_ACTION_RETRY,
        ErrorAction::Fatal => A::DRIFTSYNC_ERROR_ACTION_FATAL,
        ErrorAction::Warning => A::DRIFTSYNC_ERROR_ACTION_WARNING,
    }
}

/// The server's error code of a sync error.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_server_error_code_t {
    /// Not from the server: the connection failed or broke (action `RETRY`).
    DRIFTSYNC_SERVER_ERROR_NONE = 0,
    DRIFTSYNC_SERVER_ERROR_UNSUPPORTED_PROTOCOL_VERSION = 1,
    DRIFTSYNC_SERVER_ERROR_BAD_TOKEN = 2,
    DRIFTSYNC_SERVER_ERROR_UNKNOWN_REALM = 3,
    DRIFTSYNC_SERVER_ERROR_BAD_MESSAGE = 4,
    DRIFTSYNC_SERVER_ERROR_BAD_CHANGESET = 5,
    DRIFTSYNC_SERVER_ERROR_PERMISSION_DENIED = 6,
    DRIFTSYNC_SERVER_ERROR_CLIENT_RESET_REQUIRED = 7,
    DRIFTSYNC_SERVER_ERROR_SYNC_TERMINATED = 8,
    DRIFTSYNC_SERVER_ERROR_INTERNAL = 9,
}

fn code_of(c: Option<ServerErrorCode>) -> driftsync_server_error_code_t {
    use driftsync_server_error_code_t as E;
    match c {
        None => E::DRIFTSYNC_SERVER_ERROR_NONE,
        Some(ServerErrorCode::UnsupportedProtocolVersion) => E::DRIFTSYNC_SERVER_ERROR_UNSUPPORTED_PROTOCOL_VERSION,
        Some(ServerErrorCode::BadToken) => E::DRIFTSYNC_SERVER_ERROR_BAD_TOKEN,
        Some(ServerErrorCode::UnknownRealm) => E::DRIFTSYNC_SERVER_ERROR_UNKNOWN_REALM,
        Some(ServerErrorCode::BadMessage) => E::DRIFTSYNC_SERVER_ERROR_BAD_MESSAGE,
        Some(ServerErrorCode::BadChangeset) => E::DRIFTSYNC_SERVER_ERROR_BAD_CHANGESET,
        Some(ServerErrorCode::PermissionDenied) => E::DRIFTSYNC_SERVER_ERROR_PERMISSION_DENIED,
        Some(ServerErrorCode::ClientResetRequired) => E::DRIFTSYNC_SERVER_ERROR_CLIENT_RESET_REQUIRED,
        Some(ServerErrorCode::SyncTerminated) => E::DRIFTSYNC_SERVER_ERROR_SYNC_TERMINATED,
        Some(ServerErrorCode::Internal) => E::DRIFTSYNC_SERVER_ERROR_INTERNAL,
    }
}

/// The name of a reset cause as the server spells it (e.g. "server_restored"; "none" for
/// `DRIFTSYNC_RESET_CAUSE_NONE`): a static NUL-terminated string. `cause` is a
/// `driftsync_reset_cause_t` value; an unknown number gives "unknown".
#[unsafe(no_mangle)]
pub extern "C" fn driftsync_reset_cause_name(cause: i32) -> *const c_char {
    let name: &'static str = match cause {
        0 => "none\0",
        1 => "server_restored\0",
        2 => "sync_reenabled\0",
        3 => "client_schema_ahead\0",
        4 => "client_too_old\0",
        5 => "breaking_schema_change\0",
        6 => "role_changed\0",
        _ => "unknown\0",
    };
    name.as_ptr().cast()
}

/// Upload and download progress of a sync session, in versions.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct driftsync_sync_progress_t {
    /// The newest local version the server acknowledged.
    pub uploaded: u64,
    /// The newest local version (everything up to it is to be uploaded).
    pub uploadable: u64,
    /// The newest server version integrated locally.
    pub downloaded: u64,
    /// The newest server version known to exist.
    pub downloadable: u64,
}

/// A sync error: from the server (with its code, action and, for a reset demand, the cause), or
/// from the connection (code `DRIFTSYNC_SERVER_ERROR_NONE`, action `RETRY`). The error callback
/// receives a borrowed one (valid during the call); `driftsync_sync_error_clone` makes an owned
/// copy, freed with `driftsync_sync_error_free`.
pub struct driftsync_sync_error_t {
    pub(crate) error: SyncError,
    /// The callback's borrowed one: freeing it is a no-op.
    lent: bool,
}

/// The sync session of the handle's file, or `INVALID_ARGUMENT` for a realm without sync.
///
/// # Safety
/// `realm` must be NULL or a live handle.
unsafe fn session_arg(realm: *const driftsync_realm_t) -> FfiResult<Arc<SyncSession>> {
    // SAFETY: forwarded from the caller.
    let r = unsafe { super::realm::realm_arg(realm)? };
    if r.is_closed() {
        return Err(crate::Error::Closed.into());
    }
    r.sync_session().ok_or_else(|| Failure::invalid("the realm does not sync (its config has no sync settings)"))
}

/// The connection state of the realm's sync session. `DRIFTSYNC_STATUS_INVALID_ARGUMENT` for a
/// realm without sync settings (as for every `driftsync_realm_sync_*` call).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_state(
    realm: *const driftsync_realm_t,
    out_state: *mut driftsync_connection_state_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let s = unsafe { session_arg(realm)? };
        check_out(out_state, "out_state")?;
        write_out(out_state, s.state().into());
        Ok(())
    })
}

/// The upload and download progress of the realm's sync session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_progress(
    realm: *const driftsync_realm_t,
    out_progress: *mut driftsync_sync_progress_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let s = unsafe { session_arg(realm)? };
        check_out(out_progress, "out_progress")?;
        let p = s.progress();
        write_out(
            out_progress,
            driftsync_sync_progress_t {
                uploaded: p.uploaded,
                uploadable: p.uploadable,
                downloaded: p.downloaded,
                downloadable: p.downloadable,
            },
        );
        Ok(())
    })
}

/// Whether the realm's sync session is paused (by `driftsync_realm_sync_pause`, by
/// `driftsync_config_builder_set_start_paused`, after a fatal error or a manual reset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_is_paused(
    realm: *const driftsync_realm_t,
    out_paused: *mut bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let s = unsafe { session_arg(realm)? };
        check_out(out_paused, "out_paused")?;
        write_out(out_paused, s.is_paused());
        Ok(())
    })
}

/// Pauses the realm's sync session: it disconnects and stays disconnected until
/// `driftsync_realm_sync_resume`. Local writes go on and are uploaded after resuming.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_pause(
    realm: *const driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        unsafe { session_arg(realm)? }.pause();
        Ok(())
    })
}

/// Resumes a paused sync session (it connects again).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_resume(
    realm: *const driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        unsafe { session_arg(realm)? }.resume();
        Ok(())
    })
}

/// Blocks until every local change committed before this call is acknowledged by the server, or
/// `timeout_ms` milliseconds have passed (`DRIFTSYNC_STATUS_TIMEOUT`; `UINT64_MAX` waits without
/// limit). `DRIFTSYNC_STATUS_CLOSED` when the session stops meanwhile. When an error ends the
/// session (now or while waiting), it returns at once with that error: `AUTHENTICATION` (the
/// token was refused), `PERMISSION_DENIED`, `PROTOCOL`, `SYNC` (another fatal server error),
/// `CLIENT_RESET` (a reset handed to the manual handler, or an automatic reset that failed; the
/// error's cause names the reset cause). A retryable error (server down) leaves it waiting.
/// `driftsync_realm_sync_resume` starts the session again. Do not call it from a sync callback (it
/// would wait for the thread it blocks).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_wait_for_upload(
    realm: *const driftsync_realm_t,
    timeout_ms: u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let s = unsafe { session_arg(realm)? };
        Ok(s.wait_for_upload(Duration::from_millis(timeout_ms))?)
    })
}

/// Blocks until everything the server had when this call was made is integrated locally, or
/// `timeout_ms` milliseconds have passed (`DRIFTSYNC_STATUS_TIMEOUT`). As
/// `driftsync_realm_sync_wait_for_upload` otherwise.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_wait_for_download(
    realm: *const driftsync_realm_t,
    timeout_ms: u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let s = unsafe { session_arg(realm)? };
        Ok(s.wait_for_download(Duration::from_millis(timeout_ms))?)
    })
}

/// Called on every connection state change of a sync session.
///
/// Thread: the session's sync thread (a library thread), with no library lock held: the callback
/// may call into the library (read, write, pause, resume, free tokens), but must not wait for
/// upload or download.
pub type driftsync_sync_state_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, old_state: driftsync_connection_state_t, new_state: driftsync_connection_state_t)>;

/// Called with every sync error, reset demands included (before the reset runs). `error` is
/// borrowed for the call (`driftsync_sync_error_clone` keeps a copy).
///
/// Thread: the session's sync thread, as `driftsync_sync_state_fn`.
pub type driftsync_sync_error_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, error: *const driftsync_sync_error_t)>;

type StateCb = unsafe extern "C" fn(*mut c_void, driftsync_connection_state_t, driftsync_connection_state_t);
type ErrorCb = unsafe extern "C" fn(*mut c_void, *const driftsync_sync_error_t);

fn call_state_fn(cb: StateCb, user: &UserData, old: ConnectionState, new: ConnectionState) {
    // SAFETY: the application registered `cb` for `user.data`.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe { cb(user.data, old.into(), new.into()) }));
}

fn call_error_fn(cb: ErrorCb, user: &UserData, e: &SyncError) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let view = driftsync_sync_error_t { error: e.clone(), lent: true };
        // SAFETY: the application registered `cb` for `user.data`.
        unsafe { cb(user.data, &view) };
    }));
}

/// The connection-state handler of a config (`driftsync_config_builder_set_connection_state_handler`).
pub(crate) fn state_handler(cb: StateCb, user: Arc<UserData>) -> crate::sync::ConnectionStateHandler {
    Arc::new(move |old, new| call_state_fn(cb, &user, old, new))
}

/// The sync-error handler of a config (`driftsync_config_builder_set_sync_error_handler`).
pub(crate) fn error_handler(cb: ErrorCb, user: Arc<UserData>) -> crate::sync::SyncErrorHandler {
    Arc::new(move |e| call_error_fn(cb, &user, e))
}

/// Removes a session listener when dropped.
struct ListenerGuard {
    session: Weak<SyncSession>,
    id: u64,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        if let Some(s) = self.session.upgrade() {
            s.remove_listener(self.id);
        }
    }
}

/// Registers a session listener made by `add` (given the user data and the active flag).
///
/// # Safety
/// `realm` and `out_token` must be NULL or valid.
unsafe fn listen(
    realm: *const driftsync_realm_t,
    has_callback: bool,
    user: UserData,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
    add: impl FnOnce(&SyncSession, Arc<UserData>, Arc<AtomicBool>) -> u64,
) -> driftsync_status_t {
    let user = Arc::new(user);
    guard(out_error, move || {
        // SAFETY: NULL or a live realm handle.
        let handle = unsafe { realm.as_ref() }.ok_or_else(|| Failure::null("realm"))?;
        if !has_callback {
            return Err(Failure::null("callback"));
        }
        check_out(out_token, "out_token")?;
        // SAFETY: a live realm handle.
        let session = unsafe { session_arg(handle)? };
        let active = Arc::new(AtomicBool::new(true));
        let id = add(&session, user.clone(), active.clone());
        let unregister = ListenerGuard { session: Arc::downgrade(&session), id };
        write_out(out_token, register(handle, Box::new(unregister), active, user));
        Ok(())
    })
}

/// Calls `callback` on every connection state change of the realm's sync session (see
/// `driftsync_sync_state_fn` for its thread). Returns a token: `driftsync_token_free`
/// unregisters the callback. The library owns `user_data` from this call on: `user_data_free`
/// (optional) runs exactly once, after the token is freed and the callback can no longer run
/// (or, if the registration fails, before this function returns). Closing the realm handle
/// unregisters the callback too (the token must still be freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_on_state_change(
    realm: *const driftsync_realm_t,
    callback: driftsync_sync_state_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    let user = UserData { data: user_data, free: user_data_free };
    let add = |session: &SyncSession, user: Arc<UserData>, active: Arc<AtomicBool>| {
        let Some(cb) = callback else { return 0 };
        session.on_state_change(move |old, new| {
            if active.load(Ordering::SeqCst) {
                call_state_fn(cb, &user, old, new);
            }
        })
    };
    // SAFETY: forwarded from the caller.
    unsafe { listen(realm, callback.is_some(), user, out_token, out_error, add) }
}

/// Calls `callback` with every sync error of the realm's sync session (see
/// `driftsync_sync_error_fn`). Token and `user_data` as `driftsync_realm_sync_on_state_change`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_on_error(
    realm: *const driftsync_realm_t,
    callback: driftsync_sync_error_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    let user = UserData { data: user_data, free: user_data_free };
    let add = |session: &SyncSession, user: Arc<UserData>, active: Arc<AtomicBool>| {
        let Some(cb) = callback else { return 0 };
        session.on_error(move |e| {
            if active.load(Ordering::SeqCst) {
                call_error_fn(cb, &user, e);
            }
        })
    };
    // SAFETY: forwarded from the caller.
    unsafe { listen(realm, callback.is_some(), user, out_token, out_error, add) }
}

/// The last sync error of the realm's session, as an owned copy (free it with
/// `driftsync_sync_error_free`), or NULL in `*out_sync_error` when there was none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_sync_last_error(
    realm: *const driftsync_realm_t,
    out_sync_error: *mut *mut driftsync_sync_error_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let s = unsafe { session_arg(realm)? };
        check_out(out_sync_error, "out_sync_error")?;
        let e = s.last_error().map(|error| Box::into_raw(Box::new(driftsync_sync_error_t { error, lent: false })));
        write_out(out_sync_error, e.unwrap_or(std::ptr::null_mut()));
        Ok(())
    })
}

// ---- the sync error object -------------------------------------------------------------------

/// # Safety
/// `e` must be NULL or live.
unsafe fn sync_error_arg<'a>(e: *const driftsync_sync_error_t) -> FfiResult<&'a SyncError> {
    // SAFETY: forwarded from the caller.
    unsafe { e.as_ref() }.map(|e| &e.error).ok_or_else(|| Failure::null("sync_error"))
}

/// The server's error code (`DRIFTSYNC_SERVER_ERROR_NONE` for a connection error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_server_code(
    sync_error: *const driftsync_sync_error_t,
    out_code: *mut driftsync_server_error_code_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live sync error.
        let e = unsafe { sync_error_arg(sync_error)? };
        check_out(out_code, "out_code")?;
        write_out(out_code, code_of(e.server_code));
        Ok(())
    })
}

/// What the client does about the error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_action(
    sync_error: *const driftsync_sync_error_t,
    out_action: *mut driftsync_error_action_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live sync error.
        let e = unsafe { sync_error_arg(sync_error)? };
        check_out(out_action, "out_action")?;
        write_out(out_action, action_of(e.action));
        Ok(())
    })
}

/// Why the server demands a client reset (`DRIFTSYNC_RESET_CAUSE_NONE` for other errors).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_reset_cause(
    sync_error: *const driftsync_sync_error_t,
    out_cause: *mut driftsync_reset_cause_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live sync error.
        let e = unsafe { sync_error_arg(sync_error)? };
        check_out(out_cause, "out_cause")?;
        write_out(out_cause, cause_of(e.cause));
        Ok(())
    })
}

/// The error's message (UTF-8, not NUL-terminated), valid until the sync error is freed (or,
/// for the one the callback receives, until the callback returns).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_message(
    sync_error: *const driftsync_sync_error_t,
    out_message: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live sync error.
        let e = unsafe { sync_error_arg(sync_error)? };
        check_out(out_message, "out_message")?;
        write_out(out_message, str_view(&e.message));
        Ok(())
    })
}

/// Whether the session retries by itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_is_retryable(
    sync_error: *const driftsync_sync_error_t,
    out_retryable: *mut bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live sync error.
        let e = unsafe { sync_error_arg(sync_error)? };
        check_out(out_retryable, "out_retryable")?;
        write_out(out_retryable, e.retryable);
        Ok(())
    })
}

/// An owned copy of a sync error (for example of the borrowed one an error callback receives).
/// Free it with `driftsync_sync_error_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_clone(
    sync_error: *const driftsync_sync_error_t,
    out_clone: *mut *mut driftsync_sync_error_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live sync error.
        let e = unsafe { sync_error_arg(sync_error)? };
        check_out(out_clone, "out_clone")?;
        write_out(out_clone, Box::into_raw(Box::new(driftsync_sync_error_t { error: e.clone(), lent: false })));
        Ok(())
    })
}

/// Frees a sync error made by `driftsync_sync_error_clone` or `driftsync_realm_sync_last_error`
/// NULL, and the borrowed one an error callback receives, are no-ops.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_sync_error_free(sync_error: *mut driftsync_sync_error_t) {
    guard_value((), || {
        // SAFETY: NULL or a live sync error.
        if unsafe { sync_error.as_ref() }.is_some_and(|e| !e.lent) {
            // SAFETY: an owned sync error, freed once.
            drop(unsafe { Box::from_raw(sync_error) });
        }
    })
}
