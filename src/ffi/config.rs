//! The realm configuration builder: path, schema, write timeout, sync settings, and the
//! client-reset settings (mode, hooks, manual handler, backups, download progress).

use super::observe::driftsync_user_data_free_fn;
use super::reset::{
    after_hook, after_hook_v2, before_hook, before_hook_v2, driftsync_after_reset_fn, driftsync_after_reset_v2_fn,
    driftsync_before_reset_fn, driftsync_before_reset_v2_fn, driftsync_download_progress_fn, driftsync_manual_reset_fn, manual_handler,
    mode_of, progress_fn,
};
use super::schema::driftsync_schema_t;
use super::sync::{driftsync_sync_error_fn, driftsync_sync_state_fn, error_handler, state_handler};
use super::types::*;
use crate::config::{RealmConfig, SyncConfig};
use crate::reset::{AfterHook, BeforeHook, ClientResetMode, ManualHandler, ProgressFn};
use crate::schema::Schema;
use crate::sync::{ConnectionStateHandler, SyncErrorHandler};
use parking_lot::Mutex;
use std::ffi::{c_char, c_void};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What to do with unsynced changes when the server demands a client reset.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_client_reset_mode_t {
    /// Hand the reset to the application (the realm is backed up first).
    DRIFTSYNC_CLIENT_RESET_MANUAL = 0,
    /// Replace the local state with the server's; unsynced changes are reported and dropped.
    DRIFTSYNC_CLIENT_RESET_DISCARD_UNSYNCED_CHANGES = 1,
    /// Replay unsynced changes on top of the server's state; when recovery is not allowed, manual.
    DRIFTSYNC_CLIENT_RESET_RECOVER_UNSYNCED_CHANGES = 2,
    /// Recover when allowed, else discard (the default).
    DRIFTSYNC_CLIENT_RESET_RECOVER_OR_DISCARD_UNSYNCED_CHANGES = 3,
}

#[derive(Default)]
struct Draft {
    path: Option<PathBuf>,
    schema: Option<Schema>,
    write_timeout: Option<Duration>,
    sync: Option<SyncConfig>,
    reset_mode: Option<ClientResetMode>,
    backup_dir: Option<PathBuf>,
    start_paused: Option<bool>,
    keep_backup: Option<bool>,
    before: Option<BeforeHook>,
    after: Option<AfterHook>,
    manual: Option<ManualHandler>,
    progress: Option<ProgressFn>,
    trusted_ca_pem: Vec<String>,
    allow_cleartext: Option<bool>,
    on_error: Option<SyncErrorHandler>,
    on_state: Option<ConnectionStateHandler>,
}

impl Draft {
    fn has_reset_settings(&self) -> bool {
        self.reset_mode.is_some()
            || self.backup_dir.is_some()
            || self.start_paused.is_some()
            || self.keep_backup.is_some()
            || self.before.is_some()
            || self.after.is_some()
            || self.manual.is_some()
            || self.progress.is_some()
            || !self.trusted_ca_pem.is_empty()
            || self.allow_cleartext.is_some()
            || self.on_error.is_some()
            || self.on_state.is_some()
    }
}

/// A realm configuration under construction. Create with `driftsync_config_builder_new`;
/// consumed by `driftsync_config_builder_build` (or released with
/// `driftsync_config_builder_free`). A path and a schema are required.
pub struct driftsync_config_builder_t {
    draft: Mutex<Draft>,
}

/// A complete realm configuration, for `driftsync_realm_open` (which copies it: the config may be
/// freed right after). Release it with `driftsync_config_free`.
pub struct driftsync_config_t {
    pub(crate) config: RealmConfig,
}

fn with_builder(builder: *mut driftsync_config_builder_t, f: impl FnOnce(&mut Draft) -> FfiResult<()>) -> FfiResult<()> {
    // SAFETY: NULL or a live builder.
    let b = unsafe { builder.as_ref() }.ok_or_else(|| Failure::null("builder"))?;
    f(&mut b.draft.lock())
}

/// A new, empty config builder. Returns NULL only if the library failed internally.
#[unsafe(no_mangle)]
pub extern "C" fn driftsync_config_builder_new() -> *mut driftsync_config_builder_t {
    guard_value(std::ptr::null_mut(), || Box::into_raw(Box::new(driftsync_config_builder_t { draft: Mutex::new(Draft::default()) })))
}

/// Sets the path of the realm file (created on open if missing; its directory must exist).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_path(
    builder: *mut driftsync_config_builder_t,
    path: *const c_char,
    path_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes a readable string.
        let path = unsafe { str_arg(path, path_len, "path")? };
        if path.is_empty() {
            return Err(Failure::invalid("the path is empty"));
        }
        with_builder(builder, |d| {
            d.path = Some(PathBuf::from(path));
            Ok(())
        })
    })
}

/// Sets the schema (copied: `schema` stays owned by the caller).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_schema(
    builder: *mut driftsync_config_builder_t,
    schema: *const driftsync_schema_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live schema.
        let schema = unsafe { schema.as_ref() }.ok_or_else(|| Failure::null("schema"))?;
        with_builder(builder, |d| {
            d.schema = Some(schema.schema.clone());
            Ok(())
        })
    })
}

/// Sets how long `driftsync_realm_begin_write` waits for another writer before failing with
/// `DRIFTSYNC_STATUS_BUSY` (default 10 000 ms).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_write_timeout_ms(
    builder: *mut driftsync_config_builder_t,
    timeout_ms: u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        with_builder(builder, |d| {
            d.write_timeout = Some(Duration::from_millis(timeout_ms));
            Ok(())
        })
    })
}

/// Makes the realm a synced one: the server's URL (`ws://host:port`), the user's token and the
/// server-side realm name. Every commit of a synced realm is recorded for upload.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_sync(
    builder: *mut driftsync_config_builder_t,
    server_url: *const c_char,
    server_url_len: usize,
    user_token: *const c_char,
    user_token_len: usize,
    realm_name: *const c_char,
    realm_name_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes readable strings.
        let (url, token, name) = unsafe {
            (
                str_arg(server_url, server_url_len, "server_url")?,
                str_arg(user_token, user_token_len, "user_token")?,
                str_arg(realm_name, realm_name_len, "realm_name")?,
            )
        };
        with_builder(builder, |d| {
            d.sync = Some(SyncConfig::new(url, token, name));
            Ok(())
        })
    })
}

/// Sets the client reset mode (`mode` is a `driftsync_client_reset_mode_t`; another number gives
/// `DRIFTSYNC_STATUS_INVALID_ARGUMENT`). It needs sync settings by the time the builder is built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_client_reset_mode(
    builder: *mut driftsync_config_builder_t,
    mode: i32,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        let mode = match mode {
            0 => ClientResetMode::Manual,
            1 => ClientResetMode::DiscardUnsyncedChanges,
            2 => ClientResetMode::RecoverUnsyncedChanges,
            3 => ClientResetMode::RecoverOrDiscardUnsyncedChanges,
            other => return Err(Failure::invalid(format!("{other} is not a driftsync_client_reset_mode_t"))),
        };
        with_builder(builder, |d| {
            d.reset_mode = Some(mode);
            Ok(())
        })
    })
}

/// Sets the directory where a manual client reset keeps the backup of the realm. It needs sync
/// settings by the time the builder is built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_backup_dir(
    builder: *mut driftsync_config_builder_t,
    path: *const c_char,
    path_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes a readable string.
        let path = unsafe { str_arg(path, path_len, "path")? };
        with_builder(builder, |d| {
            d.backup_dir = Some(PathBuf::from(path));
            Ok(())
        })
    })
}

/// Adds a trusted CA certificate (PEM text, one or more certificates) for `wss://` servers, on
/// top of the system's root certificates; call once per CA. Text holding no PEM certificate
/// gives `DRIFTSYNC_STATUS_INVALID_ARGUMENT`. It needs sync settings by the time the builder is
/// built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_add_trusted_ca_pem(
    builder: *mut driftsync_config_builder_t,
    pem: *const c_char,
    pem_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes a readable string.
        let pem = unsafe { str_arg(pem, pem_len, "pem")? };
        if crate::sync::count_pem_certificates(pem)? == 0 {
            return Err(Failure::invalid("the PEM text holds no certificate"));
        }
        with_builder(builder, |d| {
            d.trusted_ca_pem.push(pem.to_string());
            Ok(())
        })
    })
}

/// Allows a `ws://` (cleartext) server URL whose host is not loopback. Without it such a URL
/// makes `driftsync_realm_open` fail with `DRIFTSYNC_STATUS_INVALID_ARGUMENT`. It needs sync
/// settings by the time the builder is built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_allow_cleartext(
    builder: *mut driftsync_config_builder_t,
    allow: bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        with_builder(builder, |d| {
            d.allow_cleartext = Some(allow);
            Ok(())
        })
    })
}

/// Makes the sync session start paused: it does not connect until `driftsync_realm_sync_resume`.
/// Needs sync settings by the time the builder is built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_start_paused(
    builder: *mut driftsync_config_builder_t,
    start_paused: bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        with_builder(builder, |d| {
            d.start_paused = Some(start_paused);
            Ok(())
        })
    })
}

/// Keeps a copy of the realm as it was before each automatic client reset, in the backup
/// directory; its path is in the reset report. Needs sync settings by the time the builder is
/// built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_keep_backup(
    builder: *mut driftsync_config_builder_t,
    keep_backup: bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        with_builder(builder, |d| {
            d.keep_backup = Some(keep_backup);
            Ok(())
        })
    })
}

/// Installs one callback setting. `user` is made before anything is checked, so that it is
/// dropped (and `user_data_free` runs) on every failure path.
fn set_callback(
    builder: *mut driftsync_config_builder_t,
    user: UserData,
    out_error: *mut *mut driftsync_error_t,
    set: impl FnOnce(&mut Draft, Arc<UserData>),
) -> driftsync_status_t {
    let user = Arc::new(user);
    guard(out_error, move || {
        with_builder(builder, |d| {
            set(d, user);
            Ok(())
        })
    })
}

/// Sets the before-reset hook (see `driftsync_before_reset_fn`); NULL `callback` removes it.
/// The library owns `user_data` from this call on: `user_data_free` (optional) runs exactly once,
/// when nothing holds the hook any more: the builder (if it is freed, fails to build, or the hook
/// is replaced), else the config and every realm opened from it (after `driftsync_config_free`
/// and the close of the file's last realm handle, which stops its sync thread). It may then run
/// on the sync thread. If this call fails it runs before the call returns. The same holds for
/// the other callback setters of the builder. Needs sync settings by the time the builder is
/// built.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_before_reset(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_before_reset_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.before = callback.map(|cb| before_hook(cb, user));
    })
}

/// Sets the after-reset hook (see `driftsync_after_reset_fn`); NULL `callback` removes it.
/// `user_data` as `driftsync_config_builder_set_before_reset`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_after_reset(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_after_reset_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.after = callback.map(|cb| after_hook(cb, user));
    })
}

/// Sets the before-reset hook in its version 2 form (see `driftsync_before_reset_v2_fn`): the
/// hook can fail with a message of its own (`driftsync_hook_result_fail`), which becomes the
/// report's before-hook error. It replaces a hook set by `driftsync_config_builder_set_before_reset`
/// and the other way round (the last call wins); NULL `callback` removes it. `user_data` as
/// `driftsync_config_builder_set_before_reset` (the hook runs on the sync thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_before_reset_v2(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_before_reset_v2_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.before = callback.map(|cb| before_hook_v2(cb, user));
    })
}

/// Sets the after-reset hook in its version 2 form (see `driftsync_after_reset_v2_fn`): the hook
/// can fail with a message of its own (`driftsync_hook_result_fail`), which becomes the report's
/// after-hook error. It replaces a hook set by `driftsync_config_builder_set_after_reset` and the
/// other way round (the last call wins); NULL `callback` removes it. `user_data` as
/// `driftsync_config_builder_set_before_reset` (the hook runs on the sync thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_after_reset_v2(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_after_reset_v2_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.after = callback.map(|cb| after_hook_v2(cb, user));
    })
}

/// Sets the manual reset handler (see `driftsync_manual_reset_fn`): called for a reset in
/// `MANUAL` mode, and as the fallback of the automatic modes (a reset that cannot be recovered, a
/// breaking schema change, a failed before hook). NULL `callback` removes it. `user_data` as
/// `driftsync_config_builder_set_before_reset`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_manual_reset_handler(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_manual_reset_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.manual = callback.map(|cb| manual_handler(cb, user));
    })
}

/// Sets the download-progress callback of client-reset fresh copies (see
/// `driftsync_download_progress_fn`); NULL `callback` removes it. `user_data` as
/// `driftsync_config_builder_set_before_reset`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_download_progress(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_download_progress_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.progress = callback.map(|cb| progress_fn(cb, user));
    })
}

/// Sets the sync-error handler (see `driftsync_sync_error_fn`): every sync error of the session,
/// from the first connection on (a refused token, a server that cannot be reached, reset
/// demands). Unlike `driftsync_realm_sync_on_error`, it is in place before `driftsync_realm_open`
/// returns, so no error is missed. NULL `callback` removes it. `user_data` as
/// `driftsync_config_builder_set_before_reset` (it runs on the sync thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_sync_error_handler(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_sync_error_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.on_error = callback.map(|cb| error_handler(cb, user));
    })
}

/// Sets the connection-state handler (see `driftsync_sync_state_fn`): every connection state
/// change of the session, from the first connection on. NULL `callback` removes it. `user_data`
/// as `driftsync_config_builder_set_before_reset`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_set_connection_state_handler(
    builder: *mut driftsync_config_builder_t,
    callback: driftsync_sync_state_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    set_callback(builder, UserData { data: user_data, free: user_data_free }, out_error, |d, user| {
        d.on_state = callback.map(|cb| state_handler(cb, user));
    })
}

/// Checks the settings and makes a config. `DRIFTSYNC_STATUS_INVALID_ARGUMENT` when the path
/// or the schema is missing, or a client-reset or start-paused setting was given without sync
/// settings. Consumes the builder whatever the outcome: do not use or free it after (on failure
/// the hooks' `user_data_free` run before this returns).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_build(
    builder: *mut driftsync_config_builder_t,
    out_config: *mut *mut driftsync_config_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        if builder.is_null() {
            return Err(Failure::null("builder"));
        }
        // SAFETY: a live builder, consumed here exactly once.
        let b = unsafe { Box::from_raw(builder) };
        check_out(out_config, "out_config")?;
        let d = b.draft.into_inner();
        let has_reset_settings = d.has_reset_settings();
        let path = d.path.ok_or_else(|| Failure::invalid("the config has no path"))?;
        let schema = d.schema.ok_or_else(|| Failure::invalid("the config has no schema"))?;
        let mut config = RealmConfig::new(path, schema);
        if let Some(t) = d.write_timeout {
            config.write_timeout = t;
        }
        match d.sync {
            Some(mut sync) => {
                if let Some(mode) = d.reset_mode {
                    sync.client_reset.mode = mode;
                }
                if d.backup_dir.is_some() {
                    sync.client_reset.backup_dir = d.backup_dir;
                }
                if let Some(p) = d.start_paused {
                    sync.start_paused = p;
                }
                if let Some(k) = d.keep_backup {
                    sync.client_reset.keep_backup = k;
                }
                sync.client_reset.before = d.before;
                sync.client_reset.after = d.after;
                sync.client_reset.manual = d.manual;
                sync.client_reset.on_download_progress = d.progress;
                sync.trusted_ca_pem.extend(d.trusted_ca_pem);
                if let Some(c) = d.allow_cleartext {
                    sync.allow_cleartext = c;
                }
                sync.on_error = d.on_error;
                sync.on_state_change = d.on_state;
                config.sync = Some(sync);
            }
            None if has_reset_settings => {
                return Err(Failure::invalid("sync and client reset settings need sync settings (driftsync_config_builder_set_sync)"));
            }
            None => {}
        }
        write_out(out_config, Box::into_raw(Box::new(driftsync_config_t { config })));
        Ok(())
    })
}

/// Frees a builder that was not built. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_builder_free(builder: *mut driftsync_config_builder_t) {
    if !builder.is_null() {
        // SAFETY: a live builder, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(builder) }));
    }
}

/// Whether a config syncs (false for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_is_synced(config: *const driftsync_config_t) -> bool {
    // SAFETY: NULL or a live config.
    unsafe { config.as_ref() }.is_some_and(|c| c.config.sync.is_some())
}

/// The client reset mode of a synced config, as a `driftsync_client_reset_mode_t`.
/// `DRIFTSYNC_STATUS_INVALID_ARGUMENT` for a config without sync settings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_client_reset_mode(
    config: *const driftsync_config_t,
    out_mode: *mut driftsync_client_reset_mode_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live config.
        let c = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        check_out(out_mode, "out_mode")?;
        let sync = c.config.sync.as_ref().ok_or_else(|| Failure::invalid("the config has no sync settings"))?;
        write_out(out_mode, mode_of(sync.client_reset.mode));
        Ok(())
    })
}

/// Frees a config. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_config_free(config: *mut driftsync_config_t) {
    if !config.is_null() {
        // SAFETY: a live config, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(config) }));
    }
}
