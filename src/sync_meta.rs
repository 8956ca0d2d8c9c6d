//! The sync state kept in the realm that both sync and client reset read and write: the
//! client's cursors (`ds_meta` keys `sync.*`), the unsynced local changesets, and the write
//! transaction that records no changeset (the one sync and reset bookkeeping use).

use crate::changeset::Changeset;
use crate::error::{Error, Result};
use crate::notify::ChangeSummary;
use crate::realm::Realm;
use crate::store;
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
/// then commits; rolls back if anything fails. `body` leaves the transaction's change summary
/// exact (observers get it as it stands).
pub fn unrecorded_write(realm: &Realm, body: impl FnOnce() -> Result<()>) -> Result<ChangeSummary> {
    realm.begin_write_mode(false)?;
    let result = body().and_then(|_| realm.commit());
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
    Ok(changesets_up_to(conn, after, limit, usize::MAX)?.0)
}

/// Local changesets after `after` for one upload message: at most `limit` of them and at most
/// `max_bytes` of stored changesets, but always the first one. Returns them and the stored size
/// of the first (an upload message must carry it whole).
pub fn upload_batch(conn: &Connection, after: u64, limit: usize, max_bytes: usize) -> Result<(Vec<Changeset>, usize)> {
    changesets_up_to(conn, after, limit, max_bytes)
}

fn changesets_up_to(conn: &Connection, after: u64, limit: usize, max_bytes: usize) -> Result<(Vec<Changeset>, usize)> {
    let mut stmt = conn.prepare_cached("SELECT changeset FROM ds_history WHERE version > ?1 ORDER BY version LIMIT ?2")?;
    let mut rows = stmt.query(rusqlite::params![after as i64, limit.min(i64::MAX as usize) as i64])?;
    let (mut out, mut bytes, mut first_bytes) = (Vec::new(), 0usize, 0usize);
    while let Some(r) = rows.next()? {
        let b = r.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("history row is not a blob".into()))?;
        if !out.is_empty() && bytes.saturating_add(b.len()) > max_bytes {
            break;
        }
        if out.is_empty() {
            first_bytes = b.len();
        }
        bytes = bytes.saturating_add(b.len());
        out.push(Changeset::decode(b).map_err(|e| Error::FileCorrupt(e.to_string()))?);
    }
    Ok((out, first_bytes))
}

/// Objects this client created that the server may not have yet, by (class, primary key bytes),
/// with the local version of the changeset that created them. Until the server has integrated
/// that changeset, its own changesets see no such object (it was never there, or erased), so
/// the server dropped their instructions on it and the client must too (`integrate`).
pub type LocalCreations = std::collections::BTreeMap<(String, Vec<u8>), u64>;

/// Notes the objects a recorded local transaction inserted (the earliest version stays).
pub fn note_local_creations(conn: &Connection, version: u64, changes: &ChangeSummary) -> Result<()> {
    let mut stmt = conn.prepare_cached("INSERT OR IGNORE INTO ds_local_creations(class, pk, version) VALUES(?1, ?2, ?3)")?;
    for (class, c) in &changes.classes {
        for pk in &c.inserted {
            stmt.execute(rusqlite::params![class, pk.to_key_bytes(), version as i64])?;
        }
    }
    Ok(())
}

pub fn load_local_creations(conn: &Connection) -> Result<LocalCreations> {
    let mut stmt = conn.prepare_cached("SELECT class, pk, version FROM ds_local_creations")?;
    let rows = stmt.query_map([], |r| Ok(((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?), r.get::<_, i64>(2)? as u64)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn save_local_creations(conn: &Connection, creations: &LocalCreations) -> Result<()> {
    conn.execute("DELETE FROM ds_local_creations", [])?;
    let mut stmt = conn.prepare_cached("INSERT INTO ds_local_creations(class, pk, version) VALUES(?1, ?2, ?3)")?;
    for ((class, pk), version) in creations {
        stmt.execute(rusqlite::params![class, pk, *version as i64])?;
    }
    Ok(())
}

/// Forgets the creations of changesets the server acknowledged at or before `server_version`
/// (downloaded past: no server changeset from before them can come any more).
pub fn forget_synced_creations(conn: &Connection, server_version: u64) -> Result<()> {
    // The subquery reads only `ds_history_by_server_version` (the version is the row id).
    conn.prepare_cached("DELETE FROM ds_local_creations WHERE version IN (SELECT version FROM ds_history WHERE server_version <= ?1)")?
        .execute([server_version as i64])?;
    Ok(())
}
