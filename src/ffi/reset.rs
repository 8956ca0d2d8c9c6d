//! Client reset from C: the hook and handler trampolines the config builder installs, the reset
//! report, the preview of a reset, and the manual reset handed to the application.

use super::config::driftsync_client_reset_mode_t;
use super::realm::{driftsync_realm_t, lend, lend_live, realm_arg};
use super::sync::{action_of, cause_of, driftsync_error_action_t, driftsync_reset_cause_t};
use super::types::*;
use crate::realm::Realm;
use crate::reset::{
    AfterHook, BeforeHook, ClientResetMode, DroppedChange, ManualHandler, ManualReset, ProgressFn, ResetDecision, ResetReport,
};
use parking_lot::Mutex;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// What a client reset does with the local realm.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_reset_decision_t {
    /// Replace the local state with the server's and replay the unsynced changes on top.
    DRIFTSYNC_RESET_DECISION_RECOVER = 0,
    /// Replace the local state with the server's; unsynced changes are reported and dropped.
    DRIFTSYNC_RESET_DECISION_DISCARD = 1,
    /// Back the realm up and hand the reset to the application's manual handler.
    DRIFTSYNC_RESET_DECISION_MANUAL = 2,
}

fn decision_of(d: ResetDecision) -> driftsync_reset_decision_t {
    match d {
        ResetDecision::Recover => driftsync_reset_decision_t::DRIFTSYNC_RESET_DECISION_RECOVER,
        ResetDecision::Discard => driftsync_reset_decision_t::DRIFTSYNC_RESET_DECISION_DISCARD,
        ResetDecision::Manual => driftsync_reset_decision_t::DRIFTSYNC_RESET_DECISION_MANUAL,
    }
}

pub(crate) fn mode_of(m: ClientResetMode) -> driftsync_client_reset_mode_t {
    use driftsync_client_reset_mode_t as M;
    match m {
        ClientResetMode::Manual => M::DRIFTSYNC_CLIENT_RESET_MANUAL,
        ClientResetMode::DiscardUnsyncedChanges => M::DRIFTSYNC_CLIENT_RESET_DISCARD_UNSYNCED_CHANGES,
        ClientResetMode::RecoverUnsyncedChanges => M::DRIFTSYNC_CLIENT_RESET_RECOVER_UNSYNCED_CHANGES,
        ClientResetMode::RecoverOrDiscardUnsyncedChanges => M::DRIFTSYNC_CLIENT_RESET_RECOVER_OR_DISCARD_UNSYNCED_CHANGES,
    }
}

// ---- callbacks -------------------------------------------------------------------------------

/// The before-reset hook: receives a frozen, read-only snapshot of the realm as it was before
/// the reset. Return true to go on; false aborts the automatic reset, which falls back to the
/// manual handler (the report's before-hook error says so).
///
/// Thread: the realm's sync thread (a library thread), with no library lock held. `before` is
/// lent for the call (see `driftsync_realm_t`): read it, but do not keep the pointer; it is closed
/// and freed when the hook returns.
pub type driftsync_before_reset_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, before: *const driftsync_realm_t) -> bool>;

/// The after-reset hook: receives the frozen before-snapshot, the live realm after the reset and
/// whether unsynced changes were recovered. It may read both and write to `live` (begin, write
/// and commit on this thread; the commit is uploaded like any other). Returning false is
/// recorded in the report's after-hook error (the reset itself has already happened).
///
/// Thread: the realm's sync thread, with no library lock held. Both handles are lent for the
/// call (see `driftsync_realm_t`) and closed and freed when it returns (a write transaction left
/// open on `live` is rolled back). `live` is a separate handle of the same file: snapshots
/// frozen from it stay valid after the call.
pub type driftsync_after_reset_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, before: *const driftsync_realm_t, live: *mut driftsync_realm_t, did_recover: bool) -> bool,
>;

/// The outcome of one call of a v2 reset hook (`driftsync_before_reset_v2_fn`,
/// `driftsync_after_reset_v2_fn`): an opaque handle the library lends to the hook for the
/// duration of the call. The hook fails with a message of its own through
/// `driftsync_hook_result_fail`; do not keep the pointer past the call.
pub struct driftsync_hook_result_t {
    message: Mutex<Option<String>>,
}

/// The before-reset hook, version 2: as `driftsync_before_reset_fn`, plus `result`, lent for the
/// call, through which the hook gives the reason it fails (`driftsync_hook_result_fail`).
///
/// The rule: the hook fails when it returns false or when it called `driftsync_hook_result_fail`
/// successfully (even if it then returns true). The report's before-hook error is the message of
/// the last successful `driftsync_hook_result_fail` call; when the hook returned false without
/// one, it is the same generic message as for `driftsync_before_reset_fn`. A failing hook aborts
/// the automatic reset, which falls back to the manual handler.
///
/// Thread: the realm's sync thread (a library thread), with no library lock held. `before` and
/// `result` are lent for the call: do not keep either pointer.
pub type driftsync_before_reset_v2_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, before: *const driftsync_realm_t, result: *mut driftsync_hook_result_t) -> bool>;

/// The after-reset hook, version 2: as `driftsync_after_reset_fn`, plus `result`, lent for the
/// call, through which the hook gives the reason it fails (`driftsync_hook_result_fail`). The
/// failure rule is that of `driftsync_before_reset_v2_fn`; the message goes to the report's
/// after-hook error (the reset itself has already happened).
///
/// Thread: the realm's sync thread, with no library lock held. `before`, `live` and `result` are
/// lent for the call (see `driftsync_after_reset_fn`).
pub type driftsync_after_reset_v2_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        before: *const driftsync_realm_t,
        live: *mut driftsync_realm_t,
        did_recover: bool,
        result: *mut driftsync_hook_result_t,
    ) -> bool,
>;

/// Makes the running v2 hook fail with `message` (UTF-8, `message_len` bytes, not empty), which
/// becomes the report's before- or after-hook error. The hook fails even if it returns true
/// afterwards; calling this again replaces the message. `result` is the handle the library passed
/// to the hook, valid only during that call (from the hook's thread, or from a thread the hook
/// waits for). On any failure nothing is recorded: `DRIFTSYNC_STATUS_NULL_ARGUMENT` for a NULL
/// `result` or `message`, `DRIFTSYNC_STATUS_INVALID_UTF8`, `DRIFTSYNC_STATUS_INVALID_ARGUMENT`
/// for an empty message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_hook_result_fail(
    result: *mut driftsync_hook_result_t,
    message: *const c_char,
    message_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or the handle lent to the running hook (only ever read through `&`).
        let r = unsafe { result.as_ref() }.ok_or_else(|| Failure::null("result"))?;
        // SAFETY: the caller passes a readable string.
        let message = unsafe { str_arg(message, message_len, "message")? };
        if message.is_empty() {
            return Err(Failure::invalid("the hook's failure message is empty"));
        }
        *r.message.lock() = Some(message.to_string());
        Ok(())
    })
}

/// What a v2 hook's call amounts to: the message it gave wins; else its return value decides.
pub(crate) fn hook_outcome(ran: std::thread::Result<bool>, result: driftsync_hook_result_t, which: &str) -> Result<(), String> {
    match (ran, result.message.into_inner()) {
        (Err(_), _) => Err(format!("the {which}-reset hook panicked")),
        (Ok(_), Some(message)) => Err(message),
        (Ok(true), None) => Ok(()),
        (Ok(false), None) => Err(format!("the {which}-reset hook returned false")),
    }
}

pub(crate) fn new_hook_result() -> driftsync_hook_result_t {
    driftsync_hook_result_t { message: Mutex::new(None) }
}

pub(crate) fn before_hook_v2(
    cb: unsafe extern "C" fn(*mut c_void, *const driftsync_realm_t, *mut driftsync_hook_result_t) -> bool,
    user: Arc<UserData>,
) -> BeforeHook {
    Arc::new(move |before: &Realm| {
        let result = new_hook_result();
        // Only ever read through a shared reference (the message is behind a mutex).
        let rp = std::ptr::from_ref(&result).cast_mut();
        // SAFETY: the application registered `cb` for `user.data`; the handles are lent for the call.
        let ran = catch_unwind(AssertUnwindSafe(|| lend(before, |h| unsafe { cb(user.data, h, rp) })));
        hook_outcome(ran, result, "before")
    })
}

pub(crate) fn after_hook_v2(
    cb: unsafe extern "C" fn(*mut c_void, *const driftsync_realm_t, *mut driftsync_realm_t, bool, *mut driftsync_hook_result_t) -> bool,
    user: Arc<UserData>,
) -> AfterHook {
    Arc::new(move |before: &Realm, live: &Realm, did_recover: bool| {
        let result = new_hook_result();
        // Only ever read through a shared reference (the message is behind a mutex).
        let rp = std::ptr::from_ref(&result).cast_mut();
        let run = || {
            lend(before, |b| {
                lend_live(live, |l| {
                    // SAFETY: the application registered `cb` for `user.data`; the handles are lent.
                    unsafe { cb(user.data, b, l, did_recover, rp) }
                })
            })
        };
        let ran = catch_unwind(AssertUnwindSafe(run));
        hook_outcome(ran, result, "after")
    })
}

/// The manual reset handler: receives the reset (cause, message, original and backup paths, the
/// report, and the action `driftsync_manual_reset_perform`). `reset` is borrowed for the call;
/// keep it with `driftsync_manual_reset_clone`. The realm's sync session stays paused. If the
/// application never performs the reset, it runs at the next open of the realm.
///
/// Thread: the realm's sync thread, with no library lock held.
pub type driftsync_manual_reset_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, reset: *const driftsync_manual_reset_t)>;

/// Download progress of the fresh copy of a client reset (and of the first download of a new
/// file), in objects: `received` of `total`.
///
/// Thread: the realm's sync thread (or the thread calling `driftsync_realm_preview_reset`).
pub type driftsync_download_progress_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, received: u64, total: u64)>;

pub(crate) fn before_hook(cb: unsafe extern "C" fn(*mut c_void, *const driftsync_realm_t) -> bool, user: Arc<UserData>) -> BeforeHook {
    Arc::new(move |before: &Realm| {
        // SAFETY: the application registered `cb` for `user.data`; the handle is lent for the call.
        match catch_unwind(AssertUnwindSafe(|| lend(before, |h| unsafe { cb(user.data, h) }))) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the before-reset hook returned false".to_string()),
            Err(_) => Err("the before-reset hook panicked".to_string()),
        }
    })
}

pub(crate) fn after_hook(
    cb: unsafe extern "C" fn(*mut c_void, *const driftsync_realm_t, *mut driftsync_realm_t, bool) -> bool,
    user: Arc<UserData>,
) -> AfterHook {
    Arc::new(move |before: &Realm, live: &Realm, did_recover: bool| {
        let run = || {
            lend(before, |b| {
                lend_live(live, |l| {
                    // SAFETY: the application registered `cb` for `user.data`; both handles are lent.
                    unsafe { cb(user.data, b, l, did_recover) }
                })
            })
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the after-reset hook returned false".to_string()),
            Err(_) => Err("the after-reset hook panicked".to_string()),
        }
    })
}

pub(crate) fn manual_handler(cb: unsafe extern "C" fn(*mut c_void, *const driftsync_manual_reset_t), user: Arc<UserData>) -> ManualHandler {
    Arc::new(move |m: &ManualReset| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let view = driftsync_manual_reset_t::new(m.clone(), true);
            // SAFETY: the application registered `cb` for `user.data`; `view` lives through the call.
            unsafe { cb(user.data, &view) };
        }));
    })
}

pub(crate) fn progress_fn(cb: unsafe extern "C" fn(*mut c_void, u64, u64), user: Arc<UserData>) -> ProgressFn {
    Arc::new(move |received: u64, total: u64| {
        // SAFETY: the application registered `cb` for `user.data`.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { cb(user.data, received, total) }));
    })
}

// ---- the report ------------------------------------------------------------------------------

/// What a client reset did (or, from `driftsync_realm_preview_reset`, would do): cause, mode,
/// decision, the objects the reset inserted, erased and modified, every local change recovery
/// dropped or discard threw away, hook errors, the backup path and phase timings. An owned copy;
/// strings it returns borrow from it until `driftsync_reset_report_free`.
pub struct driftsync_reset_report_t {
    report: ResetReport,
    backup_path: String,
}

impl driftsync_reset_report_t {
    pub(crate) fn new(report: ResetReport) -> *mut driftsync_reset_report_t {
        let backup_path = report.backup_path.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        Box::into_raw(Box::new(driftsync_reset_report_t { report, backup_path }))
    }
}

/// One local instruction a reset did not apply as recorded. The strings borrow from the report.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_dropped_change_t {
    /// The local version of the changeset it came from.
    pub local_version: u64,
    /// The instruction, in a readable form.
    pub instruction: driftsync_string_t,
    /// Why it was not applied.
    pub reason: driftsync_string_t,
    /// True if it applied in part (e.g. a link left null) and is still uploaded.
    pub partially: bool,
}

/// The time a reset spent in each phase, in milliseconds, and when it completed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct driftsync_reset_timings_t {
    pub download_ms: u64,
    pub diff_ms: u64,
    pub replay_ms: u64,
    pub commit_ms: u64,
    /// Milliseconds since the Unix epoch (0 for a preview).
    pub completed_at_ms: i64,
}

/// The time a reset spent in each phase, in microseconds, with the change-summary phase and the
/// total (`driftsync_reset_report_timings_v2`). The phases are laps of one clock: they add up to
/// `total_us` exactly.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct driftsync_reset_timings_v2_t {
    pub download_us: u64,
    pub diff_us: u64,
    pub replay_us: u64,
    /// Producing the change summary and the report's counts.
    pub summary_us: u64,
    pub commit_us: u64,
    /// Download through commit: the sum of the phases above.
    pub total_us: u64,
    /// Milliseconds since the Unix epoch (0 for a preview).
    pub completed_at_ms: i64,
}

/// # Safety
/// `r` must be NULL or live.
unsafe fn report_arg<'a>(r: *const driftsync_reset_report_t) -> FfiResult<&'a driftsync_reset_report_t> {
    // SAFETY: forwarded from the caller.
    unsafe { r.as_ref() }.ok_or_else(|| Failure::null("report"))
}

/// Reads one field of a report into a checked out-parameter.
///
/// # Safety
/// `report` must be NULL or live; `out` NULL or writable.
unsafe fn report_field<T>(
    report: *const driftsync_reset_report_t,
    out: *mut T,
    what: &str,
    out_error: *mut *mut driftsync_error_t,
    f: impl FnOnce(&driftsync_reset_report_t) -> T,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: forwarded from the caller.
        let r = unsafe { report_arg(report)? };
        check_out(out, what)?;
        write_out(out, f(r));
        Ok(())
    })
}

/// Reads two counts of a report into two checked out-parameters (written only when both are
/// valid).
///
/// # Safety
/// `report` must be NULL or live; each out-parameter NULL or writable.
unsafe fn report_pair(
    report: *const driftsync_reset_report_t,
    (out_a, what_a): (*mut u64, &str),
    (out_b, what_b): (*mut u64, &str),
    out_error: *mut *mut driftsync_error_t,
    f: impl FnOnce(&driftsync_reset_report_t) -> (u64, u64),
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: forwarded from the caller.
        let r = unsafe { report_arg(report)? };
        check_out(out_a, what_a)?;
        check_out(out_b, what_b)?;
        let (a, b) = f(r);
        write_out(out_a, a);
        write_out(out_b, b);
        Ok(())
    })
}

/// The report of the last client reset of the realm's file, as an owned copy (free it with
/// `driftsync_reset_report_free`), or NULL in `*out_report` (with `DRIFTSYNC_STATUS_OK`) when the
/// file was never reset. A manual reset writes its report too (decision `MANUAL`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_last_reset_report(
    realm: *const driftsync_realm_t,
    out_report: *mut *mut driftsync_reset_report_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let r = unsafe { realm_arg(realm)? };
        check_out(out_report, "out_report")?;
        let rep = r.last_reset_report()?;
        write_out(out_report, rep.map(driftsync_reset_report_t::new).unwrap_or(std::ptr::null_mut()));
        Ok(())
    })
}

/// Computes what a client reset with `decision` (a `driftsync_reset_decision_t`: `RECOVER` or
/// `DISCARD`) would do, without applying it: the server's state is downloaded (the download
/// progress callback runs on the calling thread) and the transform runs in a transaction that is
/// rolled back. Writes an owned report. `DRIFTSYNC_STATUS_INVALID_ARGUMENT` for `MANUAL`, an
/// unknown number, or a realm without sync; sync and reset statuses when the server cannot be
/// reached or refuses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_preview_reset(
    realm: *const driftsync_realm_t,
    decision: i32,
    out_report: *mut *mut driftsync_reset_report_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let r = unsafe { realm_arg(realm)? };
        check_out(out_report, "out_report")?;
        let decision = match decision {
            0 => ResetDecision::Recover,
            1 => ResetDecision::Discard,
            2 => ResetDecision::Manual,
            other => return Err(Failure::invalid(format!("{other} is not a driftsync_reset_decision_t"))),
        };
        let rep = crate::reset::preview(&r, decision)?;
        write_out(out_report, driftsync_reset_report_t::new(rep));
        Ok(())
    })
}

/// The reset cause (`DRIFTSYNC_RESET_CAUSE_NONE` for a preview).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_cause(
    report: *const driftsync_reset_report_t,
    out_cause: *mut driftsync_reset_cause_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_cause, "out_cause", out_error, |r| cause_of(r.report.cause)) }
}

/// The action of the server's reset demand (`CLIENT_RESET` or `CLIENT_RESET_NO_RECOVERY`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_action(
    report: *const driftsync_reset_report_t,
    out_action: *mut driftsync_error_action_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_action, "out_action", out_error, |r| action_of(r.report.action)) }
}

/// The server's message with the reset demand (UTF-8, borrowed from the report).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_server_message(
    report: *const driftsync_reset_report_t,
    out_message: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_message, "out_message", out_error, |r| str_view(&r.report.server_message)) }
}

/// The client reset mode the realm was configured with.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_mode(
    report: *const driftsync_reset_report_t,
    out_mode: *mut driftsync_client_reset_mode_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_mode, "out_mode", out_error, |r| mode_of(r.report.mode)) }
}

/// What the reset did (or would do).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_decision(
    report: *const driftsync_reset_report_t,
    out_decision: *mut driftsync_reset_decision_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_decision, "out_decision", out_error, |r| decision_of(r.report.decision)) }
}

/// The net effect of the reset on the local objects (diff and replay together): how many objects
/// it inserted, erased and modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_objects(
    report: *const driftsync_reset_report_t,
    out_inserted: *mut u64,
    out_erased: *mut u64,
    out_modified: *mut u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live report.
        let r = unsafe { report_arg(report)? };
        check_out(out_inserted, "out_inserted")?;
        check_out(out_erased, "out_erased")?;
        check_out(out_modified, "out_modified")?;
        write_out(out_inserted, r.report.objects_inserted);
        write_out(out_erased, r.report.objects_erased);
        write_out(out_modified, r.report.objects_modified);
        Ok(())
    })
}

/// How many unsynced changesets, and instructions in them, recovery replayed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_recovered(
    report: *const driftsync_reset_report_t,
    out_changesets: *mut u64,
    out_instructions: *mut u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        report_pair(report, (out_changesets, "out_changesets"), (out_instructions, "out_instructions"), out_error, |r| {
            (r.report.recovered_changesets, r.report.recovered_instructions)
        })
    }
}

/// How many local instructions recovery could not apply (or applied only in part).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_dropped_count(
    report: *const driftsync_reset_report_t,
    out_count: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_count, "out_count", out_error, |r| r.report.dropped.len()) }
}

/// How many local instructions a discard threw away.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_discarded_count(
    report: *const driftsync_reset_report_t,
    out_count: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_count, "out_count", out_error, |r| r.report.discarded.len()) }
}

fn dropped_view(d: &DroppedChange) -> driftsync_dropped_change_t {
    driftsync_dropped_change_t {
        local_version: d.local_version,
        instruction: str_view(&d.instruction),
        reason: str_view(&d.reason),
        partially: d.partially,
    }
}

/// # Safety
/// As `report_field`.
unsafe fn change_at(
    report: *const driftsync_reset_report_t,
    index: usize,
    out: *mut driftsync_dropped_change_t,
    out_error: *mut *mut driftsync_error_t,
    list: impl FnOnce(&ResetReport) -> &[DroppedChange],
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: forwarded from the caller.
        let r = unsafe { report_arg(report)? };
        check_out(out, "out_change")?;
        let items = list(&r.report);
        let d = items.get(index).ok_or(crate::Error::IndexOutOfRange { index, len: items.len() })?;
        write_out(out, dropped_view(d));
        Ok(())
    })
}

/// The `index`-th instruction recovery dropped (`DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE` past the
/// end); its strings borrow from the report.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_dropped(
    report: *const driftsync_reset_report_t,
    index: usize,
    out_change: *mut driftsync_dropped_change_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { change_at(report, index, out_change, out_error, |r| &r.dropped) }
}

/// The `index`-th instruction a discard threw away (as `driftsync_reset_report_dropped`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_discarded(
    report: *const driftsync_reset_report_t,
    index: usize,
    out_change: *mut driftsync_dropped_change_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { change_at(report, index, out_change, out_error, |r| &r.discarded) }
}

/// Why the before-reset hook failed (empty when it did not run or succeeded).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_before_hook_error(
    report: *const driftsync_reset_report_t,
    out_message: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        report_field(report, out_message, "out_message", out_error, |r| str_view(r.report.before_hook_error.as_deref().unwrap_or("")))
    }
}

/// Why the after-reset hook failed (empty when it did not run or succeeded).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_after_hook_error(
    report: *const driftsync_reset_report_t,
    out_message: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_message, "out_message", out_error, |r| str_view(r.report.after_hook_error.as_deref().unwrap_or(""))) }
}

/// The path of the manual-reset backup, or of the copy kept before an automatic reset
/// (`driftsync_config_builder_set_keep_backup`); empty when there is none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_backup_path(
    report: *const driftsync_reset_report_t,
    out_path: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { report_field(report, out_path, "out_path", out_error, |r| str_view(&r.backup_path)) }
}

/// The time the reset spent in each phase.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_timings(
    report: *const driftsync_reset_report_t,
    out_timings: *mut driftsync_reset_timings_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        report_field(report, out_timings, "out_timings", out_error, |r| driftsync_reset_timings_t {
            download_ms: r.report.download_ms,
            diff_ms: r.report.diff_ms,
            replay_ms: r.report.replay_ms,
            commit_ms: r.report.commit_ms,
            completed_at_ms: r.report.completed_at_ms,
        })
    }
}

/// The time the reset spent in each phase, in microseconds, the change summary included, and
/// the total (the phases add up to it). Supersedes `driftsync_reset_report_timings`, which has
/// no summary phase (its phases do not add up to the whole).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_timings_v2(
    report: *const driftsync_reset_report_t,
    out_timings: *mut driftsync_reset_timings_v2_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        report_field(report, out_timings, "out_timings", out_error, |r| {
            let t = r.report.timings;
            driftsync_reset_timings_v2_t {
                download_us: t.download_us,
                diff_us: t.diff_us,
                replay_us: t.replay_us,
                summary_us: t.summary_us,
                commit_us: t.commit_us,
                total_us: t.total_us(),
                completed_at_ms: r.report.completed_at_ms,
            }
        })
    }
}

/// What the reset's fresh copy cost on the wire: the payload bytes of its messages, both
/// directions (`transferred_bytes`), and how many key ranges differed between this realm and the
/// server when the copy was range-reconciled (`ranges_differed`; 0 for a full copy).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_transfer(
    report: *const driftsync_reset_report_t,
    out_transferred_bytes: *mut u64,
    out_ranges_differed: *mut u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        report_pair(
            report,
            (out_transferred_bytes, "out_transferred_bytes"),
            (out_ranges_differed, "out_ranges_differed"),
            out_error,
            |r| (r.report.transferred_bytes, r.report.ranges_differed),
        )
    }
}

/// Frees a report. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_reset_report_free(report: *mut driftsync_reset_report_t) {
    if !report.is_null() {
        // SAFETY: a live report, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(report) }));
    }
}

// ---- the manual reset ------------------------------------------------------------------------

/// A client reset handed to the application (`driftsync_manual_reset_fn`): its cause, the
/// server's message, the realm's path, the backup's path (a complete realm with the unsynced
/// changes in it, openable without sync), the report, and the action that performs the reset.
/// The handler's one is borrowed; `driftsync_manual_reset_clone` makes an owned one, freed with
/// `driftsync_manual_reset_free`.
pub struct driftsync_manual_reset_t {
    reset: ManualReset,
    original_path: String,
    backup_path: String,
    /// The handler's borrowed one: freeing it is a no-op.
    lent: bool,
}

impl driftsync_manual_reset_t {
    fn new(reset: ManualReset, lent: bool) -> driftsync_manual_reset_t {
        let original_path = reset.original_path.to_string_lossy().into_owned();
        let backup_path = reset.backup_path.to_string_lossy().into_owned();
        driftsync_manual_reset_t { reset, original_path, backup_path, lent }
    }
}

/// # Safety
/// `m` must be NULL or live.
unsafe fn manual_arg<'a>(m: *const driftsync_manual_reset_t) -> FfiResult<&'a driftsync_manual_reset_t> {
    // SAFETY: forwarded from the caller.
    unsafe { m.as_ref() }.ok_or_else(|| Failure::null("manual_reset"))
}

/// # Safety
/// `m` must be NULL or live; `out` NULL or writable.
unsafe fn manual_field<T>(
    m: *const driftsync_manual_reset_t,
    out: *mut T,
    what: &str,
    out_error: *mut *mut driftsync_error_t,
    f: impl FnOnce(&driftsync_manual_reset_t) -> T,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: forwarded from the caller.
        let m = unsafe { manual_arg(m)? };
        check_out(out, what)?;
        write_out(out, f(m));
        Ok(())
    })
}

/// Why the server demanded the reset.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_cause(
    manual_reset: *const driftsync_manual_reset_t,
    out_cause: *mut driftsync_reset_cause_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { manual_field(manual_reset, out_cause, "out_cause", out_error, |m| cause_of(m.reset.cause)) }
}

/// The server's message (UTF-8, borrowed from the manual reset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_message(
    manual_reset: *const driftsync_manual_reset_t,
    out_message: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { manual_field(manual_reset, out_message, "out_message", out_error, |m| str_view(&m.reset.message)) }
}

/// The path of the realm file to be reset (borrowed from the manual reset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_original_path(
    manual_reset: *const driftsync_manual_reset_t,
    out_path: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { manual_field(manual_reset, out_path, "out_path", out_error, |m| str_view(&m.original_path)) }
}

/// The path of the backup: a complete realm as it was, unsynced changes included (open it with
/// a config without sync settings). Borrowed from the manual reset.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_backup_path(
    manual_reset: *const driftsync_manual_reset_t,
    out_path: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { manual_field(manual_reset, out_path, "out_path", out_error, |m| str_view(&m.backup_path)) }
}

/// The reset's report (decision `MANUAL`), as an owned copy: free it with
/// `driftsync_reset_report_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_report(
    manual_reset: *const driftsync_manual_reset_t,
    out_report: *mut *mut driftsync_reset_report_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { manual_field(manual_reset, out_report, "out_report", out_error, |m| driftsync_reset_report_t::new(m.reset.report.clone())) }
}

/// An owned copy of a manual reset, to keep past the handler (for example to perform the reset
/// once the application has closed the realm). Free it with `driftsync_manual_reset_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_clone(
    manual_reset: *const driftsync_manual_reset_t,
    out_clone: *mut *mut driftsync_manual_reset_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        manual_field(manual_reset, out_clone, "out_clone", out_error, |m| {
            Box::into_raw(Box::new(driftsync_manual_reset_t::new(m.reset.clone(), false)))
        })
    }
}

/// Performs the reset now: the realm file is deleted (the backup keeps its data) and the next
/// open starts from the server's state. Every handle of the realm in this process must be closed
/// (or freed) first: otherwise `DRIFTSYNC_STATUS_BUSY`, with a message that says so. May be
/// called from the handler, from any thread, and more than once (deleting a deleted file is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_perform(
    manual_reset: *const driftsync_manual_reset_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live manual reset.
        let m = unsafe { manual_arg(manual_reset)? };
        Ok(m.reset.perform()?)
    })
}

/// Frees a manual reset made by `driftsync_manual_reset_clone`. NULL, and the handler's borrowed
/// one, are no-ops.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_manual_reset_free(manual_reset: *mut driftsync_manual_reset_t) {
    guard_value((), || {
        // SAFETY: NULL or a live manual reset.
        if unsafe { manual_reset.as_ref() }.is_some_and(|m| !m.lent) {
            // SAFETY: an owned manual reset, freed once.
            drop(unsafe { Box::from_raw(manual_reset) });
        }
    })
}
