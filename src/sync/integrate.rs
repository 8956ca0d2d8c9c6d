//! The client's side of the sync state stored in the realm: cursors, integration of downloaded
//! server changesets (rebasing the unsynced local changes on top, DESIGN rulebook), and upload
//! acknowledgements.

use crate::changeset::Changeset;
use crate::error::{Error, Result};
use crate::notify::ChangeSummary;
use crate::protocol::DownloadChangeset;
use crate::realm::Realm;
use crate::rules::{self, Mode, Tx};
use crate::schema::Schema;
use crate::store::{self, Field};
use rusqlite::Connection;

/// Where this client stands with the server.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cursor {
    pub ident: Option<u64>,
    /// The last server version integrated, and its salt.
    pub server_version: u64,
    pub salt: u64,
    /// The newest local version the server acknowledged.
    pub acked: u64,
}

pub fn load_cursor(conn: &Connection) -> Result<Cursor> {
    Ok(Cursor {
        ident: store::get_meta::<i64>(conn, "sync.ident")?.map(|i| i as u64),
        server_version: store::get_meta::<i64>(conn, "sync.server_version")?.unwrap_or(0) as u64,
        salt: store::get_meta::<i64>(conn, "sync.salt")?.unwrap_or(0) as u64,
        acked: store::get_meta::<i64>(conn, "sync.acked")?.unwrap_or(0) as u64,
    })
}

pub fn save_cursor(conn: &Connection, c: &Cursor) -> Result<()> {
    match c.ident {
        Some(i) => store::set_meta(conn, "sync.ident", i as i64)?,
        None => store::delete_meta(conn, "sync.ident")?,
    }
    store::set_meta(conn, "sync.server_version", c.server_version as i64)?;
    store::set_meta(conn, "sync.salt", c.salt as i64)?;
    store::set_meta(conn, "sync.acked", c.acked as i64)?;
    Ok(())
}

pub fn cursor(realm: &Realm) -> Result<Cursor> {
    realm.read(|conn, _| load_cursor(conn))
}

/// Runs `body` in a write transaction that records no local changeset (sync and reset work),
/// then makes the change summary exact and commits; rolls back if anything fails.
pub fn unrecorded_write(realm: &Realm, body: impl FnOnce() -> Result<()>) -> Result<ChangeSummary> {
    realm.begin_write_mode(false)?;
    let result = body().and_then(|_| refine_changes(realm)).and_then(|_| realm.commit());
    if result.is_err() && realm.is_in_write_transaction() {
        let _ = realm.cancel();
    }
    result
}

/// Runs `f` on the connection inside a write transaction that records nothing and changes no
/// objects (sync bookkeeping).
pub fn write_meta(realm: &Realm, f: impl FnOnce(&Connection) -> Result<()> + Send + 'static) -> Result<()> {
    unrecorded_write(realm, || realm.on_commit(move |conn, _| f(conn))).map(|_| ())
}

/// Local changesets after `after`, at most `limit`, oldest first.
pub fn local_changesets(conn: &Connection, after: u64, limit: usize) -> Result<Vec<Changeset>> {
    let mut stmt = conn.prepare_cached("SELECT changeset FROM ds_history WHERE version > ?1 ORDER BY version LIMIT ?2")?;
    let mut rows = stmt.query(rusqlite::params![after as i64, limit.min(i64::MAX as usize) as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let b = r.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("history row is not a blob".into()))?;
        out.push(Changeset::decode(b).map_err(|e| Error::FileCorrupt(e.to_string()))?);
    }
    Ok(out)
}

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
            for dc in changesets {
                apply_rebased(tx, &dc.changeset, &local, dc.last_integrated_client_version)?;
            }
            Ok(())
        })?;
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
        })
    })
}

/// One server changeset, then the concurrent local instructions on the objects it touched.
fn apply_rebased(tx: &mut Tx, cs: &Changeset, local: &[Changeset], integrated: u64) -> Result<()> {
    let before = std::mem::take(&mut tx.changes);
    for ins in &cs.instructions {
        rules::apply(tx, ins, Mode::Merge)?;
    }
    let touched = tx.changes.clone();
    let named: Vec<_> = cs.instructions.iter().filter_map(|i| i.object().map(|(c, pk)| (c.to_string(), pk.clone()))).collect();
    for lc in local.iter().filter(|c| c.local_version > integrated) {
        for ins in &lc.instructions {
            let relevant = match ins.object() {
                None => true,
                Some((c, pk)) => touched.touches(c, pk) || named.iter().any(|(nc, npk)| nc == c && npk == pk),
            };
            if relevant {
                rules::apply(tx, ins, Mode::Merge)?;
            }
        }
    }
    let mut all = before;
    all.merge(&tx.changes);
    tx.changes = all;
    Ok(())
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
                    (Some(o), Some(n)) => {
                        for (i, p) in cs.properties.iter().enumerate() {
                            let same = match (o.fields.get(i), n.fields.get(i)) {
                                (Some(Field::Value(a)), Some(Field::Value(b))) => a.same_as(b),
                                (Some(Field::List(a)), Some(Field::List(b))) => a.values() == b.values(),
                                (a, b) => a == b,
                            };
                            if !same {
                                exact.record_modify(&class, pk, &p.name);
                            }
                        }
                    }
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
        conn.prepare_cached("UPDATE ds_history SET server_version = ?2 WHERE version <= ?1 AND server_version IS NULL")?
            .execute(rusqlite::params![local_version as i64, server_version as i64])?;
        let mut c = load_cursor(conn)?;
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
    let Some(keep_from) = cursor.acked.checked_sub(retain) else { return Ok(()) };
    conn.prepare_cached("DELETE FROM ds_history WHERE version <= ?1 AND server_version IS NOT NULL AND server_version <= ?2")?
        .execute(rusqlite::params![keep_from as i64, cursor.server_version as i64])?;
    Ok(())
}
