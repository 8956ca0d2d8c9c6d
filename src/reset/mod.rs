//! Client reset: when the server can no longer reconcile this file's history, get the server's
//! state back and recover, discard, or hand the problem to the app. The pipeline is in
//! `pipeline.rs` and reads top to bottom; `decide.rs` is its decision table, `fresh.rs` the
//! fresh copy, `transform.rs` the in-place diff and replay.

pub mod decide;
pub mod fresh;
mod pipeline;
mod stored_report;
pub mod transform;

pub use pipeline::{ManualReset, preview};
pub(crate) use pipeline::{bootstrap, delete_realm_files, handle_reset_demand, manual_reset_pending};

use crate::error::Result;
use crate::protocol::{ErrorAction, ResetCause};
use crate::realm::Realm;
use crate::store;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// What to do with unsynced changes when the server demands a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ClientResetMode {
    Manual,
    DiscardUnsyncedChanges,
    RecoverUnsyncedChanges,
    #[default]
    RecoverOrDiscardUnsyncedChanges,
}

/// What a reset does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetDecision {
    Recover,
    Discard,
    Manual,
}

/// Gets a frozen, read-only snapshot of the realm as it was. An error aborts the automatic
/// reset and falls back to the manual handler. Runs on the sync thread.
pub type BeforeHook = Arc<dyn Fn(&Realm) -> std::result::Result<(), String> + Send + Sync>;
/// Gets the frozen before-snapshot, the live realm and whether unsynced changes were recovered.
/// Runs on the sync thread; may read both and write the live realm.
pub type AfterHook = Arc<dyn Fn(&Realm, &Realm, bool) -> std::result::Result<(), String> + Send + Sync>;
/// Receives a manual reset: cause, message, paths and the action that performs it. Runs on the
/// sync thread.
pub type ManualHandler = Arc<dyn Fn(&ManualReset) + Send + Sync>;
/// Fresh-copy download progress: (objects received, objects in all). Runs on the sync thread.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The client-reset part of a sync configuration.
#[derive(Clone, Default)]
pub struct ClientResetConfig {
    pub mode: ClientResetMode,
    pub before: Option<BeforeHook>,
    pub after: Option<AfterHook>,
    pub manual: Option<ManualHandler>,
    /// Where manual-reset backups (and kept before-copies) go; default: next to the realm.
    pub backup_dir: Option<PathBuf>,
    /// Keep a copy of the realm as it was before an automatic reset (its path is in the report).
    pub keep_backup: bool,
    pub on_download_progress: Option<ProgressFn>,
}

impl ClientResetConfig {
    pub fn new(mode: ClientResetMode) -> Self {
        ClientResetConfig { mode, ..Default::default() }
    }
}

/// One local instruction that a reset did not apply as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedChange {
    /// The local version of the changeset it came from.
    pub local_version: u64,
    pub instruction: String,
    pub reason: String,
    /// True if the instruction applied in part (e.g. a link left null) and is still uploaded.
    pub partially: bool,
}

/// What a reset did: written into the realm, readable afterwards (`last_reset_report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetReport {
    pub cause: Option<ResetCause>,
    pub action: ErrorAction,
    pub server_message: String,
    pub mode: ClientResetMode,
    pub decision: ResetDecision,
    /// Net effect of the reset on the local objects (diff and replay together).
    pub objects_inserted: u64,
    pub objects_erased: u64,
    pub objects_modified: u64,
    pub recovered_changesets: u64,
    pub recovered_instructions: u64,
    /// Local instructions recovery could not apply (or applied only in part), with the reason.
    pub dropped: Vec<DroppedChange>,
    /// Local instructions a discard threw away.
    pub discarded: Vec<DroppedChange>,
    pub before_hook_error: Option<String>,
    pub after_hook_error: Option<String>,
    /// The manual-reset backup, or the kept before-copy.
    pub backup_path: Option<PathBuf>,
    /// Milliseconds spent in each phase (whole milliseconds of `timings`, cut at the same
    /// boundaries, so they add up to `timings.total_ms()`).
    pub download_ms: u64,
    pub diff_ms: u64,
    pub replay_ms: u64,
    pub commit_ms: u64,
    /// Producing the change summary and the report's counts.
    #[serde(default)]
    pub summary_ms: u64,
    /// Payload bytes sent and received to get the fresh copy (this run of the download).
    #[serde(default)]
    pub transferred_bytes: u64,
    /// Key ranges whose fingerprints differed in a range reconciliation (0: a full copy).
    #[serde(default)]
    pub ranges_differed: u64,
    /// The same phases in microseconds.
    #[serde(default)]
    pub timings: PhaseTimings,
    pub completed_at_ms: i64,
}

/// Microseconds per reset phase, measured as laps of one clock: nothing between the download's
/// start and the commit's end escapes them, so they add up to the whole. (A kept before-copy,
/// `keep_backup`, is taken between the download and the transform and is not a phase.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTimings {
    pub download_us: u64,
    pub diff_us: u64,
    pub replay_us: u64,
    pub summary_us: u64,
    pub commit_us: u64,
}

impl PhaseTimings {
    /// Diff + replay + summary + commit: the transform in place, download excluded.
    pub fn transform_us(&self) -> u64 {
        self.diff_us + self.replay_us + self.summary_us + self.commit_us
    }

    pub fn total_us(&self) -> u64 {
        self.download_us + self.transform_us()
    }
}

impl ResetReport {
    /// Sets the millisecond fields from `timings` (cut at the same boundaries, so the
    /// milliseconds add up to the total's milliseconds too).
    pub(crate) fn derive_ms(&mut self) {
        let t = self.timings;
        let bounds = [t.download_us, t.diff_us, t.replay_us, t.summary_us, t.commit_us];
        let mut ms = [0u64; 5];
        let mut at = 0u64;
        for (i, us) in bounds.iter().enumerate() {
            ms[i] = (at + us) / 1000 - at / 1000;
            at += us;
        }
        [self.download_ms, self.diff_ms, self.replay_ms, self.summary_ms, self.commit_ms] = ms;
    }
}

/// Laps of one clock (see `PhaseTimings`).
pub(crate) struct PhaseClock {
    start: std::time::Instant,
    last_us: u64,
}

impl PhaseClock {
    pub(crate) fn start() -> Self {
        PhaseClock { start: std::time::Instant::now(), last_us: 0 }
    }

    /// Microseconds since the previous lap (or the start): the phase that just ended.
    pub(crate) fn lap(&mut self) -> u64 {
        let now = self.start.elapsed().as_micros() as u64;
        let lap = now - self.last_us;
        self.last_us = now;
        lap
    }
}

/// The record of an automatic reset that has not completed yet (the cycle guard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReset {
    pub decision: ResetDecision,
    pub mode: ClientResetMode,
    pub cause: Option<ResetCause>,
    /// The server's action of the demand (recovery allowed or not); a demand with another action
    /// starts the cycle guard over. None in records written before the field existed.
    #[serde(default)]
    pub action: Option<ErrorAction>,
    pub at_ms: i64,
    /// The newest local version right after the reset: uploaded once acked ≥ this.
    pub local_version_at_reset: u64,
    /// A download completed after the reset.
    pub downloaded: bool,
}

/// How the session goes on after handling a reset demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterReset {
    Reconnect,
    /// A transient failure (connection lost during the fresh copy): back off and try again.
    Retry,
    /// Manual: stay disconnected.
    Pause,
}

const PENDING_KEY: &str = "reset.pending";
const REPORT_KEY: &str = "reset.last_report";
const TIMINGS_KEY: &str = "reset.last_report_timings";
const MANUAL_KEY: &str = "reset.manual_pending";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn read_json<T: serde::de::DeserializeOwned>(conn: &rusqlite::Connection, key: &str) -> Result<Option<T>> {
    let s: Option<String> = store::get_meta(conn, key)?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
}

/// The pending-reset record, if an automatic reset has not completed yet.
pub fn pending_reset(realm: &Realm) -> Result<Option<PendingReset>> {
    realm.read(|conn, _| read_json(conn, PENDING_KEY))
}

/// The report of the last reset of this realm file.
pub fn last_report(realm: &Realm) -> Result<Option<ResetReport>> {
    realm.read(|conn, _| {
        let mut report = store::get_meta::<rusqlite::types::Value>(conn, REPORT_KEY)?.and_then(stored_report::decode);
        let timings: Option<FinalTimings> = read_json(conn, TIMINGS_KEY)?;
        if let (Some(r), Some(t)) = (&mut report, timings)
            && t.completed_at_ms == r.completed_at_ms
        {
            r.timings = t.timings;
            r.derive_ms();
        }
        Ok(report)
    })
}

/// The timings of the last reset, commit included: the report written in the transform's commit
/// cannot know the commit's own time, and rewriting the whole report (one entry per discarded
/// instruction) for it would cost as much as the change summary.
#[derive(Serialize, Deserialize)]
struct FinalTimings {
    /// The report they belong to.
    completed_at_ms: i64,
    timings: PhaseTimings,
}

/// Stores the final timings of the report last written (see `FinalTimings`).
pub(crate) fn store_final_timings(realm: &Realm, report: &ResetReport) -> Result<()> {
    let json =
        serde_json::to_string(&FinalTimings { completed_at_ms: report.completed_at_ms, timings: report.timings }).unwrap_or_default();
    crate::sync_meta::write_meta(realm, move |conn| store::set_meta(conn, TIMINGS_KEY, json))
}

/// Called as sync makes progress after a reset: clears the pending record once upload and
/// download have both completed.
pub(crate) fn note_sync_progress(realm: &Realm, downloaded: bool) -> Result<()> {
    let Some(mut p) = pending_reset(realm)? else { return Ok(()) };
    let cursor = crate::sync_meta::cursor(realm)?;
    p.downloaded |= downloaded;
    let done = p.downloaded && cursor.acked >= p.local_version_at_reset;
    crate::sync_meta::write_meta(realm, move |conn| {
        if done {
            store::delete_meta(conn, PENDING_KEY)
        } else {
            store::set_meta(conn, PENDING_KEY, serde_json::to_string(&p).unwrap_or_default())
        }
    })
}

/// Crash testing: with `DRIFTSYNC_CRASH_AT=<step>` in the environment the process kills itself
/// with SIGKILL at that step of a reset (steps: after_before_hook, fresh_download, before_commit,
/// after_commit, during_upload). Used by tests/reset_crash.rs; a no-op otherwise.
pub(crate) fn crash_point(step: &str) {
    if std::env::var("DRIFTSYNC_CRASH_AT").is_ok_and(|s| s == step) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
        std::process::abort();
    }
}

impl Realm {
    /// The report of the last client reset of this file.
    pub fn last_reset_report(&self) -> Result<Option<ResetReport>> {
        last_report(self)
    }
}
