//! Step 3: the fresh copy. The server state is written into `<path>.fresh`, a small SQLite file
//! of object states, which the transform reads back in (class, primary key) order.
//!
//! Two ways to get it: a full copy pulled with `StateRequest`s (a cut-off download resumes from
//! the last key stored), or, when the server offers it, range reconciliation (`reconcile.rs`):
//! only the records of key ranges whose fingerprints differ travel. A reconciled copy is a
//! *delta* over the local file for the classes both sides lay out alike (`fresh_delta`): it holds
//! the server records the local file lacks or has otherwise and the local keys the server lacks
//! (both in `fresh_objects`, a key the server lacks with no record, so that the transform reads
//! one stream in key order); every other object of those classes is as the local file
//! holds it. The local file's stamp (its local version and server cursor) at the reconciliation
//! is stored with it: a local write since makes the delta stale (`LocalStamp`), and the reset
//! reconciles again. The reconciliation runs in one transaction of the fresh file that also reads
//! the local file in one snapshot, so a client killed during it leaves no fresh copy and starts
//! again next time. A file from another epoch or one that is garbage is replaced.

use crate::error::{Error, Result};
use crate::protocol::{ClientMessage, RangeAnswer, RangeQuery, RawRecord, ServerMessage, WantedRecords};
use crate::reconcile::{self, Window};
use crate::schema::{ClassSchema, Property, Schema};
use crate::sync::WsConn;
use crate::value::PrimaryKey;
use rusqlite::{Connection, OptionalExtension, params};
use serde_bytes::ByteBuf;
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHUNK_OBJECTS: u32 = 10_000;
/// Layout of the fresh-copy file; a file of another layout is replaced.
const FRESH_FORMAT: i64 = 3;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub fn fresh_path(realm_path: &Path) -> PathBuf {
    let mut s = realm_path.as_os_str().to_owned();
    s.push(".fresh");
    PathBuf::from(s)
}

/// Removes the fresh copy and its SQLite side files.
pub fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(s));
    }
}

/// A complete fresh copy, ready for the transform.
pub struct FreshCopy {
    pub conn: Connection,
    /// The server version the state is at least as new as (the first chunk's), and its salt:
    /// downloads continue after it.
    pub server_version: u64,
    pub salt: u64,
    pub objects: u64,
    /// Payload bytes sent and received to get it (this run; 0 when it was complete already).
    pub transferred_bytes: u64,
    /// Ranges whose fingerprints differed (0 for a full copy).
    pub ranges_differed: u64,
    /// Classes the copy holds as a delta over the local file (empty for a full copy).
    pub delta_classes: HashSet<String>,
    /// The local file's stamp the delta was computed against (None for a full copy).
    pub local_stamp: Option<LocalStamp>,
}

/// Why a delta copy cannot be used: the local file changed after the reconciliation.
pub const STALE_DELTA: &str = "the realm changed after its fresh copy was reconciled";

/// What says that the local file has not changed since a reconciliation: its newest local
/// version (every recorded write bumps it) and its server cursor (every download moves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalStamp {
    pub local_version: i64,
    pub server_version: i64,
}

impl LocalStamp {
    /// The stamp of the realm file of `conn` (database `db`: "main" or the attached "local").
    pub fn read(conn: &Connection, db: &str) -> Result<LocalStamp> {
        let get = |key: &str| -> Result<i64> {
            let sql = format!("SELECT value FROM {db}.ds_meta WHERE key = ?1");
            Ok(conn.query_row(&sql, [key], |r| r.get::<_, i64>(0)).optional()?.unwrap_or(0))
        };
        Ok(LocalStamp { local_version: get("local_version")?, server_version: get("sync.server_version")? })
    }
}

/// The local realm a reconciliation compares against: its file and schema, and how many of its
/// objects a window holds (`reconcile::WINDOW_OBJECTS`; smaller in tests of window boundaries).
pub struct Local<'a> {
    pub path: &'a Path,
    pub schema: &'a Schema,
    pub window_objects: usize,
}

fn open_store(path: &Path, epoch: u64) -> Result<Connection> {
    let try_open = || -> Result<Connection> {
        // Through the VFS that gathers WAL writes, as the realm: a download writes the whole copy.
        let conn = crate::wal_writes::open(path, rusqlite::OpenFlags::default())?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS fresh_meta(key TEXT PRIMARY KEY, value ANY NOT NULL);
             CREATE TABLE IF NOT EXISTS fresh_props(class TEXT PRIMARY KEY, props TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS fresh_objects(class TEXT NOT NULL, pk BLOB NOT NULL, data BLOB, new_key INTEGER NOT NULL DEFAULT 0,
                 PRIMARY KEY(class, pk)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS fresh_delta(class TEXT PRIMARY KEY);",
        )?;
        let stored: Option<i64> = conn.query_row("SELECT value FROM fresh_meta WHERE key='epoch'", [], |r| r.get(0)).optional()?;
        if stored.is_some_and(|e| e as u64 != epoch) {
            return Err(Error::FileCorrupt("fresh copy of another epoch".into()));
        }
        let format: Option<i64> = conn.query_row("SELECT value FROM fresh_meta WHERE key='format'", [], |r| r.get(0)).optional()?;
        if format.is_some_and(|f| f != FRESH_FORMAT) {
            return Err(Error::FileCorrupt("fresh copy of another format".into()));
        }
        conn.execute("INSERT OR REPLACE INTO fresh_meta(key, value) VALUES('format', ?1)", [FRESH_FORMAT])?;
        conn.execute("INSERT OR REPLACE INTO fresh_meta(key, value) VALUES('epoch', ?1)", [epoch as i64])?;
        Ok(conn)
    };
    match try_open() {
        Ok(c) => Ok(c),
        Err(_) => {
            // Garbage, or a copy of another history: start over.
            remove(path);
            try_open()
        }
    }
}

fn meta_i64(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn.query_row("SELECT value FROM fresh_meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

fn set_meta(conn: &Connection, key: &str, v: impl rusqlite::ToSql) -> Result<()> {
    conn.execute("INSERT OR REPLACE INTO fresh_meta(key, value) VALUES(?1, ?2)", params![key, v])?;
    Ok(())
}

/// Gets (or resumes) the server state into `path` over a bound connection: by range
/// reconciliation against `local` when given and no full copy is half done, else by a full copy.
/// `progress(received, total)` is called after each chunk.
pub fn download(conn: &mut WsConn, path: &Path, epoch: u64, local: Option<Local>, progress: &dyn Fn(u64, u64)) -> Result<FreshCopy> {
    let db = open_store(path, epoch)?;
    if meta_i64(&db, "done")? == Some(1) {
        return finish(db);
    }
    let full_copy_started = meta_i64(&db, "received")?.is_some_and(|n| n > 0);
    if let Some(local) = local.filter(|_| !full_copy_started) {
        reconcile_into(conn, &db, &local)?;
        // The copy stands for the server's whole state, however little of it travelled.
        let total = meta_i64(&db, "total")?.unwrap_or(0) as u64;
        progress(total, total);
        return finish(db);
    }
    // Bytes of this run not yet added to the stored count (which spans resumed runs).
    let mut counted = conn.bytes_transferred();
    let after: Option<(String, PrimaryKey)> =
        match db.query_row("SELECT value FROM fresh_meta WHERE key='last'", [], |r| r.get::<_, Vec<u8>>(0)).optional()? {
            Some(b) => Some(rmp_serde::from_slice(&b).map_err(|e| Error::FileCorrupt(format!("fresh copy cursor: {e}")))?),
            None => None,
        };
    // The next chunk is requested before this one is stored, so the server prepares it while
    // this side writes.
    conn.send(&ClientMessage::StateRequest { after: after.clone(), max_objects: CHUNK_OBJECTS })?;
    loop {
        let msg = conn.recv_required(ANSWER_TIMEOUT)?;
        let ServerMessage::StateChunk { server_version, salt, class, properties, objects, last, done, total_objects } = msg else {
            return Err(match msg {
                ServerMessage::Error(e) => Error::Sync(format!("fresh copy refused: {}", e.message)),
                other => Error::Protocol(format!("expected a state chunk, got {other:?}")),
            });
        };
        if !done {
            let Some(next) = &last else {
                return Err(Error::Protocol("a state chunk that is not the last one has no resume key".into()));
            };
            conn.send(&ClientMessage::StateRequest { after: Some(next.clone()), max_objects: CHUNK_OBJECTS })?;
        }
        db.execute_batch("BEGIN")?;
        let stored = (|| -> Result<(u64, u64)> {
            if meta_i64(&db, "server_version")?.is_none() {
                set_meta(&db, "server_version", server_version as i64)?;
                set_meta(&db, "salt", salt as i64)?;
            }
            if !objects.is_empty() {
                let props = serde_json::to_string(&properties).unwrap_or_default();
                db.execute("INSERT OR REPLACE INTO fresh_props(class, props) VALUES(?1, ?2)", params![class, props])?;
            }
            let mut ins = db.prepare_cached("INSERT OR REPLACE INTO fresh_objects(class, pk, data) VALUES(?1, ?2, ?3)")?;
            for o in &objects {
                ins.execute(params![class, o.pk.to_key_bytes(), o.data])?;
            }
            if let Some(l) = &last {
                set_meta(&db, "last", rmp_serde::to_vec(l).unwrap_or_default())?;
            }
            set_meta(&db, "done", done as i64)?;
            // Only the first chunk of a download carries the total.
            if total_objects > 0 {
                set_meta(&db, "total", total_objects as i64)?;
            }
            let received = meta_i64(&db, "received")?.unwrap_or(0) as u64 + objects.len() as u64;
            set_meta(&db, "received", received as i64)?;
            let transferred = meta_i64(&db, "transferred")?.unwrap_or(0) as u64 + (conn.bytes_transferred() - counted);
            set_meta(&db, "transferred", transferred as i64)?;
            Ok((received, meta_i64(&db, "total")?.unwrap_or(0) as u64))
        })();
        let (received, total) = match stored {
            Ok(counts) => {
                db.execute_batch("COMMIT")?;
                counted = conn.bytes_transferred();
                counts
            }
            Err(e) => {
                let _ = db.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        progress(received, total.max(received));
        if done {
            return finish(db);
        }
        super::crash_point("fresh_download");
    }
}

fn finish(conn: Connection) -> Result<FreshCopy> {
    let server_version = meta_i64(&conn, "server_version")?.unwrap_or(0) as u64;
    let salt = meta_i64(&conn, "salt")?.unwrap_or(0) as u64;
    let objects = meta_i64(&conn, "received")?.unwrap_or(0) as u64;
    let transferred_bytes = meta_i64(&conn, "transferred")?.unwrap_or(0) as u64;
    let ranges_differed = meta_i64(&conn, "ranges_differed")?.unwrap_or(0) as u64;
    let delta_classes = {
        let mut stmt = conn.prepare("SELECT class FROM fresh_delta")?;
        stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<HashSet<String>>>()?
    };
    let local_stamp = match (meta_i64(&conn, "stamp_local_version")?, meta_i64(&conn, "stamp_server_version")?) {
        (Some(local_version), Some(server_version)) if !delta_classes.is_empty() => Some(LocalStamp { local_version, server_version }),
        _ => None,
    };
    Ok(FreshCopy { conn, server_version, salt, objects, transferred_bytes, ranges_differed, delta_classes, local_stamp })
}

/// A range still to ask about; `continued`: the rest of a `Records` answer cut for size.
struct Pending {
    query: RangeQuery,
    continued: bool,
}

/// Fills the (empty) fresh copy by range reconciliation in one transaction.
fn reconcile_into(conn: &mut WsConn, db: &Connection, local: &Local) -> Result<()> {
    let path = local.path.to_str().ok_or_else(|| Error::InvalidArgument("realm path is not UTF-8".into()))?;
    let _ = db.execute("DETACH DATABASE local", []);
    db.execute("ATTACH DATABASE ?1 AS local", [path])?;
    db.execute_batch("BEGIN")?;
    let result = reconcile_in_txn(conn, db, local);
    match result {
        Ok(()) => {
            db.execute_batch("COMMIT")?;
            db.execute("DETACH DATABASE local", [])?;
            Ok(())
        }
        Err(e) => {
            let _ = db.execute_batch("ROLLBACK");
            let _ = db.execute("DETACH DATABASE local", []);
            Err(e)
        }
    }
}

fn reconcile_in_txn(conn: &mut WsConn, db: &Connection, local: &Local) -> Result<()> {
    let start_bytes = conn.bytes_transferred();
    db.execute_batch("DELETE FROM fresh_objects; DELETE FROM fresh_props; DELETE FROM fresh_delta;")?;
    let stamp = LocalStamp::read(db, "local")?;
    conn.send(&ClientMessage::ReconcileBegin)?;
    let (server_version, salt, server_classes) = match conn.recv_required(ANSWER_TIMEOUT)? {
        ServerMessage::ReconcileClasses { server_version, salt, classes } => (server_version, salt, classes),
        other => return Err(unexpected("the classes of a reconciliation", other)),
    };
    let mut differed = 0u64;
    for sc in &server_classes {
        let local_idx = local.schema.class_index(&sc.name).filter(|&ci| {
            let lc = &local.schema.classes[ci];
            crate::state::same_layout(lc, &ClassSchema::new(&lc.name, &lc.primary_key, sc.properties.clone()))
        });
        let Some(ci) = local_idx else {
            // Nothing of it can be compared: all of it is fetched.
            if sc.fingerprint.count > 0 {
                differed += reconcile_window(conn, db, &sc.name, &Window::default())?;
            }
            continue;
        };
        db.execute("INSERT INTO fresh_delta(class) VALUES(?1)", [&sc.name])?;
        // One window of local objects at a time, in key order: one scan of the local hashes.
        let mut lo = Vec::new();
        loop {
            let window = Window::read(db, "local", ci, &lo, local.window_objects.max(1))?;
            let whole_class = lo.is_empty() && window.end.is_none();
            if !(whole_class && window.index.fingerprint(&[], None) == sc.fingerprint) {
                differed += reconcile_window(conn, db, &sc.name, &window)?;
            }
            match window.end {
                Some(end) => lo = end,
                None => break,
            }
        }
    }
    // As with a full copy, a class has a layout in the fresh copy when it has objects there; a
    // delta class always has one (its objects may all be the local file's).
    for sc in &server_classes {
        let has: Option<i64> = db
            .query_row(
                "SELECT 1 FROM fresh_objects WHERE class = ?1 UNION ALL SELECT 1 FROM fresh_delta WHERE class = ?1 LIMIT 1",
                [&sc.name],
                |r| r.get(0),
            )
            .optional()?;
        if has.is_some() {
            let json = serde_json::to_string(&sc.properties).unwrap_or_default();
            db.execute("INSERT OR REPLACE INTO fresh_props(class, props) VALUES(?1, ?2)", params![sc.name, json])?;
        }
    }
    let received: i64 = db.query_row("SELECT COUNT(*) FROM fresh_objects WHERE data IS NOT NULL", [], |r| r.get(0))?;
    set_meta(db, "server_version", server_version as i64)?;
    set_meta(db, "salt", salt as i64)?;
    set_meta(db, "received", received)?;
    // The server's objects (of the classes it sent), which the delta over the local file stands for.
    let server_objects: u64 = server_classes.iter().map(|c| c.fingerprint.count).sum();
    set_meta(db, "total", server_objects as i64)?;
    set_meta(db, "ranges_differed", differed as i64)?;
    set_meta(db, "stamp_local_version", stamp.local_version)?;
    set_meta(db, "stamp_server_version", stamp.server_version)?;
    set_meta(db, "transferred", (conn.bytes_transferred() - start_bytes) as i64)?;
    set_meta(db, "done", 1)?;
    Ok(())
}

/// Reconciles the key range of one window of local objects of `class` (an empty window with no
/// end: the whole class, fetched) and stores what differs. Returns how many ranges differed.
fn reconcile_window(conn: &mut WsConn, db: &Connection, class: &str, window: &Window) -> Result<u64> {
    let index = &window.index;
    let (lo, hi) = (window.lo.as_slice(), window.end.as_deref());
    let fingerprint = index.fingerprint(lo, hi);
    let query = RangeQuery { class: class.to_string(), lo: ByteBuf::from(lo), hi: hi.map(ByteBuf::from), fingerprint };
    let mut pending = VecDeque::from([Pending { query, continued: false }]);
    let mut fetch: Vec<WantedRecords> = Vec::new();
    let mut differed = 0u64;
    while !pending.is_empty() {
        let batch: Vec<Pending> = pending.drain(..pending.len().min(reconcile::MAX_QUERIES)).collect();
        conn.send(&ClientMessage::ReconcileRanges { queries: batch.iter().map(|p| p.query.clone()).collect() })?;
        let answers = match conn.recv_required(ANSWER_TIMEOUT)? {
            ServerMessage::ReconcileAnswers { answers } if answers.len() == batch.len() => answers,
            other => return Err(unexpected("one answer per range", other)),
        };
        for (asked, answer) in batch.into_iter().zip(answers) {
            let q = asked.query;
            if !matches!(answer, RangeAnswer::Same) && !asked.continued {
                differed += 1;
            }
            let (qlo, qhi) = (q.lo.as_slice(), q.hi.as_deref().map(Vec::as_slice));
            match answer {
                // An equal range is the local file's as it is: nothing to store.
                RangeAnswer::Same => {}
                RangeAnswer::Split(parts) => {
                    for part in parts {
                        // The window's index knows nothing outside it.
                        if !window.covers(&part.lo, part.hi.as_deref().map(Vec::as_slice)) {
                            return Err(Error::Protocol("a split part outside the range asked about".into()));
                        }
                        let fingerprint = index.fingerprint(&part.lo, part.hi.as_deref().map(Vec::as_slice));
                        if fingerprint != part.fingerprint {
                            let sub = RangeQuery { class: q.class.clone(), lo: part.lo, hi: part.hi, fingerprint };
                            pending.push_back(Pending { query: sub, continued: false });
                        }
                    }
                }
                RangeAnswer::Items(hashes) => {
                    // Local objects whose hash the server lacks are erased (or replaced, when a
                    // record of the same key is fetched); server hashes the client lacks are
                    // fetched. A hash covers the key: equal hashes, equal objects.
                    let theirs: HashSet<u64> = hashes.iter().copied().collect();
                    let mut mine = HashSet::new();
                    for (key, h) in index.items(qlo, qhi) {
                        if !theirs.contains(&h) {
                            mark_erased(db, class, key)?;
                        }
                        mine.insert(h);
                    }
                    let wanted: Vec<u64> = hashes.into_iter().filter(|h| !mine.contains(h)).collect();
                    if !wanted.is_empty() {
                        fetch.push(WantedRecords { lo: q.lo, hi: q.hi, hashes: wanted });
                    }
                }
                RangeAnswer::Records { records, resume } => {
                    store_records(db, class, &records)?;
                    if let Some(resume) = resume {
                        let rest = RangeQuery { lo: resume, ..q };
                        pending.push_back(Pending { query: rest, continued: true });
                    }
                }
            }
        }
        super::crash_point("fresh_reconcile");
    }
    let mut wanted: &[WantedRecords] = &fetch;
    while !wanted.is_empty() {
        // Whole ranges, at most MAX_FETCH_HASHES hashes (a range has at most LEAF_ITEMS).
        let (mut n, mut hashes) = (0, 0);
        while n < wanted.len() && hashes + wanted[n].hashes.len() <= reconcile::MAX_FETCH_HASHES {
            hashes += wanted[n].hashes.len();
            n += 1;
        }
        let ask = &wanted[..n.max(1)];
        conn.send(&ClientMessage::ReconcileFetch { class: class.to_string(), wanted: ask.to_vec() })?;
        let (records, served) = match conn.recv_required(ANSWER_TIMEOUT)? {
            ServerMessage::ReconcileRecords { records, served } if served >= 1 && served as usize <= ask.len() => (records, served),
            other => return Err(unexpected("the records asked for", other)),
        };
        store_records(db, class, &records)?;
        wanted = &wanted[served as usize..];
    }
    Ok(differed)
}

fn unexpected(wanted: &str, msg: ServerMessage) -> Error {
    match msg {
        ServerMessage::Error(e) => Error::Sync(format!("reconciliation refused: {}", e.message)),
        other => Error::Protocol(format!("expected {wanted}, got {other:?}")),
    }
}

/// Notes a local object the server lacks (the transform erases it): a key without a record. A
/// record of the key stored before or after is kept (the object is replaced, not erased).
fn mark_erased(db: &Connection, class: &str, key: &[u8]) -> Result<()> {
    db.prepare_cached("INSERT OR IGNORE INTO fresh_objects(class, pk, data) VALUES(?1, ?2, NULL)")?.execute(params![class, key])?;
    Ok(())
}

/// Stores records a reconciliation fetched. A record of a key not marked erased is of a key the
/// local file lacks (a local key with another record is marked when the hashes of its range are
/// compared, before any record of the range is fetched): `new_key` says so, and the transform does
/// not look for it in the local file. (A key stored twice loses the flag: it is then looked for,
/// in vain.)
fn store_records(db: &Connection, class: &str, records: &[RawRecord]) -> Result<()> {
    let mut ins = db.prepare_cached(
        "INSERT INTO fresh_objects(class, pk, data, new_key) VALUES(?1, ?2, ?3, 1)
         ON CONFLICT(class, pk) DO UPDATE SET data = excluded.data, new_key = 0",
    )?;
    for r in records {
        ins.execute(params![class, r.key.as_slice(), r.data.as_slice()])?;
    }
    Ok(())
}

/// The server's layout of a class, as sent with its objects (None: the server sent none).
pub fn server_class(conn: &Connection, local: &ClassSchema) -> Result<Option<ClassSchema>> {
    let json: Option<String> = conn.query_row("SELECT props FROM fresh_props WHERE class = ?1", [&local.name], |r| r.get(0)).optional()?;
    let Some(json) = json else { return Ok(None) };
    let props: Vec<Property> = serde_json::from_str(&json).map_err(|e| Error::FileCorrupt(format!("fresh copy properties: {e}")))?;
    Ok(Some(ClassSchema::new(&local.name, &local.primary_key, props)))
}

/// Streams up to `limit` entries of `class` after `after` (key bytes), in primary-key order: key
/// bytes and the server's record bytes, or no record for a local key the server lacks (only in a
/// class the copy holds as a delta); and whether the record's key is one the local file lacks
/// (known for a delta's records only, see `store_records`).
pub fn page(
    conn: &Connection,
    class: &str,
    after: &[u8],
    limit: usize,
    mut f: impl FnMut(&[u8], Option<&[u8]>, bool) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached("SELECT pk, data, new_key FROM fresh_objects WHERE class = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3")?;
    let mut rows = stmt.query(params![class, after, limit as i64])?;
    let corrupt = || Error::FileCorrupt("fresh copy record is not a blob".into());
    while let Some(r) = rows.next()? {
        let key = r.get_ref(0)?.as_blob().map_err(|_| corrupt())?;
        let data = r.get_ref(1)?.as_blob_or_null().map_err(|_| corrupt())?;
        let new_key = data.is_some() && r.get_ref(2)?.as_i64().map_err(|_| corrupt())? == 1;
        f(key, data, new_key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh copy left by an older library (format 2: the keys the server lacks in a table of
    /// their own, a record required in every row) is replaced on opening, not written into.
    #[test]
    fn a_fresh_file_of_an_older_format_is_replaced_on_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.realm.fresh");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE fresh_meta(key TEXT PRIMARY KEY, value ANY NOT NULL);
             CREATE TABLE fresh_objects(class TEXT NOT NULL, pk BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY(class, pk)) WITHOUT ROWID;
             CREATE TABLE fresh_erase(class TEXT NOT NULL, pk BLOB NOT NULL, PRIMARY KEY(class, pk)) WITHOUT ROWID;
             INSERT INTO fresh_objects VALUES('Item', x'01', x'02');
             INSERT INTO fresh_meta(key, value) VALUES('format', 2);",
        )
        .unwrap();
        drop(old);
        let db = open_store(&path, 7).unwrap();
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM fresh_objects", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0, "the old copy's records are gone");
        mark_erased(&db, "Item", b"\x01").expect("a key without a record is stored");
        let old_table: Option<String> =
            db.query_row("SELECT name FROM sqlite_master WHERE name = 'fresh_erase'", [], |r| r.get(0)).optional().unwrap();
        assert_eq!(old_table, None);
    }
}
