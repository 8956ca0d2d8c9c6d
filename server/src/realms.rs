//! One realm name's server side: its materialized state (a driftsync realm file opened without
//! sync, so it records no client history) and, in the same file, the server history
//! `srv_history`, written in the same SQLite transaction as the state it produced.

use crate::config::RoleDef;
use crate::{Result, ServerError};
use driftsync::changeset::{CHANGESET_FORMAT, Changeset, Instruction};
use driftsync::protocol::{CompensatedObject, ObjectState, RangeAnswer, RangeQuery, ServerMessage, WantedRecords};
use driftsync::reconcile::{self, Fingerprint, Window};
use driftsync::rules::{self, Mode, Outcome};
use driftsync::{PrimaryKey, Realm, RealmConfig, Schema};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

const SRV_TABLES: &str = "
CREATE TABLE IF NOT EXISTS srv_history(
    server_version INTEGER PRIMARY KEY,
    salt INTEGER NOT NULL,
    origin_file INTEGER NOT NULL,
    origin_version INTEGER NOT NULL,
    changeset BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS srv_history_by_origin ON srv_history(origin_file, origin_version);
CREATE TABLE IF NOT EXISTS srv_base(id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL, salt INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS srv_restore(id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);
-- When each server version was made (server clock, seconds), for compaction.
CREATE TABLE IF NOT EXISTS srv_times(server_version INTEGER PRIMARY KEY, at INTEGER NOT NULL);
-- Per client file, its newest changeset among the history compacted away.
CREATE TABLE IF NOT EXISTS srv_compacted(origin_file INTEGER PRIMARY KEY, origin_version INTEGER NOT NULL);
";

/// Most objects in one `StateChunk`, and roughly most bytes.
pub const MAX_CHUNK_OBJECTS: u32 = 10_000;
pub const MAX_CHUNK_BYTES: usize = 4 << 20;
/// Most changesets in one `Download`, and roughly most bytes.
pub const MAX_DOWNLOAD_CHANGESETS: usize = 1_000;
pub const MAX_DOWNLOAD_BYTES: usize = 4 << 20;

/// A position in the server history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub version: u64,
    pub salt: u64,
}

/// One row of `srv_history`.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub server_version: u64,
    pub salt: u64,
    pub origin_file: u64,
    pub origin_version: u64,
    pub changeset: Vec<u8>,
}

/// What went wrong applying an upload.
#[derive(Debug)]
pub enum UploadError {
    /// The changeset cannot apply (unknown class, wrong primary-key type…): nothing is stored.
    Bad(String),
    /// The server failed (I/O, busy): nothing is stored, the client may retry.
    Internal(String),
}

/// One changeset to apply, already filtered by permissions.
pub struct Pending {
    pub changeset: Changeset,
}

/// One applied changeset.
#[derive(Debug, Clone)]
pub struct Applied {
    pub local_version: u64,
    pub server_version: u64,
    pub dropped: Vec<String>,
}

pub struct RealmSlot {
    pub name: String,
    pub path: PathBuf,
    pub realm: Realm,
    head: Mutex<Head>,
}

fn fresh_salt() -> u64 {
    loop {
        // Stored as a SQLite integer: keep it positive.
        let s = rand::random::<u64>() >> 1;
        if s != 0 {
            return s;
        }
    }
}

fn read_head(conn: &Connection) -> rusqlite::Result<Head> {
    let top: Option<(i64, i64)> = conn
        .query_row("SELECT server_version, salt FROM srv_history ORDER BY server_version DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((v, s)) = top {
        return Ok(Head { version: v as u64, salt: s as u64 });
    }
    Ok(read_base(conn)?.unwrap_or_default())
}

fn read_base(conn: &Connection) -> rusqlite::Result<Option<Head>> {
    conn.query_row("SELECT version, salt FROM srv_base WHERE id = 0", [], |r| {
        Ok(Head { version: r.get::<_, i64>(0)? as u64, salt: r.get::<_, i64>(1)? as u64 })
    })
    .optional()
}

fn internal(e: impl std::fmt::Display) -> UploadError {
    UploadError::Internal(e.to_string())
}

/// Whether an error of the rules means the changeset is bad (as opposed to a server failure).
fn is_bad_input(e: &driftsync::Error) -> bool {
    use driftsync::Error::*;
    !matches!(e, FileIo(_) | FileCorrupt(_) | Busy(_) | Internal(_) | Closed | NotInWriteTransaction | AlreadyInWriteTransaction)
}

impl RealmSlot {
    pub fn open(dir: &Path, name: &str, schema: &Schema) -> Result<RealmSlot> {
        let path = dir.join(format!("{name}.realm"));
        let realm = Realm::open(RealmConfig::new(&path, schema.clone()))?;
        let slot = RealmSlot { name: name.to_string(), path, realm, head: Mutex::new(Head::default()) };
        slot.write(|conn| conn.execute_batch(SRV_TABLES).map_err(internal)).map_err(|e| ServerError(format!("{name}: {e:?}")))?;
        let head = slot.realm.read(|conn, _| Ok(read_head(conn)?))?;
        *slot.head.lock() = head;
        Ok(slot)
    }

    /// The server's current state of the objects that `denied` instructions tried to change,
    /// for a `Compensate` message: the stored record, or None where the object does not exist or
    /// the role may not read its class.
    pub fn compensation(&self, role: &RoleDef, denied: &[Instruction]) -> Result<Vec<CompensatedObject>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        self.realm.read(|conn, schema| {
            for ins in denied {
                let Some((class, pk)) = ins.object() else { continue };
                if !seen.insert((class.to_string(), pk.clone())) {
                    continue;
                }
                let Ok((ci, c)) = schema.class(class) else { continue };
                let data = if role.may_read(class) { driftsync::store::load_raw(conn, ci, pk)? } else { None };
                out.push(CompensatedObject { class: class.to_string(), pk: pk.clone(), properties: c.properties.clone(), data });
            }
            Ok(())
        })?;
        Ok(out)
    }

    pub fn head(&self) -> Head {
        *self.head.lock()
    }

    /// Runs `f` in a write transaction of the realm that records no client history; commits when
    /// it succeeds, rolls back otherwise.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> std::result::Result<T, UploadError>) -> std::result::Result<T, UploadError> {
        self.realm.begin_write_mode(false).map_err(internal)?;
        let r = self.realm.with_txn(|tx, _| Ok(f(tx.conn)));
        match r {
            Ok(Ok(v)) => {
                self.realm.commit().map_err(internal)?;
                Ok(v)
            }
            Ok(Err(e)) => {
                let _ = self.realm.cancel();
                Err(e)
            }
            Err(e) => {
                let _ = self.realm.cancel();
                Err(internal(e))
            }
        }
    }

    /// The salt of `version` if this server's history knows it. `Err(ClientTooOld)`-worthy
    /// versions (compacted away) give `Ok(None)` and `compacted` true.
    pub fn salt_of(&self, version: u64) -> Result<(Option<u64>, bool)> {
        if version == 0 {
            return Ok((Some(0), false));
        }
        Ok(self.realm.read(|conn, _| {
            let s: Option<i64> =
                conn.query_row("SELECT salt FROM srv_history WHERE server_version = ?1", [version as i64], |r| r.get(0)).optional()?;
            if let Some(s) = s {
                return Ok((Some(s as u64), false));
            }
            let base = read_base(conn)?;
            Ok(match base {
                Some(b) if b.version == version => (Some(b.salt), false),
                Some(b) if version < b.version => (None, true),
                _ => (None, false),
            })
        })?)
    }

    /// The highest local version of `ident`'s changesets in the history (with server version
    /// ≤ `upto`), 0 if none.
    pub fn last_origin_version(&self, ident: u64, upto: u64) -> Result<u64> {
        Ok(self.realm.read(|conn, _| {
            let v: Option<i64> = conn.query_row(
                "SELECT max(origin_version) FROM srv_history WHERE origin_file = ?1 AND server_version <= ?2",
                params![ident as i64, upto.min(i64::MAX as u64) as i64],
                |r| r.get(0),
            )?;
            // Changesets compacted away all came before every version still in the history.
            let compacted: Option<i64> = conn
                .query_row("SELECT origin_version FROM srv_compacted WHERE origin_file = ?1", [ident as i64], |r| r.get(0))
                .optional()?;
            Ok(v.unwrap_or(0).max(compacted.unwrap_or(0)) as u64)
        })?)
    }

    /// Compaction: forgets the history made before `cutoff` (server clock). Clients whose last
    /// server version falls into what was forgotten get `ClientTooOld` at their next bind.
    /// Returns how many server versions were forgotten.
    pub fn compact_before(&self, cutoff: i64) -> Result<u64> {
        self.write(|conn| {
            let top: Option<(i64, i64)> = conn
                .query_row(
                    "SELECT h.server_version, h.salt FROM srv_history h JOIN srv_times t ON t.server_version = h.server_version
                     WHERE t.at < ?1 ORDER BY h.server_version DESC LIMIT 1",
                    [cutoff],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(internal)?;
            let Some((version, salt)) = top else { return Ok(0) };
            conn.execute(
                "INSERT INTO srv_compacted(origin_file, origin_version)
                   SELECT origin_file, max(origin_version) FROM srv_history WHERE server_version <= ?1 GROUP BY origin_file
                   ON CONFLICT(origin_file) DO UPDATE SET origin_version = max(origin_version, excluded.origin_version)",
                [version],
            )
            .map_err(internal)?;
            let forgotten = conn.execute("DELETE FROM srv_history WHERE server_version <= ?1", [version]).map_err(internal)?;
            conn.execute("DELETE FROM srv_times WHERE server_version <= ?1", [version]).map_err(internal)?;
            conn.execute("INSERT OR REPLACE INTO srv_base(id, version, salt) VALUES(0, ?1, ?2)", params![version, salt])
                .map_err(internal)?;
            Ok(forgotten as u64)
        })
        .map_err(|e| ServerError(format!("{}: {e:?}", self.name)))
    }

    /// The server version that integrated `ident`'s changeset `local_version`, if stored.
    pub fn server_version_of(&self, ident: u64, local_version: u64) -> Result<Option<u64>> {
        Ok(self.realm.read(|conn, _| {
            let v: Option<i64> = conn
                .query_row(
                    "SELECT server_version FROM srv_history WHERE origin_file = ?1 AND origin_version = ?2",
                    params![ident as i64, local_version as i64],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(v.map(|v| v as u64))
        })?)
    }

    /// Up to `max` history rows after `after`, bounded by `max_bytes` (at least one row).
    pub fn history_after(&self, after: u64, max: usize, max_bytes: usize) -> Result<Vec<HistoryRow>> {
        Ok(self.realm.read(|conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT server_version, salt, origin_file, origin_version, changeset FROM srv_history WHERE server_version > ?1 ORDER BY server_version LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![after.min(i64::MAX as u64) as i64, max as i64])?;
            let mut out = Vec::new();
            let mut bytes = 0;
            while let Some(r) = rows.next()? {
                let row = HistoryRow {
                    server_version: r.get::<_, i64>(0)? as u64,
                    salt: r.get::<_, i64>(1)? as u64,
                    origin_file: r.get::<_, i64>(2)? as u64,
                    origin_version: r.get::<_, i64>(3)? as u64,
                    changeset: r.get(4)?,
                };
                bytes += row.changeset.len() + 64;
                out.push(row);
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(out)
        })?)
    }

    /// Applies changesets of client `ident` with the rulebook, each as one server version, all
    /// in one transaction with their history rows. Nothing is stored unless all apply.
    pub fn apply_upload(&self, ident: u64, pending: Vec<Pending>, now: i64) -> std::result::Result<Vec<Applied>, UploadError> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        self.realm.begin_write_mode(false).map_err(internal)?;
        let result = self.realm.with_txn(|tx, _| {
            let mut run = || -> std::result::Result<(Vec<Applied>, Head), UploadError> {
                let mut head = read_head(tx.conn).map_err(internal)?;
                let mut out = Vec::with_capacity(pending.len());
                for p in &pending {
                    let cs = &p.changeset;
                    if cs.format != CHANGESET_FORMAT {
                        return Err(UploadError::Bad(format!("changeset format {} is not supported", cs.format)));
                    }
                    let mut dropped = Vec::new();
                    for ins in &cs.instructions {
                        match rules::apply(tx, ins, Mode::Merge) {
                            Ok(Outcome::Dropped(why)) => dropped.push(format!("{}: {why}", ins.describe())),
                            Ok(_) => {}
                            Err(e) if is_bad_input(&e) => {
                                return Err(UploadError::Bad(format!(
                                    "changeset {} instruction '{}': {e}",
                                    cs.local_version,
                                    ins.describe()
                                )));
                            }
                            Err(e) => return Err(internal(e)),
                        }
                    }
                    let version = head.version + 1;
                    let salt = fresh_salt();
                    tx.conn
                        .prepare_cached(
                            "INSERT INTO srv_history(server_version, salt, origin_file, origin_version, changeset) VALUES(?1, ?2, ?3, ?4, ?5)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![version as i64, salt as i64, ident as i64, cs.local_version as i64, cs.encode()])
                        })
                        .map_err(internal)?;
                    tx.conn
                        .prepare_cached("INSERT OR REPLACE INTO srv_times(server_version, at) VALUES(?1, ?2)")
                        .and_then(|mut s| s.execute(params![version as i64, now]))
                        .map_err(internal)?;
                    head = Head { version, salt };
                    out.push(Applied { local_version: cs.local_version, server_version: version, dropped });
                }
                Ok((out, head))
            };
            Ok(run())
        });
        match result {
            Ok(Ok((applied, head))) => {
                // Hold the head across the commit: a reader that saw the new version in the file
                // (a state chunk) must not then see an older head.
                let mut head_slot = self.head.lock();
                self.realm.commit().map_err(internal)?;
                *head_slot = head;
                Ok(applied)
            }
            Ok(Err(e)) => {
                let _ = self.realm.cancel();
                Err(e)
            }
            Err(e) => {
                let _ = self.realm.cancel();
                Err(internal(e))
            }
        }
    }

    /// Forgets the whole history (sync re-enabled): versions go on from the current head, under
    /// a new salt, and no earlier version can be resumed from.
    /// Records that this realm was just restored from a backup: its history now ends at the
    /// current head, and clients' changes acknowledged after that version were lost.
    pub fn mark_restored(&self) -> Result<u64> {
        let head = self.head();
        self.write(|conn| {
            conn.execute("INSERT OR REPLACE INTO srv_restore(id, version) VALUES(0, ?1)", [head.version as i64]).map_err(internal)?;
            Ok(())
        })
        .map_err(|e| ServerError(format!("{}: {e:?}", self.name)))?;
        Ok(head.version)
    }

    /// The version the last restore from a backup left the history at, if it was ever restored.
    pub fn restored_at(&self) -> Option<u64> {
        self.realm
            .read(|conn, _| Ok(conn.query_row("SELECT version FROM srv_restore WHERE id = 0", [], |r| r.get::<_, i64>(0)).optional()?))
            .ok()
            .flatten()
            .map(|v| v as u64)
    }

    pub fn wipe_history(&self) -> Result<Head> {
        let head = self
            .write(|conn| {
                let head = read_head(conn).map_err(internal)?;
                let base = Head { version: head.version, salt: fresh_salt() };
                conn.execute("DELETE FROM srv_history", []).map_err(internal)?;
                conn.execute(
                    "INSERT OR REPLACE INTO srv_base(id, version, salt) VALUES(0, ?1, ?2)",
                    params![base.version as i64, base.salt as i64],
                )
                .map_err(internal)?;
                Ok(base)
            })
            .map_err(|e| ServerError(format!("{}: {e:?}", self.name)))?;
        *self.head.lock() = head;
        Ok(head)
    }

    /// One `StateChunk`: objects after `after` in (class index, primary key) order, of one class,
    /// read in one snapshot together with the server version it reflects. Classes the role may
    /// not read are skipped. `Err(Bad)` for a resume key naming no class of the schema.
    pub fn state_chunk(
        &self,
        role: &RoleDef,
        after: Option<(String, PrimaryKey)>,
        max_objects: u32,
    ) -> std::result::Result<ServerMessage, UploadError> {
        let max = max_objects.clamp(1, MAX_CHUNK_OBJECTS) as usize;
        let res = self.realm.read(|conn, schema| {
            conn.execute_batch("BEGIN DEFERRED")?;
            let r = chunk_in_snapshot(conn, schema, role, after, max);
            let _ = conn.execute_batch("COMMIT");
            Ok(r)
        });
        match res {
            Ok(r) => r,
            Err(e) => Err(internal(e)),
        }
    }
}

/// One session's view of the server state for range reconciliation: a frozen handle of the
/// realm (one read transaction, so every answer of the session comes from the same snapshot)
/// and, per readable class, its fingerprint and the window of objects the client is
/// reconciling now. Memory is bounded by the windows (`reconcile::SERVER_WINDOW_OBJECTS`
/// objects per class), not by the realm.
pub struct ReconcileSnapshot {
    pub server_version: u64,
    pub salt: u64,
    pub classes: Vec<SnapshotClass>,
    frozen: Realm,
    /// Most objects a class's window holds (`reconcile::SERVER_WINDOW_OBJECTS` but in tests).
    window_objects: usize,
}

pub struct SnapshotClass {
    pub name: String,
    pub properties: Vec<driftsync::schema::Property>,
    pub fingerprint: Fingerprint,
    class_idx: usize,
    window: Option<Window>,
}

impl RealmSlot {
    pub fn reconcile_snapshot(&self, role: &RoleDef, window_objects: usize) -> std::result::Result<ReconcileSnapshot, UploadError> {
        let frozen = self.realm.freeze().map_err(internal)?;
        let (head, classes) = frozen
            .read(|conn, schema| {
                let head = read_head(conn)?;
                let mut classes = Vec::new();
                for (ci, class) in schema.classes.iter().enumerate().filter(|(_, c)| role.may_read(&c.name)) {
                    // The class's first window, which the client asks about first: a class it
                    // holds whole gets its exact fingerprint; a larger one its count alone (a
                    // client compares whole classes only when it holds one in a window, of at
                    // most half as many objects: the counts differ), so the rest is counted,
                    // not read.
                    let window = Window::read(conn, "main", ci, &[], window_objects)?;
                    let fingerprint = match &window.end {
                        None => window.index.fingerprint(&[], None),
                        Some(end) => {
                            Fingerprint { count: window.index.len() as u64 + reconcile::count_from(conn, "main", ci, end)?, sum: 0 }
                        }
                    };
                    // Only the first class's window is kept: memory stays one window.
                    let window = classes.is_empty().then_some(window);
                    let (name, properties) = (class.name.clone(), class.properties.clone());
                    classes.push(SnapshotClass { name, properties, fingerprint, class_idx: ci, window });
                }
                Ok((head, classes))
            })
            .map_err(internal)?;
        Ok(ReconcileSnapshot { server_version: head.version, salt: head.salt, classes, frozen, window_objects })
    }
}

impl ReconcileSnapshot {
    /// The answer about one range; `Records` comes without records (see `records_in_range`).
    pub fn answer(&mut self, q: &RangeQuery) -> std::result::Result<RangeAnswer, UploadError> {
        let Some(class) = self.classes.iter_mut().find(|c| c.name == q.class) else {
            // A class the client may not read or the server lacks holds nothing.
            return Ok(if q.fingerprint.count == 0 { RangeAnswer::Same } else { RangeAnswer::Items(Vec::new()) });
        };
        let (lo, hi) = (q.lo.as_slice(), q.hi.as_ref().map(|h| h.as_slice()));
        let window_objects = self.window_objects;
        self.frozen
            .read(|conn, _| {
                // The client asks in key order, a window at a time: a range outside the held
                // window starts the next one.
                if !class.window.as_ref().is_some_and(|w| w.covers(lo, hi)) {
                    class.window = None;
                    class.window = Some(Window::read(conn, "main", class.class_idx, lo, window_objects)?);
                }
                match &class.window {
                    Some(w) if w.covers(lo, hi) => Ok(w.index.answer(lo, hi, q.fingerprint)),
                    // Far more objects here than the client has: answered by scans.
                    _ => reconcile::stream_answer(conn, "main", class.class_idx, lo, hi, q.fingerprint),
                }
            })
            .map_err(internal)
    }

    fn class_idx(&self, class: &str) -> Option<usize> {
        self.classes.iter().find(|c| c.name == class).map(|c| c.class_idx)
    }

    /// Records of `[lo, hi)` of a readable class (see `reconcile::read_range`).
    pub fn records_in_range(
        &self,
        class: &str,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> std::result::Result<(Vec<driftsync::protocol::RawRecord>, Option<Vec<u8>>), UploadError> {
        let Some(ci) = self.class_idx(class) else { return Ok((Vec::new(), None)) };
        self.frozen.read(|conn, _| reconcile::read_range(conn, ci, lo, hi)).map_err(internal)
    }

    /// Records of a readable class with these hashes in a range (see `reconcile::read_hashes`).
    pub fn records_with_hashes(
        &self,
        class: &str,
        wanted: &WantedRecords,
    ) -> std::result::Result<Vec<driftsync::protocol::RawRecord>, UploadError> {
        let Some(ci) = self.class_idx(class) else { return Ok(Vec::new()) };
        let hi = wanted.hi.as_ref().map(|h| h.as_slice());
        self.frozen.read(|conn, _| reconcile::read_hashes(conn, ci, &wanted.lo, hi, &wanted.hashes)).map_err(internal)
    }
}

fn chunk_in_snapshot(
    conn: &Connection,
    schema: &Schema,
    role: &RoleDef,
    after: Option<(String, PrimaryKey)>,
    max: usize,
) -> std::result::Result<ServerMessage, UploadError> {
    use driftsync::store;
    let head = read_head(conn).map_err(internal)?;
    let readable: Vec<usize> = (0..schema.classes.len()).filter(|&i| role.may_read(&schema.classes[i].name)).collect();
    // Counting is a scan of the whole state: done for the first chunk only (a resumed download
    // keeps the total it got first; later chunks say 0).
    let mut total = 0u64;
    if after.is_none() {
        for &ci in &readable {
            total += store::count_objects(conn, ci).map_err(internal)?;
        }
    }
    let (start, mut after_pk) = match after {
        None => (0, None),
        Some((class, pk)) => {
            let Some(ci) = schema.class_index(&class) else {
                return Err(UploadError::Bad(format!("state request resumes after unknown class '{class}'")));
            };
            if schema.classes[ci].check_pk(&pk).is_err() {
                return Err(UploadError::Bad(format!("state request resumes after a primary key of the wrong type for '{class}'")));
            }
            (ci, Some(pk))
        }
    };
    let mut ci = start;
    while ci < schema.classes.len() {
        if !readable.contains(&ci) {
            ci += 1;
            after_pk = None;
            continue;
        }
        let class = &schema.classes[ci];
        let mut objects: Vec<ObjectState> = Vec::new();
        let mut bytes = 0usize;
        let mut more_in_class = false;
        let after_key = after_pk.as_ref().map(PrimaryKey::to_key_bytes).unwrap_or_default();
        // The stored records travel as they are: nothing is decoded or re-encoded.
        store::scan_raw(conn, ci, &after_key, |key, data| {
            if objects.len() >= max || bytes >= MAX_CHUNK_BYTES {
                more_in_class = true;
                return Ok(false);
            }
            let pk = PrimaryKey::from_key_bytes(key).ok_or_else(|| driftsync::Error::FileCorrupt("undecodable primary key".into()))?;
            bytes += key.len() + data.len();
            objects.push(ObjectState { pk, data: data.to_vec() });
            Ok(true)
        })
        .map_err(internal)?;
        if objects.is_empty() {
            ci += 1;
            after_pk = None;
            continue;
        }
        let mut more = more_in_class;
        if !more {
            for &later in readable.iter().filter(|&&i| i > ci) {
                if store::class_has_objects(conn, later).map_err(internal)? {
                    more = true;
                    break;
                }
            }
        }
        let last = if more { objects.last().map(|o| (class.name.clone(), o.pk.clone())) } else { None };
        return Ok(ServerMessage::StateChunk {
            server_version: head.version,
            salt: head.salt,
            class: class.name.clone(),
            properties: class.properties.clone(),
            objects,
            last,
            done: !more,
            total_objects: total,
        });
    }
    Ok(ServerMessage::StateChunk {
        server_version: head.version,
        salt: head.salt,
        class: String::new(),
        properties: Vec::new(),
        objects: Vec::new(),
        last: None,
        done: true,
        total_objects: total,
    })
}

/// Drops what a role may not write from a changeset. Schema instructions that change nothing
/// (the class or property already exists as given) are always allowed; real schema changes need
/// `write = ["*"]`. Returns the kept changeset and a description of each denied instruction.
pub fn filter_writes(role: &RoleDef, schema: &Schema, cs: Changeset) -> (Changeset, Vec<Instruction>) {
    let mut denied = Vec::new();
    let mut kept = Vec::with_capacity(cs.instructions.len());
    for ins in cs.instructions {
        let ok = match &ins {
            Instruction::AddClass { class } => {
                role.may_change_schema() || schema.class_index(&class.name).is_some_and(|i| schema.classes[i] == *class)
            }
            Instruction::AddProperty { class, property } => {
                role.may_change_schema()
                    || schema
                        .class(class)
                        .ok()
                        .and_then(|(_, c)| c.property_index(&property.name).map(|i| c.properties[i] == *property))
                        .unwrap_or(false)
            }
            other => other.object().is_none_or(|(class, _)| role.may_write(class)),
        };
        if ok {
            kept.push(ins);
        } else {
            denied.push(ins);
        }
    }
    (Changeset { instructions: kept, ..cs }, denied)
}

/// Drops what a role may not read from a changeset about to be downloaded.
pub fn filter_reads(role: &RoleDef, mut cs: Changeset) -> Changeset {
    if role.read.iter().any(|r| r == "*") {
        return cs;
    }
    cs.instructions.retain(|ins| match ins {
        Instruction::AddClass { .. } | Instruction::AddProperty { .. } => true,
        other => other.object().is_none_or(|(class, _)| role.may_read(class)),
    });
    cs
}
