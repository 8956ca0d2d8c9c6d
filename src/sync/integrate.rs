//! Integration of downloaded server changesets (rebasing the unsynced local changes on top,
//! DESIGN rulebook), compensating writes, upload acknowledgements and history trimming. The
//! cursors and the unrecorded write these build on are in `sync_meta` (shared with reset).

use crate::changeset::{Changeset, Instruction};
use crate::error::Result;
use crate::notify::ChangeSummary;
use crate::protocol::DownloadChangeset;
use crate::realm::Realm;
use crate::rules::{self, Mode, Outcome, Tx};
use crate::schema::Schema;
use crate::store;
use crate::sync_meta::{
    Cursor, LocalCreations, forget_synced_creations, load_cursor, load_local_creations, local_changesets, save_cursor,
    save_local_creations, unrecorded_write, write_meta,
};
use rusqlite::Connection;

/// Applies one downloaded batch in one write transaction: each server changeset in order, each
/// followed by the local changes the server had not integrated before it (only those touching
/// what it changed), so the local change comes later, as it will on the server. Observers get the
/// exact net change.
pub fn integrate_download(realm: &Realm, changesets: &[DownloadChangeset], latest: u64, latest_salt: u64) -> Result<ChangeSummary> {
    let retain = retention(realm);
    unrecorded_write(realm, || {
        realm.with_txn(|tx, _| {
            let oldest_base = changesets.iter().map(|c| c.last_integrated_client_version).min().unwrap_or(u64::MAX);
            let local = if changesets.is_empty() { Vec::new() } else { local_changesets(tx.conn, oldest_base, usize::MAX)? };
            let mut creations = load_local_creations(tx.conn)?;
            for dc in changesets {
                apply_rebased(tx, &dc.changeset, &local, dc.last_integrated_client_version, &mut creations)?;
            }
            save_local_creations(tx.conn, &creations)
        })?;
        refine_changes(realm)?;
        realm.on_commit(move |conn, _| {
            let mut c = load_cursor(conn)?;
            if latest >= c.server_version {
                c.server_version = latest;
                c.salt = latest_salt;
            }
            save_cursor(conn, &c)?;
            trim_history(conn, &c, retain)
        })
    })
}

/// Applies a compensating write: the objects the server refused to change (for the client's
/// role) are set back to the server's state, then this client's later changes to them are applied
/// again on top, in one transaction that records nothing. Observers see the exact change.
pub fn apply_compensation(realm: &Realm, local_version: u64, objects: &[crate::protocol::CompensatedObject]) -> Result<ChangeSummary> {
    unrecorded_write(realm, || {
        realm.with_txn(|tx, _| {
            let schema = tx.schema.clone();
            let mut named = Vec::new();
            for o in objects {
                // A class this client does not have holds nothing to undo.
                let Ok((ci, local)) = schema.class(&o.class) else { continue };
                let wanted = match &o.data {
                    Some(bytes) => {
                        let server = crate::schema::ClassSchema::new(&o.class, &local.primary_key, o.properties.clone());
                        Some(crate::state::remap(local, &server, bytes)?)
                    }
                    None => None,
                };
                crate::state::write_state(tx, ci, &o.pk, wanted)?;
                named.push((o.class.clone(), o.pk.clone()));
            }
            for lc in local_changesets(tx.conn, local_version, usize::MAX)? {
                for ins in &lc.instructions {
                    if ins.object().is_some_and(|(c, pk)| named.iter().any(|(nc, npk)| nc == c && npk == pk)) {
                        rules::apply(tx, ins, Mode::Merge)?;
                    }
                }
            }
            Ok(())
        })?;
        refine_changes(realm)
    })
}

/// One server changeset, then the concurrent local instructions on the objects it touched.
/// The server changeset is applied as the server did: an object this client created that the
/// server did not have at that point (`creations`: created by a local changeset the server had
/// not integrated yet) is absent there, so the changeset's instructions on it are dropped and
/// its links to it are links to a missing object (`Tx::absent_on_server`); else a local
/// re-creation of an object erased on the server would keep a change the server dropped. The
/// local instructions applied again then put the client's changes on top.
fn apply_rebased(tx: &mut Tx, cs: &Changeset, local: &[Changeset], integrated: u64, creations: &mut LocalCreations) -> Result<()> {
    let before = std::mem::take(&mut tx.changes);
    creations.retain(|_, version| *version > integrated);
    tx.absent_on_server = creations.keys().cloned().collect();
    for ins in &cs.instructions {
        if let Some((class, pk)) = ins.object() {
            let key = (class.to_string(), pk.to_key_bytes());
            if matches!(ins, Instruction::CreateObject { .. }) {
                tx.absent_on_server.remove(&key);
                creations.remove(&key);
            } else if creations.contains_key(&key) {
                log_dropped(ins, Outcome::Dropped("the object is not on the server at this point".into()));
                continue;
            }
        }
        log_dropped(ins, rules::apply(tx, ins, Mode::Merge)?);
    }
    tx.absent_on_server.clear();
    let touched = tx.changes.clone();
    let named: Vec<_> = cs.instructions.iter().filter_map(|i| i.object().map(|(c, pk)| (c.to_string(), pk.clone()))).collect();
    // The local instructions applied again so far: a local set of a counter applied again
    // replaces its value too, so the local adds after it must count again.
    let mut reapplied: Vec<&Instruction> = Vec::new();
    for lc in local.iter().filter(|c| c.local_version > integrated) {
        for ins in &lc.instructions {
            let relevant = match ins.object() {
                None => true,
                // An add is not idempotent: it is already in the local value, and counts again
                // only when the server's changeset (or a local set applied again) replaced that
                // value.
                Some(_) if matches!(ins, Instruction::CounterAdd { .. }) => {
                    replaces_counter(cs.instructions.iter().chain(reapplied.iter().copied()), ins)
                }
                Some((c, pk)) => touched.touches(c, pk) || named.iter().any(|(nc, npk)| nc == c && npk == pk),
            };
            if relevant {
                log_dropped(ins, rules::apply(tx, ins, Mode::Merge)?);
                reapplied.push(ins);
                note_recreation(tx, cs, ins, lc.local_version, creations)?;
            }
        }
    }
    let mut all = before;
    all.merge(&tx.changes);
    tx.changes = all;
    Ok(())
}

/// A local create applied again that re-made an object the server changeset erased: the
/// server lacks it until it integrates that local changeset.
fn note_recreation(tx: &Tx, cs: &Changeset, ins: &Instruction, version: u64, creations: &mut LocalCreations) -> Result<()> {
    let Instruction::CreateObject { class, pk, .. } = ins else { return Ok(()) };
    let last_on_server = cs.instructions.iter().rev().find(|i| {
        matches!(i, Instruction::CreateObject { .. } | Instruction::EraseObject { .. }) && i.object() == Some((class.as_str(), pk))
    });
    if matches!(last_on_server, Some(Instruction::EraseObject { .. })) {
        let (ci, _) = tx.schema.class(class)?;
        if store::object_exists(tx.conn, ci, pk)? {
            creations.entry((class.clone(), pk.to_key_bytes())).or_insert(version);
        }
    }
    Ok(())
}

/// Normal sync has no report: an instruction a rule drops (a change under an object erased on
/// the server, an embedded object replaced there...) is logged.
fn log_dropped(ins: &Instruction, outcome: Outcome) {
    if let Outcome::Dropped(why) = outcome {
        log::info!(target: "driftsync::sync", "dropped by the merge rules: {}: {why}", ins.describe());
    }
}

/// Whether one of `instructions` sets the counter a local `CounterAdd` adds to (or erases its
/// object), so that the add must be applied again on top of the value it left.
fn replaces_counter<'a>(mut instructions: impl Iterator<Item = &'a Instruction>, add: &Instruction) -> bool {
    let Instruction::CounterAdd { class, pk, prop, .. } = add else { return false };
    instructions.any(|i| match i {
        Instruction::Set { class: c, pk: k, prop: p, .. } => c == class && k == pk && p == prop,
        Instruction::CreateObject { class: c, pk: k, fields } => c == class && k == pk && fields.iter().any(|(n, _)| n == prop),
        Instruction::EraseObject { class: c, pk: k } => c == class && k == pk,
        _ => false,
    })
}

/// Replaces the transaction's change summary by the exact net change: each object it names as
/// erased or modified is compared with its committed state (read through a separate connection,
/// which does not see the open transaction). Objects that only appeared are insertions as they
/// stand. Streams: nothing but the summary itself is held.
pub fn refine_changes(realm: &Realm) -> Result<()> {
    let path = realm.path().to_path_buf();
    realm.with_txn(|tx, _| {
        let summary = std::mem::take(&mut tx.changes);
        if summary.is_empty() {
            return Ok(());
        }
        let committed = store::connect(&path, std::time::Duration::from_secs(10))?;
        committed.execute_batch("BEGIN DEFERRED")?;
        let committed_classes = committed_class_count(&committed)?;
        let mut exact = ChangeSummary::default();
        for (class, c) in summary.classes {
            let (ci, cs) = tx.schema.class(&class)?;
            let before = |pk: &crate::value::PrimaryKey| -> Result<Option<crate::store::ObjectData>> {
                // A class added in this transaction has no committed objects.
                if ci < committed_classes { store::load_object(&committed, ci, cs, pk) } else { Ok(None) }
            };
            for pk in c.erased.iter().chain(c.modified.keys()).chain(c.inserted.iter().filter(|pk| c.erased.contains(*pk))) {
                let old = before(pk)?;
                let new = store::load_object(tx.conn, ci, cs, pk)?;
                match (old, new) {
                    (None, Some(_)) => exact.record_insert(&class, pk),
                    (Some(_), None) => exact.record_erase(&class, pk),
                    (Some(o), Some(n)) => exact.record_object(cs, pk, &o, &n),
                    (None, None) => {}
                }
            }
            for pk in c.inserted.into_iter().filter(|pk| !c.erased.contains(pk)) {
                exact.record_insert(&class, &pk);
            }
        }
        let _ = committed.execute_batch("COMMIT");
        tx.changes = exact;
        Ok(())
    })
}

fn committed_class_count(conn: &Connection) -> Result<usize> {
    let json: Option<String> = store::get_meta(conn, "schema")?;
    Ok(json.map(|j| Schema::from_json(&j).map(|s| s.classes.len())).transpose()?.unwrap_or(0))
}

/// Records the server's acknowledgement of local changesets up to `local_version`.
pub fn apply_ack(realm: &Realm, local_version: u64, server_version: u64) -> Result<()> {
    let retain = retention(realm);
    write_meta(realm, move |conn| {
        let mut c = load_cursor(conn)?;
        // Acknowledgements come in order: only the versions after the acknowledged cursor are
        // new. (Testing `server_version IS NULL` on the older rows would read each of their
        // changeset blobs, since the column sits after the blob: every ack re-reading the
        // whole acknowledged history.)
        conn.prepare_cached("UPDATE ds_history SET server_version = ?3 WHERE version > ?1 AND version <= ?2 AND server_version IS NULL")?
            .execute(rusqlite::params![c.acked as i64, local_version as i64, server_version as i64])?;
        c.acked = c.acked.max(local_version);
        save_cursor(conn, &c)?;
        trim_history(conn, &c, retain)
    })
}

fn retention(realm: &Realm) -> u64 {
    realm.shared.sync_config.lock().as_ref().map_or(crate::config::DEFAULT_RETAIN_ACKNOWLEDGED, |c| c.retain_acknowledged)
}

/// Deletes acknowledged changesets that sync no longer needs (the server's version of them is
/// downloaded, so no rebase can involve them), keeping the newest `retain` of them for the
/// recovery of changes a restored server lost. Acknowledgements come in order, so the
/// acknowledged changesets are exactly the local versions up to `cursor.acked`.
pub fn trim_history(conn: &Connection, cursor: &Cursor, retain: u64) -> Result<()> {
    forget_synced_creations(conn, cursor.server_version)?;
    let Some(keep_from) = cursor.acked.checked_sub(retain) else { return Ok(()) };
    conn.prepare_cached("DELETE FROM ds_history WHERE version <= ?1 AND server_version IS NOT NULL AND server_version <= ?2")?
        .execute(rusqlite::params![keep_from as i64, cursor.server_version as i64])?;
    Ok(())
}
