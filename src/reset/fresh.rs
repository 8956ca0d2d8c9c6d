//! Step 3: the fresh copy. The server state is pulled with `StateRequest`s, in (class, primary
//! key) order, into `<path>.fresh`: a small SQLite file of object states. A cut-off download is
//! resumed from the last key stored; a file from another epoch or one that is garbage is
//! replaced. The transform reads it back in the same order, so memory stays bounded.

use crate::error::{Error, Result};
use crate::protocol::{ClientMessage, ServerMessage};
use crate::schema::{ClassSchema, Property};
use crate::sync::WsConn;
use crate::value::PrimaryKey;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHUNK_OBJECTS: u32 = 10_000;
/// Layout of the fresh-copy file; a file of another layout is replaced.
const FRESH_FORMAT: i64 = 2;
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
}

fn open_store(path: &Path, epoch: u64) -> Result<Connection> {
    let try_open = || -> Result<Connection> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS fresh_meta(key TEXT PRIMARY KEY, value ANY NOT NULL);
             CREATE TABLE IF NOT EXISTS fresh_props(class TEXT PRIMARY KEY, props TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS fresh_objects(class TEXT NOT NULL, pk BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY(class, pk)) WITHOUT ROWID;",
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

/// Downloads (or resumes) the server state into `path` over a bound connection.
/// `progress(received, total)` is called after each chunk.
pub fn download(conn: &mut WsConn, path: &Path, epoch: u64, progress: &dyn Fn(u64, u64)) -> Result<FreshCopy> {
    let db = open_store(path, epoch)?;
    if meta_i64(&db, "done")? == Some(1) {
        return finish(db);
    }
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
            Ok((received, meta_i64(&db, "total")?.unwrap_or(0) as u64))
        })();
        let (received, total) = match stored {
            Ok(counts) => {
                db.execute_batch("COMMIT")?;
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
    Ok(FreshCopy { conn, server_version, salt, objects })
}

/// The server's layout of a class, as sent with its objects (None: the server sent none).
pub fn server_class(conn: &Connection, local: &ClassSchema) -> Result<Option<ClassSchema>> {
    let json: Option<String> = conn.query_row("SELECT props FROM fresh_props WHERE class = ?1", [&local.name], |r| r.get(0)).optional()?;
    let Some(json) = json else { return Ok(None) };
    let props: Vec<Property> = serde_json::from_str(&json).map_err(|e| Error::FileCorrupt(format!("fresh copy properties: {e}")))?;
    Ok(Some(ClassSchema::new(&local.name, &local.primary_key, props)))
}

/// Streams up to `limit` raw records (key bytes, record bytes) of `class` after `after` (key
/// bytes), in primary-key order.
pub fn page(conn: &Connection, class: &str, after: &[u8], limit: usize, mut f: impl FnMut(&[u8], &[u8])) -> Result<()> {
    let mut stmt = conn.prepare_cached("SELECT pk, data FROM fresh_objects WHERE class = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3")?;
    let mut rows = stmt.query(params![class, after, limit as i64])?;
    while let Some(r) = rows.next()? {
        let blob = |i: usize| r.get_ref(i)?.as_blob().map_err(|_| Error::FileCorrupt("fresh copy record is not a blob".into()));
        f(blob(0)?, blob(1)?);
    }
    Ok(())
}
