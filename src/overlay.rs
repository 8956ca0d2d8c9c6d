//! The reset transform's writer: works out the net effect before it writes.
//!
//! The objects that recovery will touch are held here, decoded, from the moment the diff reaches
//! them until the end of the transform; the rulebook reads and writes them through `Tx`, which
//! asks this overlay first. At the end each held object is written once (or not at all when its
//! record did not change) and compared with its committed record, which is still what the file
//! holds, so the change summary comes out of the transform itself. Every other object the diff
//! changes is written at once, also exactly once (buffered `BATCH` rows per statement, flushed
//! before the overlay reads or deletes objects). Backlinks are written only for links that
//! appear; statements are prepared once per transform and held.
//!
//! Memory grows with the objects recovery names (and a buffer of `BATCH` rows), never with the
//! objects of the realm.

use crate::batch_statement::{BatchStatement, Binder};
use crate::error::{Error, Result};
use crate::notify::ChangeSummary;
use crate::schema::{ClassSchema, Schema};
use crate::store::{self, ObjectData};
use crate::value::{PrimaryKey, ScalarType};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};

/// Rows per batched statement (object writes, backlink inserts, backlink lookups).
const BATCH: usize = 64;

/// (class index, primary-key bytes): how the file orders objects.
pub type Key = (usize, Vec<u8>);

struct Held {
    /// The committed record (None: the object did not exist before the transform).
    original: Option<Vec<u8>>,
    current: Option<ObjectData>,
}

/// A backlink waiting in `Overlay::unflushed_backlinks`: the classes of its target and source,
/// and where in `unflushed_link_keys` the target's key starts, where it ends (and the source's
/// starts), and where the source's ends.
struct UnflushedLink {
    tclass: usize,
    sclass: usize,
    keys: [usize; 3],
}

pub struct Overlay<'c> {
    /// Hashed, not ordered: the replay looks objects up many times; `finish` sorts them once.
    held: HashMap<Key, Held>,
    /// Objects to hold as soon as they are met (named by recovery, or linking to what it erases).
    pinned: HashSet<Key>,
    /// Links of held objects the file's backlinks may not know yet (the replay's erases follow
    /// them): target → sources. `finish` writes the backlinks of the links held objects gained.
    new_backlinks: HashMap<Key, Vec<Key>>,
    /// Targets whose backlinks the transform deleted from the file (erases it replayed).
    taken: HashSet<Key>,
    /// Backlinks of objects written now, inserted `BATCH` rows per statement (one
    /// statement per row spent more time binding, halting and closing cursors than inserting).
    /// Flushed before anything reads or deletes backlinks. Their keys are in
    /// `unflushed_link_keys` (no allocation per backlink).
    unflushed_backlinks: Vec<UnflushedLink>,
    unflushed_link_keys: Vec<u8>,
    /// Records written now, `BATCH` rows per `INSERT OR REPLACE` (per row, one `UPDATE` statement
    /// cost more in binding and halting than in writing: 2–3 ms of a 26 ms reset). Flushed
    /// before anything reads or deletes objects through the overlay, and at `finish`; the diff
    /// reads each local row before it writes it, so its own reads never miss a buffered write.
    unflushed_writes: Vec<(Key, Vec<u8>)>,
    /// The file's backlinks of targets `sources_linking_to` read, while still what the file holds
    /// (the transform adds none to them): `take_backlinks` need not read them again, nor delete
    /// when there are none (recovery erasing thousands of objects nothing links to).
    known_sources: HashMap<Key, Vec<Key>>,
    select_data: CachedStatement<'c>,
    select_exists: CachedStatement<'c>,
    put: BatchStatement<'c>,
    puts: BatchStatement<'c>,
    delete: BatchStatement<'c>,
    delete_links_from: CachedStatement<'c>,
    add_link: BatchStatement<'c>,
    add_links: BatchStatement<'c>,
    select_links_to: CachedStatement<'c>,
    select_links_to_many: CachedStatement<'c>,
    delete_links_to: CachedStatement<'c>,
}

impl<'c> Overlay<'c> {
    pub fn new(conn: &'c Connection, pinned: HashSet<Key>) -> Result<Self> {
        Ok(Overlay {
            held: HashMap::new(),
            pinned,
            new_backlinks: HashMap::new(),
            taken: HashSet::new(),
            unflushed_backlinks: Vec::new(),
            unflushed_link_keys: Vec::new(),
            unflushed_writes: Vec::new(),
            known_sources: HashMap::new(),
            select_data: conn.prepare_cached("SELECT data FROM ds_objects WHERE class = ?1 AND pk = ?2")?,
            select_exists: conn.prepare_cached("SELECT 1 FROM ds_objects WHERE class = ?1 AND pk = ?2")?,
            put: BatchStatement::prepare(conn, store::PUT_RECORD_SQL)?,
            puts: BatchStatement::prepare(
                conn,
                &format!("INSERT OR REPLACE INTO ds_objects(class, pk, data, hash) VALUES {}", vec!["(?, ?, ?, ?)"; BATCH].join(", ")),
            )?,
            delete: BatchStatement::prepare(conn, "DELETE FROM ds_objects WHERE class = ?1 AND pk = ?2")?,
            delete_links_from: conn.prepare_cached("DELETE FROM ds_backlinks WHERE sclass = ?1 AND spk = ?2")?,
            add_link: BatchStatement::prepare(conn, "INSERT OR IGNORE INTO ds_backlinks(tclass, tpk, sclass, spk) VALUES(?1, ?2, ?3, ?4)")?,
            add_links: BatchStatement::prepare(
                conn,
                &format!("INSERT OR IGNORE INTO ds_backlinks(tclass, tpk, sclass, spk) VALUES {}", vec!["(?, ?, ?, ?)"; BATCH].join(", ")),
            )?,
            select_links_to: conn.prepare_cached("SELECT sclass, spk FROM ds_backlinks WHERE tclass = ?1 AND tpk = ?2")?,
            select_links_to_many: conn.prepare_cached(&format!(
                "SELECT tpk, sclass, spk FROM ds_backlinks WHERE tclass = ? AND tpk IN ({})",
                vec!["?"; BATCH].join(", ")
            ))?,
            delete_links_to: conn.prepare_cached("DELETE FROM ds_backlinks WHERE tclass = ?1 AND tpk = ?2")?,
        })
    }

    /// The sources that link to `targets` in the file (stale entries included).
    /// Asks for `BATCH` targets of one class per statement.
    pub fn sources_linking_to(&mut self, targets: &HashSet<Key>) -> Result<Vec<Key>> {
        self.flush_backlinks()?;
        let mut sorted: Vec<&Key> = targets.iter().collect();
        sorted.sort();
        for target in &sorted {
            self.known_sources.insert((*target).clone(), Vec::new());
        }
        for of_class in sorted.chunk_by(|a, b| a.0 == b.0) {
            for chunk in of_class.chunks(BATCH) {
                let class = chunk[0].0;
                self.select_links_to_many.raw_bind_parameter(1, class as i64)?;
                // A short last chunk repeats its last key (a key twice in `IN` is found once).
                for i in 0..BATCH {
                    self.select_links_to_many.raw_bind_parameter(i + 2, &chunk[i.min(chunk.len() - 1)].1)?;
                }
                let mut rows = self.select_links_to_many.raw_query();
                while let Some(r) = rows.next()? {
                    let target = (class, r.get::<_, Vec<u8>>(0)?);
                    let source = (r.get::<_, i64>(1)? as usize, r.get::<_, Vec<u8>>(2)?);
                    if let Some(sources) = self.known_sources.get_mut(&target) {
                        sources.push(source);
                    }
                }
            }
        }
        Ok(sorted.iter().filter_map(|t| self.known_sources.get(*t)).flatten().cloned().collect())
    }

    fn file_backlinks(&mut self, target: &Key) -> Result<Vec<Key>> {
        let mut out = Vec::new();
        let mut rows = self.select_links_to.query(params![target.0 as i64, target.1])?;
        while let Some(r) = rows.next()? {
            out.push((r.get::<_, i64>(0)? as usize, r.get::<_, Vec<u8>>(1)?));
        }
        Ok(out)
    }

    pub fn is_pinned(&self, key: &Key) -> bool {
        self.pinned.contains(key)
    }

    pub fn pin(&mut self, key: Key) {
        self.pinned.insert(key);
    }

    /// Holds a pinned object the diff reached: `original` is its committed record, `wanted` its
    /// state after the diff, `erased_targets` its links to objects recovery erases (noted for the
    /// replay's erases, which the file's backlinks, knowing only committed links, would miss).
    /// `finish` writes the backlinks of the links held objects end up gaining.
    pub fn hold(&mut self, key: Key, original: Option<Vec<u8>>, wanted: Option<ObjectData>, erased_targets: Vec<Key>) {
        for t in erased_targets {
            self.note_backlink(t, key.clone());
        }
        self.held.insert(key, Held { original, current: wanted });
    }

    /// The object as the transform has it now (held, else the file's record).
    pub fn load(&mut self, class: &ClassSchema, key: &Key) -> Result<Option<ObjectData>> {
        if !self.held.contains_key(key) {
            let original = self.file_record(key)?;
            let current = original.as_deref().map(|b| store::decode_object(b, class)).transpose()?;
            self.held.insert(key.clone(), Held { original, current });
        }
        let held = self.held.get(key).and_then(|h| h.current.clone());
        // A property added by an instruction replayed since the object was held reads as default.
        Ok(held.map(|mut d| {
            for p in class.properties.iter().skip(d.fields.len()) {
                d.fields.push(store::default_field(p));
            }
            d
        }))
    }

    pub fn exists(&mut self, key: &Key) -> Result<bool> {
        if let Some(h) = self.held.get(key) {
            return Ok(h.current.is_some());
        }
        self.flush_writes()?;
        Ok(self.select_exists.query_row(params![key.0 as i64, key.1], |_| Ok(())).optional()?.is_some())
    }

    /// Sets the object's state (None: erased); written at the end.
    pub fn set(&mut self, key: &Key, data: Option<ObjectData>) -> Result<()> {
        match self.held.get_mut(key) {
            Some(h) => h.current = data,
            None => {
                let original = self.file_record(key)?;
                self.held.insert(key.clone(), Held { original, current: data });
            }
        }
        Ok(())
    }

    fn file_record(&mut self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.flush_writes()?;
        Ok(self.select_data.query_row(params![key.0 as i64, key.1], |r| r.get(0)).optional()?)
    }

    pub fn note_backlink(&mut self, target: Key, source: Key) {
        self.new_backlinks.entry(target).or_default().push(source);
    }

    /// Takes the objects that (may) link to `target`: the file's backlinks (removed) and the
    /// transform's new ones.
    pub fn take_backlinks(&mut self, target: &Key) -> Result<Vec<Key>> {
        self.flush_backlinks()?;
        let mut out = self.new_backlinks.remove(target).unwrap_or_default();
        let in_file = match self.known_sources.remove(target) {
            Some(known) => known,
            None => self.file_backlinks(target)?,
        };
        if !in_file.is_empty() {
            self.delete_links_to.execute(params![target.0 as i64, target.1])?;
            self.taken.insert(target.clone());
        }
        out.extend(in_file);
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Writes one object of `class` now (the diff's objects recovery does not touch), in a batch:
    /// see `unflushed_writes`.
    pub fn write_now(&mut self, class: &ClassSchema, key: &Key, record: Option<&[u8]>) -> Result<()> {
        match record {
            Some(r) => self.write_record(key.clone(), r.to_vec()),
            None => self.erase_now(class, key).map(|_| ()),
        }
    }

    /// `write_now` of a record the caller hands over.
    pub fn write_record(&mut self, key: Key, record: Vec<u8>) -> Result<()> {
        self.unflushed_writes.push((key, record));
        if self.unflushed_writes.len() == BATCH {
            self.flush_writes()?;
        }
        Ok(())
    }

    /// Erases one object of `class` now, with the backlinks it is the source of; returns whether
    /// the file held it (so a caller need not read the row first).
    pub fn erase_now(&mut self, class: &ClassSchema, key: &Key) -> Result<bool> {
        self.flush_backlinks()?;
        self.flush_writes()?;
        let erased = self.delete.execute(|p| {
            p.int(1, key.0 as i64)?;
            p.blob(2, &key.1)
        })? > 0;
        // Only an object with link properties can be the source of a backlink.
        if erased && class.properties.iter().any(|p| p.target.is_some()) {
            self.delete_links_from.execute(params![key.0 as i64, key.1])?;
        }
        Ok(erased)
    }

    /// Adds a backlink to the file, from `source` to the object of class `tclass` and key bytes
    /// `tpk` (in a batch: see `unflushed_backlinks`).
    pub fn add_backlink(&mut self, tclass: usize, tpk: &[u8], source: &Key) -> Result<()> {
        if !self.known_sources.is_empty() {
            self.known_sources.remove(&(tclass, tpk.to_vec()));
        }
        let keys = &mut self.unflushed_link_keys;
        let start = keys.len();
        keys.extend_from_slice(tpk);
        let mid = keys.len();
        keys.extend_from_slice(&source.1);
        self.unflushed_backlinks.push(UnflushedLink { tclass, sclass: source.0, keys: [start, mid, keys.len()] });
        if self.unflushed_backlinks.len() == BATCH {
            self.flush_backlinks()?;
        }
        Ok(())
    }

    fn flush_writes(&mut self) -> Result<()> {
        execute_rows(&mut self.puts, &mut self.put, &self.unflushed_writes, |p, at, (key, record)| {
            p.int(at, key.0 as i64)?;
            p.blob(at + 1, &key.1)?;
            p.blob(at + 2, record)?;
            p.int(at + 3, store::record_hash(&key.1, record))
        })?;
        self.unflushed_writes.clear();
        Ok(())
    }

    fn flush_backlinks(&mut self) -> Result<()> {
        let keys = &self.unflushed_link_keys;
        execute_rows(&mut self.add_links, &mut self.add_link, &self.unflushed_backlinks, |p, at, link| {
            let [start, mid, end] = link.keys;
            p.int(at, link.tclass as i64)?;
            p.blob(at + 1, &keys[start..mid])?;
            p.int(at + 2, link.sclass as i64)?;
            p.blob(at + 3, &keys[mid..end])
        })?;
        self.unflushed_backlinks.clear();
        self.unflushed_link_keys.clear();
        Ok(())
    }

    /// Writes every held object whose record changed, once, and the backlinks still wanted;
    /// returns the exact net change of the held objects.
    pub fn finish(mut self, schema: &Schema) -> Result<ChangeSummary> {
        self.flush_backlinks()?;
        let mut summary = ChangeSummary::default();
        // In key order: the file's B-tree is written front to back.
        let mut held: Vec<(Key, Held)> = std::mem::take(&mut self.held).into_iter().collect();
        held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, h) in held {
            let class = &schema.classes[key.0];
            let record = h.current.as_ref().map(store::encode_object);
            if record == h.original {
                // Its links are the committed ones, whose backlinks the file has, unless the
                // transform took them (an erase it replayed, then undid).
                if let Some(current) = h.current.as_ref().filter(|_| !self.taken.is_empty() && can_link(class)) {
                    for t in links(schema, key.0, current)? {
                        if self.taken.contains(&t) {
                            self.add_backlink(t.0, &t.1, &key)?;
                        }
                    }
                }
                continue;
            }
            let pk = PrimaryKey::from_key_bytes(&key.1).ok_or_else(|| Error::FileCorrupt("undecodable primary key".into()))?;
            let old = h.original.as_deref().map(|o| store::decode_object(o, class)).transpose()?;
            match (&old, &h.current) {
                (None, Some(_)) => summary.record_insert(&class.name, &pk),
                (Some(_), None) => summary.record_erase(&class.name, &pk),
                (Some(o), Some(n)) => summary.record_object(class, &pk, o, n),
                (None, None) => {}
            }
            self.write_now(class, &key, record.as_deref())?;
            // Backlinks for the links it gained (and for those the transform took from the file).
            if let Some(current) = h.current.as_ref().filter(|_| can_link(class)) {
                let mut now = link_targets(schema, key.0, current)?;
                let mut before = match &old {
                    Some(o) => link_targets(schema, key.0, o)?,
                    None => SmallVec::new(),
                };
                let as_key = |&(ti, t): &(usize, &PrimaryKey)| (ti, t.to_key_bytes());
                let mut add: Vec<Key> = match self.taken.is_empty() {
                    true => Vec::new(),
                    false => now.iter().map(as_key).filter(|t| self.taken.contains(t)).collect(),
                };
                keep_appearing_links(&mut now, &mut before);
                add.extend(now.iter().map(as_key));
                add.sort_unstable();
                add.dedup();
                for t in add {
                    self.add_backlink(t.0, &t.1, &key)?;
                }
            }
        }
        self.flush_backlinks()?;
        self.flush_writes()?;
        Ok(summary)
    }
}

/// Executes the buffered `rows`: a full batch through `many` (`BATCH` rows of four parameters),
/// fewer row by row through `one`. `bind` binds one row's four parameters from the given index
/// on, bytes that live as long as the rows (`'b`).
fn execute_rows<'b, T>(
    many: &mut BatchStatement,
    one: &mut BatchStatement,
    rows: &'b [T],
    bind: impl Fn(&mut Binder<'b>, usize, &'b T) -> Result<()>,
) -> Result<()> {
    if rows.len() == BATCH {
        many.execute(|p| rows.iter().enumerate().try_for_each(|(i, row)| bind(p, 4 * i + 1, row)))?;
    } else {
        for row in rows {
            one.execute(|p| bind(p, 1, row))?;
        }
    }
    Ok(())
}

/// Whether objects of `class` can link: a link property, or a mixed that may hold a typed link.
fn can_link(class: &ClassSchema) -> bool {
    class.properties.iter().any(|p| p.target.is_some() || p.kind == ScalarType::Mixed)
}

/// The objects `data`, an object of class `ci`, links to, as keys.
pub fn links(schema: &Schema, ci: usize, data: &ObjectData) -> Result<Vec<Key>> {
    Ok(link_targets(schema, ci, data)?.into_iter().map(|(ti, t)| (ti, t.to_key_bytes())).collect())
}

/// Links as `link_targets` gives them.
pub type LinkTargets<'d> = SmallVec<[(usize, &'d PrimaryKey); 4]>;

/// Keeps in `new` the links `old` lacks, each once: the backlinks a write must add. Sorts both
/// (one object may link to a target from several properties, and the links of two lists of
/// thousands must not be compared pairwise). Links are `LinkTargets` or (class index, key
/// bytes).
pub fn keep_appearing_links<A: smallvec::Array>(new: &mut SmallVec<A>, old: &mut SmallVec<A>)
where
    A::Item: Ord,
{
    new.sort_unstable();
    new.dedup();
    old.sort_unstable();
    let mut at = 0;
    new.retain(|link| {
        while at < old.len() && old[at] < *link {
            at += 1;
        }
        old.get(at) != Some(link)
    });
}

/// The objects `data`, an object of class `ci`, links to, as (class index, primary key)
/// borrowed from `data`: comparing the links of two states of an object this way encodes no key.
pub fn link_targets<'d>(schema: &Schema, ci: usize, data: &'d ObjectData) -> Result<LinkTargets<'d>> {
    let class = &schema.classes[ci];
    let mut out = SmallVec::new();
    for (pi, (p, f)) in class.properties.iter().zip(&data.fields).enumerate() {
        if p.kind == ScalarType::Mixed {
            for (tclass, t) in f.typed_links() {
                out.push((schema.class(tclass)?.0, t));
            }
            continue;
        }
        let Some(target) = &p.target else { continue };
        let ti = schema.link_target(ci, pi).ok_or_else(|| Error::UnknownClass(target.clone()))?;
        out.extend(f.links().into_iter().map(|t| (ti, t)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the obvious quadratic answer, for link sets with repeats, shared keys of different
    /// classes, and lists long enough that sorting matters.
    #[test]
    fn appearing_links_are_the_new_links_the_old_lack_each_once() {
        let keys: Vec<PrimaryKey> = (0..40).map(PrimaryKey::Int).collect();
        let mut seed = 7u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..300 {
            let (len, spread) = (if round % 10 == 0 { 200 } else { 6 }, if round % 3 == 0 { 5 } else { 40 });
            let (n_new, n_old) = (next(len) as usize, next(len) as usize);
            let mut new: LinkTargets<'_> = (0..n_new).map(|_| (next(2) as usize, &keys[next(spread) as usize])).collect();
            let mut old: LinkTargets<'_> = (0..n_old).map(|_| (next(2) as usize, &keys[next(spread) as usize])).collect();
            let mut expected: Vec<(usize, &PrimaryKey)> = new.iter().copied().filter(|l| !old.contains(l)).collect();
            expected.sort();
            expected.dedup();
            keep_appearing_links(&mut new, &mut old);
            assert_eq!(new.to_vec(), expected, "round {round}");
        }
    }
}
