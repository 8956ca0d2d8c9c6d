//! The client-reset pipeline, top to bottom (DESIGN "The reset pipeline"):
//! 1 decide · 2 before hook · 3 fresh copy · 4 transform in place (one write transaction) ·
//! 5 after hook · 6 audit (the report) · 7 manual.

use super::decide::explain;
use super::fresh::{self, FreshCopy};
use super::transform::{self, Replayed};
use super::{
    AfterReset, DroppedChange, MANUAL_KEY, PENDING_KEY, PendingReset, PhaseClock, REPORT_KEY, ResetDecision, ResetReport, now_ms,
    stored_report,
};
use crate::changeset::{Changeset, Instruction};
use crate::error::{Error, Result};
use crate::protocol::ResetCause;
use crate::realm::Realm;
use crate::store;
use crate::sync::{Bound, End, SyncError, SyncSession};
use crate::sync_meta::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The log category of client resets.
const LOG: &str = "driftsync::reset";

/// Runs a reset the server demanded. Called on the sync thread.
pub(crate) fn handle_reset_demand(session: &SyncSession, demand: &SyncError) -> Result<AfterReset> {
    let realm = session.realm();
    let config = &session.config().client_reset;

    // 1. Decide.
    let previous = super::pending_reset(realm)?;
    let (mut decision, why) = explain(config.mode, demand.action, demand.cause, previous.as_ref());
    log::info!(
        target: LOG,
        "decide: {decision:?} because {why} (mode {:?}, cause {}, action {:?}, incomplete previous reset: {:?})",
        config.mode,
        demand.cause.map(|c| c.name()).unwrap_or("none"),
        demand.action,
        previous.as_ref().map(|p| p.decision)
    );
    let mut report = new_report(demand, config.mode, decision);

    // 2. Before hook, on a frozen snapshot of the realm as it was.
    let before = realm.freeze()?;
    if decision != ResetDecision::Manual
        && let Some(hook) = &config.before
        && let Err(msg) = hook(&before)
    {
        log::warn!(target: LOG, "before hook failed, falling back to Manual: {msg}");
        report.before_hook_error = Some(msg);
        decision = ResetDecision::Manual;
        report.decision = decision;
    }
    if decision == ResetDecision::Manual {
        return manual(session, demand, report);
    }
    super::crash_point("after_before_hook");

    // 3. Fresh copy into <path>.fresh (resumed if a previous attempt was cut off).
    let mut clock = PhaseClock::start();
    let (fresh, ident) = match fetch_fresh_copy(session) {
        Ok(x) => x,
        Err(FetchError::Reset(e)) => {
            // The server refuses even a fresh start (e.g. a breaking schema change): manual.
            log::warn!(target: LOG, "download: the server refused a fresh copy, falling back to Manual: {}", e.message);
            report.server_message = e.message.clone();
            report.cause = e.cause.or(report.cause);
            report.decision = ResetDecision::Manual;
            return manual(session, &e, report);
        }
        Err(FetchError::Transient(e)) => {
            log::info!(target: LOG, "download: cut off, will resume: {e}");
            return Ok(AfterReset::Retry);
        }
        Err(FetchError::Other(e)) => return Err(e),
    };
    report.timings.download_us = clock.lap();
    (report.transferred_bytes, report.ranges_differed) = (fresh.transferred_bytes, fresh.ranges_differed);
    let fresh_path = fresh::fresh_path(realm.path());
    log::info!(
        target: LOG,
        "download: {} objects, {} bytes in {} ms ({} ranges differed; server version {})",
        fresh.objects,
        fresh.transferred_bytes,
        report.timings.download_us / 1000,
        fresh.ranges_differed,
        fresh.server_version
    );
    if config.keep_backup {
        report.backup_path = Some(backup_copy(realm, config.backup_dir.as_deref(), "before-reset")?);
        clock.lap(); // not a phase
    }

    // 4. Transform in place, in one write transaction.
    let lost_after = match demand.cause {
        Some(ResetCause::ServerRestored) => Some(demand.restored_at.unwrap_or(fresh.server_version)),
        _ => None,
    };
    let result = transform_in_place(realm, &fresh, ident, lost_after, decision, &mut report, &mut clock, true);
    drop(fresh);
    fresh::remove(&fresh_path);
    if matches!(&result, Err(Error::Sync(m)) if m == fresh::STALE_DELTA) {
        log::info!(target: LOG, "transform: {}; reconciling again", fresh::STALE_DELTA);
        return Ok(AfterReset::Retry);
    }
    result?;
    log::info!(
        target: LOG,
        "diff: {} ms (objects inserted {}, erased {}, modified {}, diff and replay together)",
        report.diff_ms,
        report.objects_inserted,
        report.objects_erased,
        report.objects_modified
    );
    match decision {
        ResetDecision::Recover => log::info!(
            target: LOG,
            "replay: {} ms, {} changesets ({} instructions) recovered, {} instructions dropped",
            report.replay_ms,
            report.recovered_changesets,
            report.recovered_instructions,
            report.dropped.len()
        ),
        _ => log::info!(target: LOG, "replay: none (discard), {} unsynced instructions discarded", report.discarded.len()),
    }
    log::info!(target: LOG, "summary: {} ms (the transform's own change summary, counted for the report)", report.summary_ms);
    log::info!(target: LOG, "commit: {} ms; the reset completes once upload and download complete", report.commit_ms);

    super::crash_point("after_commit");

    // 5. After hook.
    if let Some(hook) = &config.after
        && let Err(msg) = hook(&before, realm, decision == ResetDecision::Recover)
    {
        log::warn!(target: LOG, "after hook failed: {msg}");
        report.after_hook_error = Some(msg);
        store_report(realm, &mut report)?;
    }
    Ok(AfterReset::Reconnect)
}

/// Computes what a reset with `decision` would do, without applying it: the fresh copy is
/// downloaded and the transform runs in a transaction that is rolled back.
pub fn preview(realm: &Realm, decision: ResetDecision) -> Result<ResetReport> {
    let session = realm.sync_session().ok_or_else(|| Error::InvalidArgument("preview needs a synced realm".into()))?;
    if decision == ResetDecision::Manual {
        return Err(Error::InvalidArgument("a manual reset changes nothing to preview".into()));
    }
    let demand = SyncError {
        server_code: None,
        action: crate::protocol::ErrorAction::ClientReset,
        cause: None,
        message: "preview".into(),
        retryable: false,
        restored_at: None,
    };
    let mut report = new_report(&demand, session.config().client_reset.mode, decision);
    let mut clock = PhaseClock::start();
    let (fresh, ident) = fetch_fresh_copy(&session).map_err(|e| match e {
        FetchError::Reset(e) => Error::ClientReset { cause: e.cause.map(|c| c.name().to_string()).unwrap_or_default(), message: e.message },
        FetchError::Transient(e) | FetchError::Other(e) => e,
    })?;
    report.timings.download_us = clock.lap();
    (report.transferred_bytes, report.ranges_differed) = (fresh.transferred_bytes, fresh.ranges_differed);
    let fresh_path = fresh::fresh_path(realm.path());
    let r = transform_in_place(realm, &fresh, ident, None, decision, &mut report, &mut clock, false);
    drop(fresh);
    fresh::remove(&fresh_path);
    r?;
    Ok(report)
}

fn new_report(demand: &SyncError, mode: super::ClientResetMode, decision: ResetDecision) -> ResetReport {
    ResetReport {
        cause: demand.cause,
        action: demand.action,
        server_message: demand.message.clone(),
        mode,
        decision,
        objects_inserted: 0,
        objects_erased: 0,
        objects_modified: 0,
        recovered_changesets: 0,
        recovered_instructions: 0,
        dropped: Vec::new(),
        discarded: Vec::new(),
        before_hook_error: None,
        after_hook_error: None,
        backup_path: None,
        download_ms: 0,
        diff_ms: 0,
        replay_ms: 0,
        commit_ms: 0,
        summary_ms: 0,
        transferred_bytes: 0,
        ranges_differed: 0,
        timings: Default::default(),
        completed_at_ms: 0,
    }
}

enum FetchError {
    Reset(SyncError),
    Transient(Error),
    Other(Error),
}

/// Step 3: binds as a new client file and downloads the server state.
fn fetch_fresh_copy(session: &SyncSession) -> std::result::Result<(FreshCopy, u64), FetchError> {
    let realm = session.realm();
    let mut bound: Bound = match session.bind(true, true) {
        Ok(b) => b,
        Err(End::Reset(e)) | Err(End::Fatal(e)) => return Err(FetchError::Reset(e)),
        Err(End::Retry(e)) => return Err(FetchError::Transient(Error::Sync(e.message))),
        Err(End::Requested) => return Err(FetchError::Transient(Error::Sync("sync paused".into()))),
    };
    let progress = session.config().client_reset.on_download_progress.clone();
    let report = move |got: u64, total: u64| {
        if let Some(p) = &progress {
            p(got, total)
        }
    };
    let path = fresh::fresh_path(realm.path());
    let schema = realm.schema();
    // A server that offers it reconciles against the local file; others send a full copy.
    let local =
        bound.reconcile.then(|| fresh::Local { path: realm.path(), schema: &schema, window_objects: crate::reconcile::WINDOW_OBJECTS });
    let fresh = fresh::download(&mut bound.conn, &path, bound.epoch, local, &report).map_err(|e| match e {
        Error::Sync(_) | Error::Timeout(_) | Error::Protocol(_) => FetchError::Transient(e),
        other => FetchError::Other(other),
    })?;
    bound.conn.close();
    Ok((fresh, bound.ident))
}

/// The unsynced changesets to recover: everything not acknowledged, plus (after a restore from a
/// backup) what the server acknowledged after `lost_after`, the end of the restored history.
fn changes_to_recover(conn: &rusqlite::Connection, cursor: &Cursor, lost_after: Option<u64>) -> Result<Vec<Changeset>> {
    // Without a restore, a range of the primary key: the acknowledged history (possibly large)
    // is not read at all. (Its `server_version` sits after the changeset blob, so testing it
    // reads every blob.)
    let mut stmt = conn.prepare_cached(match lost_after {
        None => "SELECT changeset FROM ds_history WHERE version > ?1 ORDER BY version",
        Some(_) => {
            "SELECT changeset FROM ds_history WHERE version > ?1 OR (server_version IS NOT NULL AND server_version > ?2) ORDER BY version"
        }
    })?;
    let mut rows = match lost_after {
        None => stmt.query(rusqlite::params![cursor.acked as i64])?,
        Some(v) => stmt.query(rusqlite::params![cursor.acked as i64, v as i64])?,
    };
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let b: Vec<u8> = r.get(0)?;
        out.push(Changeset::decode(&b).map_err(|e| Error::FileCorrupt(e.to_string()))?);
    }
    Ok(out)
}

/// Step 4 (and 6): diff, replay, new history and cursors, pending record and report, all in one
/// write transaction; each phase is a lap of `clock`. `apply` false rolls it back (preview).
#[allow(clippy::too_many_arguments)]
fn transform_in_place(
    realm: &Realm,
    fresh: &FreshCopy,
    ident: u64,
    lost_after: Option<u64>,
    decision: ResetDecision,
    report: &mut ResetReport,
    clock: &mut PhaseClock,
    apply: bool,
) -> Result<()> {
    checkpoint_earlier_commits(realm)?;
    report.timings.download_us += clock.lap();
    realm.begin_write_mode(false)?;
    let result = (|| -> Result<()> {
        let recover = decision == ResetDecision::Recover;
        let (unsynced, replayed) = realm.with_txn(|tx, _| {
            if let Some(stamp) = fresh.local_stamp
                && fresh::LocalStamp::read(tx.conn, "main")? != stamp
            {
                return Err(Error::Sync(fresh::STALE_DELTA.into()));
            }
            let cursor = sync_meta::load_cursor(tx.conn)?;
            let unsynced = changes_to_recover(tx.conn, &cursor, lost_after)?;
            let erased = transform::begin(tx, if recover { &unsynced } else { &[] })?;
            let kept_local = transform::apply_diff(tx, fresh, true, &erased)?;
            report.timings.diff_us = clock.lap();
            let diff_changes = std::mem::replace(&mut tx.changes, crate::notify::ChangeSummary::muted());
            let replayed = if recover { transform::replay(tx, &unsynced, &kept_local)? } else { Replayed::default() };
            transform::finish(tx, diff_changes)?;
            report.timings.replay_us = clock.lap();
            Ok((unsynced, replayed))
        })?;
        // The change summary is the transform's own; what is left is counting it for the report.
        if decision == ResetDecision::Discard {
            for cs in &unsynced {
                for ins in &cs.instructions {
                    report.discarded.push(DroppedChange {
                        local_version: cs.local_version,
                        instruction: ins.describe(),
                        reason: "discarded: the reset did not recover unsynced changes".into(),
                        partially: false,
                    });
                }
            }
        }
        report.dropped = replayed.dropped;
        let kept: Vec<Vec<Instruction>> = replayed.kept.into_iter().filter(|k| !k.is_empty()).collect();
        report.recovered_changesets = kept.len() as u64;
        report.recovered_instructions = kept.iter().map(|k| k.len() as u64).sum();
        realm.with_txn(|tx, _| {
            for c in tx.changes.classes.values() {
                report.objects_inserted += c.inserted.len() as u64;
                report.objects_erased += c.erased.len() as u64;
                report.objects_modified += c.modified.len() as u64;
            }
            Ok(())
        })?;
        if !apply {
            report.timings.summary_us = clock.lap();
            report.derive_ms();
            return Ok(());
        }
        report.completed_at_ms = now_ms();
        // The stored report's milliseconds match its microseconds until the final timings replace both.
        report.derive_ms();
        let stored_report = stored_report::encode(report)?;
        let (server_version, salt, mode, cause, action) = (fresh.server_version, fresh.salt, report.mode, report.cause, report.action);
        let peer = realm.peer_id();
        realm.on_commit(move |conn, _| {
            // The recovered changesets become the new history; nothing of the diff is uploaded.
            conn.execute("DELETE FROM ds_history", [])?;
            conn.execute("DELETE FROM ds_local_creations", [])?;
            let mut version = store::get_meta::<i64>(conn, "local_version")?.unwrap_or(0) as u64;
            let acked = version;
            for instructions in kept {
                version += 1;
                let cs = Changeset::new(version, peer, instructions);
                conn.prepare_cached("INSERT INTO ds_history(version, changeset) VALUES(?1, ?2)")?
                    .execute(rusqlite::params![version as i64, cs.encode()])?;
            }
            store::set_meta(conn, "local_version", version as i64)?;
            sync_meta::save_cursor(conn, &Cursor { ident: Some(ident), server_version, salt, acked })?;
            let pending = PendingReset {
                decision,
                mode,
                cause,
                action: Some(action),
                at_ms: now_ms(),
                local_version_at_reset: version,
                downloaded: false,
            };
            store::set_meta(conn, PENDING_KEY, serde_json::to_string(&pending).unwrap_or_default())?;
            store::set_meta(conn, REPORT_KEY, stored_report)?;
            transform::size_as_usual(conn)
        })?;
        report.timings.summary_us = clock.lap();
        Ok(())
    })();
    match result {
        Ok(()) if apply => {
            super::crash_point("before_commit");
            realm.commit()?;
            report.timings.commit_us = clock.lap();
            report.derive_ms();
            // The report in the commit could not know the commit's own time.
            super::store_final_timings(realm, report)
        }
        Ok(()) => {
            let _ = realm.with_txn(|tx, _| transform::size_as_usual(tx.conn));
            realm.cancel()
        }
        Err(e) => {
            let _ = realm.with_txn(|tx, _| transform::size_as_usual(tx.conn));
            let _ = realm.cancel();
            Err(e)
        }
    }
}

/// Copies the WAL frames of earlier commits into the database before the transform's write
/// transaction begins (a passive checkpoint: it waits for nobody). Otherwise the transform's
/// commit usually crosses SQLite's auto-checkpoint threshold (1,000 frames) and copies them, with
/// two fsyncs, while it holds the realm's write lock; now it appends its own pages to a WAL that
/// starts over. Counted in the download phase (it is not work of the transform).
fn checkpoint_earlier_commits(realm: &Realm) -> Result<()> {
    realm.read(|conn, _| Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?))
}

fn store_report(realm: &Realm, report: &mut ResetReport) -> Result<()> {
    let stored = stored_report::encode(report)?;
    sync_meta::write_meta(realm, move |conn| store::set_meta(conn, REPORT_KEY, stored))
}

/// A consistent, openable copy of the realm's committed state.
fn backup_copy(realm: &Realm, dir: Option<&Path>, tag: &str) -> Result<PathBuf> {
    let src = realm.path();
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => src.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")),
    };
    std::fs::create_dir_all(&dir)?;
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "realm".into());
    let backup = dir.join(format!("{name}.{tag}-{}", now_ms()));
    realm.read(|conn, _| {
        conn.execute("VACUUM INTO ?1", [backup.to_string_lossy().as_ref()])?;
        Ok(())
    })?;
    Ok(backup)
}

/// What the manual handler receives. Cloneable, so an app can keep it past the handler.
#[derive(Clone)]
pub struct ManualReset {
    pub cause: Option<ResetCause>,
    pub message: String,
    pub original_path: PathBuf,
    pub backup_path: PathBuf,
    pub report: ResetReport,
    shared: std::sync::Weak<crate::realm::Shared>,
}

impl ManualReset {
    /// Performs the reset now: the realm file is deleted (the backup keeps its data) and the next
    /// open starts from the server's state. Every handle of the realm must be closed first.
    pub fn perform(&self) -> Result<()> {
        if let Some(shared) = self.shared.upgrade()
            && shared.live_handles.load(std::sync::atomic::Ordering::SeqCst) > 0
        {
            return Err(Error::Busy("close every handle of this realm before running the manual reset".into()));
        }
        crate::realm::forget_file(&self.original_path);
        delete_realm_files(&self.original_path)
    }
}

pub(crate) fn delete_realm_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        match std::fs::remove_file(PathBuf::from(s)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    fresh::remove(&fresh::fresh_path(path));
    Ok(())
}

/// Step 7: back the realm up, remember that the reset must run at the next open, and call the
/// app's handler.
fn manual(session: &SyncSession, demand: &SyncError, mut report: ResetReport) -> Result<AfterReset> {
    let realm = session.realm();
    let config = &session.config().client_reset;
    let backup = backup_copy(realm, config.backup_dir.as_deref(), "backup")?;
    report.backup_path = Some(backup.clone());
    report.completed_at_ms = now_ms();
    let json = serde_json::to_string(&report).unwrap_or_default();
    let stored = stored_report::encode(&mut report)?;
    sync_meta::write_meta(realm, move |conn| {
        store::set_meta(conn, REPORT_KEY, stored)?;
        store::set_meta(conn, MANUAL_KEY, json)
    })?;
    log::warn!(target: LOG, "manual: backup at {}; the reset runs when the app performs it or at the next open", backup.display());
    // Waits end with the reset error before the handler runs (it may take its time).
    let cause = demand.cause.map(|c| c.name().to_string()).unwrap_or_default();
    session.end_with(Error::ClientReset { cause, message: demand.message.clone() });
    if let Some(handler) = &config.manual {
        let m = ManualReset {
            cause: demand.cause,
            message: demand.message.clone(),
            original_path: realm.path().to_path_buf(),
            backup_path: backup,
            report,
            shared: Arc::downgrade(&realm.shared),
        };
        handler(&m);
    }
    Ok(AfterReset::Pause)
}

/// Whether a manual reset is waiting for the next open (checked before the file is used).
pub(crate) fn manual_reset_pending(conn: &rusqlite::Connection) -> bool {
    matches!(store::get_meta::<String>(conn, MANUAL_KEY), Ok(Some(_)))
}

/// A new client file: merge the server state under the local data, keep the local history (it
/// is uploaded next), and start from the state's server version.
pub(crate) fn bootstrap(session: &SyncSession, bound: &mut Bound) -> Result<()> {
    let realm = session.realm();
    let progress = session.config().client_reset.on_download_progress.clone();
    let report = move |got: u64, total: u64| {
        if let Some(p) = &progress {
            p(got, total)
        }
    };
    let path = fresh::fresh_path(realm.path());
    let fresh = fresh::download(&mut bound.conn, &path, bound.epoch, None, &report)?;
    let ident = bound.ident;
    let result = sync_meta::unrecorded_write(realm, || {
        realm.with_txn(|tx, _| {
            let local = sync_meta::local_changesets(tx.conn, 0, usize::MAX)?;
            let erased = transform::begin(tx, &local)?;
            let kept_local = transform::apply_diff(tx, &fresh, false, &erased)?;
            let diff_changes = std::mem::replace(&mut tx.changes, crate::notify::ChangeSummary::muted());
            transform::replay(tx, &local, &kept_local)?;
            transform::finish(tx, diff_changes)?;
            transform::size_as_usual(tx.conn)
        })?;
        let (server_version, salt) = (fresh.server_version, fresh.salt);
        // The server's state may hold objects created here before: what this client noted as
        // created locally no longer says the server lacks them (see `sync_meta::LocalCreations`).
        realm.on_commit(move |conn, _| {
            conn.execute("DELETE FROM ds_local_creations", [])?;
            sync_meta::save_cursor(conn, &Cursor { ident: Some(ident), server_version, salt, acked: 0 })
        })
    })
    .map(|_| ());
    drop(fresh);
    fresh::remove(&path);
    result
}
