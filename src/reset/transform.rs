//! Step 4: transform the local realm in place, inside the caller's one write transaction, working
//! out the net effect before writing (`overlay::Overlay`):
//! (0) Pin: the objects recovery names, and those linking to objects it erases, are held in
//!     memory from the moment the diff reaches them, so the replay finds them there.
//! (a) Diff: walk local objects and the fresh copy together in (class, primary key) order; every
//!     other object that differs is written at once, 64 rows per statement (and recorded in the
//!     change summary); backlinks only for links that appear.
//! (b) Replay: when recovering, apply the unsynced changesets with the rulebook (`Mode::Merge`)
//!     on top of the fresh state, keeping what applied as the new history and reporting every
//!     instruction a rule dropped.
//! (c) Finish: each held object is written once, and compared with its committed record for the
//!     change summary: the transform's summary is exact without a second pass.

use super::DroppedChange;
use super::fresh::{self, FreshCopy};
use crate::changeset::{Changeset, Instruction};
use crate::error::Error;
use crate::error::Result;
use crate::notify::SortedChanges;
use crate::overlay::{self, Key, Overlay};
use crate::rules::{self, Mode, Outcome, Tx};
use crate::state;
use crate::store::{self, ObjectData};
use crate::value::{PrimaryKey, ScalarType};
use smallvec::SmallVec;
use std::collections::HashSet;

const PAGE: usize = 1_000;

/// The transform reads the whole realm once and writes what differs: a larger page cache (8 MiB,
/// a cap, so memory stays bounded whatever the realm's size). Set back to SQLite's default by
/// `size_as_usual` once the transform's transaction is over. (The writer reads the file through
/// its memory map: see `store::WRITER_MMAP`.)
const SIZED_FOR_TRANSFORM: &str = "PRAGMA cache_size = -8192;";
const SIZED_AS_USUAL: &str = "PRAGMA cache_size = -2000;";

/// What the replay kept and dropped.
#[derive(Default)]
pub struct Replayed {
    /// Per replayed changeset (in order), the instructions that applied: the new history.
    pub kept: Vec<Vec<Instruction>>,
    pub dropped: Vec<DroppedChange>,
}

/// Starts the transform: puts the overlay on `tx` and pins what replaying `changesets` will
/// touch. Returns the objects recovery erases that links can point to (the diff holds objects
/// that link to them too).
pub fn begin(tx: &mut Tx, changesets: &[Changeset]) -> Result<HashSet<Key>> {
    let mut pinned = HashSet::new();
    let mut erased = HashSet::new();
    for ins in changesets.iter().flat_map(|c| &c.instructions) {
        let Some((class, pk)) = ins.object() else { continue };
        // A class the realm does not have yet holds no objects to pin.
        let Some(ci) = tx.schema.class_index(class) else { continue };
        let key = (ci, pk.to_key_bytes());
        if matches!(ins, Instruction::EraseObject { .. }) && tx.schema.is_link_target(class) {
            erased.insert(key.clone());
        }
        pinned.insert(key);
    }
    tx.conn.execute_batch(SIZED_FOR_TRANSFORM)?;
    let mut ov = Overlay::new(tx.conn, pinned)?;
    for source in ov.sources_linking_to(&erased)? {
        ov.pin(source);
    }
    tx.overlay = Some(ov);
    Ok(erased)
}

/// Gives the connection SQLite's usual page cache again (see `SIZED_FOR_TRANSFORM`).
pub fn size_as_usual(conn: &rusqlite::Connection) -> Result<()> {
    conn.execute_batch(SIZED_AS_USUAL)?;
    Ok(())
}

/// Ends the transform: writes the held objects and makes `tx.changes` the exact net change.
pub fn finish(tx: &mut Tx, diff_changes: crate::notify::ChangeSummary) -> Result<()> {
    let ov = tx.overlay.take().ok_or_else(|| Error::Internal("transform finished twice".into()))?;
    let held = ov.finish(&tx.schema)?;
    // The replay recorded nothing (a muted summary): the held objects' summary says what it did.
    tx.changes = diff_changes;
    tx.changes.merge(&held);
    Ok(())
}

/// Makes the local objects equal to the fresh copy (needs `begin` first). With `erase_local_only`
/// false (bootstrap of a new client file), local objects the server lacks are kept. Both sides
/// are walked in pages in primary-key order; records that are byte-for-byte equal are not even
/// decoded. `erased_by_recovery`: objects that link to them are held, not written.
/// Returns the held (pinned) objects that the server lacks and that were kept as they are: their
/// local changes are already in them (see `replay`'s `kept_local`).
pub fn apply_diff(tx: &mut Tx, fresh: &FreshCopy, erase_local_only: bool, erased_by_recovery: &HashSet<Key>) -> Result<HashSet<Key>> {
    let mut kept_local = HashSet::new();
    let mut changes = SortedChanges::default();
    let schema = tx.schema.clone();
    let conn = tx.conn;
    for (ci, class) in schema.classes.iter().enumerate() {
        let server_class = fresh::server_class(&fresh.conn, class)?;
        let same = server_class.as_ref().is_some_and(|s| state::same_layout(class, s));
        if fresh.delta_classes.contains(&class.name) {
            if !erase_local_only {
                return Err(Error::Internal("a delta fresh copy for a bootstrap".into()));
            }
            apply_delta(tx, &mut changes, fresh, ci, server_class.as_ref(), same, erased_by_recovery)?;
            continue;
        }
        let mut local = Pager::new(|after, page| local_page(conn, ci, after, page));
        let mut remote = Pager::new(|after, page: &mut Page| match &server_class {
            Some(_) => fresh::page(&fresh.conn, &class.name, after, PAGE, |k, d, _| {
                if d.is_none() {
                    return Err(Error::FileCorrupt("a key without a record in a full fresh copy".into()));
                }
                page.push(k, d, false);
                Ok(())
            }),
            None => Ok(()),
        });
        loop {
            let order = match (local.peek()?, remote.peek()?) {
                (None, None) => break,
                // Byte-identical records of the same layout: nothing to do, nothing copied.
                (Some(l), Some(f)) if same && l == f => {
                    local.skip();
                    remote.skip();
                    continue;
                }
                (Some((lk, _)), Some((fk, _))) => lk.cmp(fk),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            let (key, local_data, mut server_data) = match order {
                std::cmp::Ordering::Less if !erase_local_only => {
                    let (key, _) = local.take();
                    let key = (ci, key);
                    if tx.overlay.as_ref().is_some_and(|o| o.is_pinned(&key)) {
                        kept_local.insert(key);
                    }
                    continue;
                }
                std::cmp::Ordering::Less => {
                    let (key, local_data) = local.take();
                    (key, local_data, None)
                }
                std::cmp::Ordering::Equal => {
                    let (key, local_data) = local.take();
                    let (_, server_data) = remote.take();
                    (key, local_data, server_data)
                }
                std::cmp::Ordering::Greater => {
                    let (key, server_data) = remote.take();
                    (key, None, server_data)
                }
            };
            let key = (ci, key);
            // (Not when recovery erases objects: every object is checked for links to them.)
            if let Some(server) = server_data.as_mut().filter(|_| same && erased_by_recovery.is_empty())
                && write_by_fields(tx, &mut changes, &key, local_data.as_deref(), server)?
            {
                continue;
            }
            let wanted = match &server_data {
                Some(d) => {
                    let sc = server_class.as_ref().ok_or_else(|| Error::Internal("fresh class without layout".into()))?;
                    Some(state::remap(class, sc, d)?)
                }
                None => None,
            };
            // Records of the server's own layout are written as they came.
            let record = server_data.filter(|_| same);
            write_differing(tx, &mut changes, key, local_data, wanted, record, erased_by_recovery)?;
        }
    }
    tx.changes.merge_sorted(changes);
    Ok(kept_local)
}

/// The diff of a class the fresh copy holds as a delta over the local file: only the records the
/// server sent and the keys it lacks are visited (one stream, in key order); every other object
/// is equal by reconciliation. Each local record is read by its key.
fn apply_delta(
    tx: &mut Tx,
    changes: &mut SortedChanges,
    fresh: &FreshCopy,
    ci: usize,
    server_class: Option<&crate::schema::ClassSchema>,
    same: bool,
    erased_by_recovery: &HashSet<Key>,
) -> Result<()> {
    let schema = tx.schema.clone();
    let class = &schema.classes[ci];
    let conn = tx.conn;
    let mut entries = Pager::new(|after, page: &mut Page| {
        fresh::page(&fresh.conn, &class.name, after, PAGE, |k, d, new_key| {
            page.push(k, d, new_key);
            Ok(())
        })
    });
    let mut local_rows = LocalWindow::new(ci);
    while entries.peek()?.is_some() {
        let new_key = entries.peeked_new_key();
        let (key, server_data) = entries.take();
        let Some(mut server_data) = server_data else {
            // A local object the server lacks.
            erase_local_only_object(tx, changes, (ci, key), erased_by_recovery)?;
            continue;
        };
        // A key the reconciliation found missing from the local file is not looked for there.
        let local = if new_key { None } else { local_rows.get(conn, &key)? };
        if same && local.as_deref() == Some(server_data.as_slice()) {
            continue;
        }
        let key = (ci, key);
        if same && erased_by_recovery.is_empty() && write_by_fields(tx, changes, &key, local.as_deref(), &mut server_data)? {
            continue;
        }
        let sc = server_class.ok_or_else(|| Error::Internal("fresh class without layout".into()))?;
        let wanted = state::remap(class, sc, &server_data)?;
        let record = Some(server_data).filter(|_| same);
        write_differing(tx, changes, key, local, Some(wanted), record, erased_by_recovery)?;
    }
    Ok(())
}

/// A local object the server lacks: erased without reading it first, unless recovery holds it
/// (then its record is what the held object starts from).
fn erase_local_only_object(tx: &mut Tx, changes: &mut SortedChanges, key: Key, erased_by_recovery: &HashSet<Key>) -> Result<()> {
    let ov = tx.overlay.as_mut().ok_or_else(|| Error::Internal("transform not begun".into()))?;
    if ov.is_pinned(&key) {
        if let Some(local) = store::load_raw_key(tx.conn, key.0, &key.1)? {
            write_differing(tx, changes, key, Some(local), None, None, erased_by_recovery)?;
        }
        return Ok(());
    }
    let class = &tx.schema.classes[key.0];
    if ov.erase_now(class, &key)? {
        let pk = PrimaryKey::from_key_bytes(&key.1).ok_or_else(|| Error::FileCorrupt("undecodable primary key".into()))?;
        changes.record_erase(&class.name, &pk);
    }
    Ok(())
}

/// One object the diff found different: held for the replay, or written now and recorded in
/// `changes`.
fn write_differing(
    tx: &mut Tx,
    changes: &mut SortedChanges,
    key: Key,
    local: Option<Vec<u8>>,
    wanted: Option<ObjectData>,
    record: Option<Vec<u8>>,
    erased_by_recovery: &HashSet<Key>,
) -> Result<()> {
    let schema = tx.schema.clone();
    let class = &schema.classes[key.0];
    let ov = tx.overlay.as_mut().ok_or_else(|| Error::Internal("transform not begun".into()))?;
    if let Some(w) = &wanted {
        bump_lamport(&mut tx.lamport, w);
    }
    // Declared before the links, which borrow from it too (compared with the new state's),
    // so that it outlives them.
    #[allow(clippy::needless_late_init)]
    let old: Option<ObjectData>;
    let mut new_links = match &wanted {
        Some(w) => overlay::link_targets(&schema, key.0, w)?,
        None => SmallVec::new(),
    };
    let erased_targets: Vec<Key> = match erased_by_recovery.is_empty() {
        true => Vec::new(),
        false => new_links.iter().map(|&(ti, t)| (ti, t.to_key_bytes())).filter(|t| erased_by_recovery.contains(t)).collect(),
    };
    if ov.is_pinned(&key) || !erased_targets.is_empty() {
        drop(new_links);
        ov.hold(key, local, wanted, erased_targets);
        return Ok(());
    }
    let pk = PrimaryKey::from_key_bytes(&key.1).ok_or_else(|| Error::FileCorrupt("undecodable primary key".into()))?;
    let Some(wanted) = &wanted else {
        if ov.erase_now(class, &key)? {
            changes.record_erase(&class.name, &pk);
        }
        return Ok(());
    };
    let record = record.unwrap_or_else(|| store::encode_object(wanted));
    old = match &local {
        Some(bytes) if *bytes == record => return Ok(()),
        Some(bytes) => Some(store::decode_object(bytes, class)?),
        None => None,
    };
    // Backlinks only for the links that appear, once each (compared as keys, encoded only when
    // new).
    let mut old_links = match &old {
        Some(o) => overlay::link_targets(&schema, key.0, o)?,
        None => SmallVec::new(),
    };
    overlay::keep_appearing_links(&mut new_links, &mut old_links);
    for &(ti, t) in &new_links {
        ov.add_backlink(ti, &t.to_key_bytes(), &key)?;
    }
    match &old {
        None => changes.record_insert(&class.name, &pk),
        Some(old) => changes.record_object(class, &pk, old, wanted),
    }
    ov.write_record(key, record)
}

/// `write_differing` of a server record of the local layout, without decoding it, for an object
/// recovery does not name (and only when recovery erases no object: the caller checks). The
/// record is compared with the local one field by field (`store::RecordView`): only the fields
/// whose bytes differ are decoded, for the change summary and the links that appear. Takes
/// `record` and returns true when it wrote it; false, having done nothing, when either record
/// cannot be compared so (a dictionary, a mixed collection or an embedded object, a field count
/// not the class's) or recovery holds the object.
fn write_by_fields(tx: &mut Tx, changes: &mut SortedChanges, key: &Key, local: Option<&[u8]>, record: &mut Vec<u8>) -> Result<bool> {
    let ov = tx.overlay.as_mut().ok_or_else(|| Error::Internal("transform not begun".into()))?;
    if ov.is_pinned(key) {
        return Ok(false);
    }
    let schema = tx.schema.clone();
    let class = &schema.classes[key.0];
    let n = class.properties.len();
    let view = |bytes| store::RecordView::of(bytes).map(|v| v.filter(|v| v.field_count() == n));
    let Some(new) = view(record.as_slice())? else { return Ok(false) };
    let old = match local.map(view).transpose()? {
        Some(None) => return Ok(false),
        other => other.flatten(),
    };
    tx.lamport = tx.lamport.max(new.max_lamport);
    let differs = |i: usize| old.as_ref().is_none_or(|o| o.field(i) != new.field(i));
    // Backlinks for the links that appear: among the fields that differ (a link in an equal
    // field is in both states).
    let (mut now, mut before) = (SmallVec::<[(usize, &[u8]); 8]>::new(), SmallVec::<[(usize, &[u8]); 8]>::new());
    for (i, p) in class.properties.iter().enumerate() {
        if (p.target.is_some() || p.kind == ScalarType::Mixed) && differs(i) {
            field_links(&schema, key.0, &new, i, &mut now)?;
            if let Some(o) = &old {
                field_links(&schema, key.0, o, i, &mut before)?;
            }
        }
    }
    overlay::keep_appearing_links(&mut now, &mut before);
    for &(ti, t) in &now {
        ov.add_backlink(ti, t, key)?;
    }
    let pk = PrimaryKey::from_key_bytes(&key.1).ok_or_else(|| Error::FileCorrupt("undecodable primary key".into()))?;
    match &old {
        None => changes.record_insert(&class.name, &pk),
        Some(o) => {
            let mut differing = Vec::new();
            for i in (0..n).filter(|&i| differs(i)) {
                differing.push((i, o.decode_field(i)?, new.decode_field(i)?));
            }
            changes.record_fields(class, &pk, &differing);
        }
    }
    drop((now, before, old, new));
    ov.write_record(key.clone(), std::mem::take(record))?;
    Ok(true)
}

/// The links field `i` of `view`, a record of class `ci`, holds, as `overlay::link_targets` finds
/// them (a link property's links, a mixed's typed links) but as (class index, key bytes).
fn field_links<'r>(
    schema: &crate::schema::Schema,
    ci: usize,
    view: &store::RecordView<'r>,
    i: usize,
    out: &mut SmallVec<[(usize, &'r [u8]); 8]>,
) -> Result<()> {
    let mut raw = SmallVec::<[store::RawLink<'r>; 8]>::new();
    view.links(i, &mut raw)?;
    let property = &schema.classes[ci].properties[i];
    for (class, t) in raw {
        match (class, &property.target) {
            (None, Some(target)) => out.push((schema.link_target(ci, i).ok_or_else(|| Error::UnknownClass(target.clone()))?, t)),
            (Some(name), None) if property.kind == ScalarType::Mixed => out.push((schema.class(name)?.0, t)),
            _ => {}
        }
    }
    Ok(())
}

fn bump_lamport(lamport: &mut u64, data: &ObjectData) {
    for f in &data.fields {
        *lamport = (*lamport).max(f.max_lamport());
    }
}

/// A key's bytes and its record's (None: a local key the server lacks, in a delta).
type Entry<'p> = (&'p [u8], Option<&'p [u8]>);

/// One page of (key, record) pairs in one reused buffer: walking a class allocates nothing per
/// object. A page of a delta also has keys without a record: local keys the server lacks.
#[derive(Default)]
struct Page {
    bytes: Vec<u8>,
    spans: Vec<Span>,
}

#[derive(Clone, Copy)]
struct Span {
    /// Where the key starts, where the record starts, where it ends.
    at: [usize; 3],
    record: bool,
    /// A record of a key the local file lacks (known for a delta's records only).
    new_key: bool,
}

impl Page {
    fn push(&mut self, key: &[u8], data: Option<&[u8]>, new_key: bool) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(data.unwrap_or_default());
        let at = [start, start + key.len(), self.bytes.len()];
        self.spans.push(Span { at, record: data.is_some(), new_key });
    }

    fn get(&self, i: usize) -> Option<Entry<'_>> {
        self.spans.get(i).map(|s| {
            let [k, d, e] = s.at;
            (&self.bytes[k..d], Some(&self.bytes[d..e]).filter(|_| s.record))
        })
    }

    fn new_key(&self, i: usize) -> bool {
        self.spans.get(i).is_some_and(|s| s.new_key)
    }
}

/// Walks (key, record) pages in key order, fetching the next page after the last key of the
/// previous one.
struct Pager<F: FnMut(&[u8], &mut Page) -> Result<()>> {
    fetch: F,
    page: Page,
    pos: usize,
    last_key: Vec<u8>,
    exhausted: bool,
}

impl<F: FnMut(&[u8], &mut Page) -> Result<()>> Pager<F> {
    fn new(fetch: F) -> Self {
        Pager { fetch, page: Page::default(), pos: 0, last_key: Vec::new(), exhausted: false }
    }

    /// The next record, fetching a page when this one is used up.
    fn peek(&mut self) -> Result<Option<Entry<'_>>> {
        if self.pos == self.page.spans.len() && !self.exhausted {
            if let Some((k, _)) = self.page.get(self.pos.wrapping_sub(1)) {
                self.last_key = k.to_vec();
            }
            self.page.bytes.clear();
            self.page.spans.clear();
            self.pos = 0;
            (self.fetch)(&self.last_key, &mut self.page)?;
            self.exhausted = self.page.spans.len() < PAGE;
        }
        Ok(self.page.get(self.pos))
    }

    /// Whether the entry `peek` returned is a record of a key the local file lacks.
    fn peeked_new_key(&self) -> bool {
        self.page.new_key(self.pos)
    }

    /// Takes the entry `peek` returned, as owned bytes (only differing records are taken so).
    fn take(&mut self) -> (Vec<u8>, Option<Vec<u8>>) {
        let r = self.page.get(self.pos).map(|(k, d)| (k.to_vec(), d.map(<[u8]>::to_vec))).unwrap_or_default();
        self.skip();
        r
    }

    /// Moves past the record `peek` returned.
    fn skip(&mut self) {
        self.pos += 1;
    }
}

/// The local records of one class read for keys asked in increasing order, a window of rows at
/// a time (one range query) instead of one lookup per key. The window grows while the keys
/// asked are dense among the file's rows (a window answers, found or not, at least half as many
/// keys as it has rows) and shrinks while they are sparse, so a sparse delta costs about one
/// lookup per key and a dense one a sequential scan.
/// Every row is read before the transform writes it (each key is asked once, before its write).
struct LocalWindow {
    ci: usize,
    rows: Page,
    pos: usize,
    /// The window holds every local row from its first key up to this one (None: to the end).
    last: Option<Vec<u8>>,
    loaded: bool,
    /// Rows to read with the next window, and keys the current one answered (found or not).
    size: usize,
    answered: usize,
}

impl LocalWindow {
    const MIN: usize = 4;

    fn new(ci: usize) -> Self {
        LocalWindow { ci, rows: Page::default(), pos: 0, last: None, loaded: false, size: 64, answered: 0 }
    }

    /// The local record of `key` (None: the file has no such object). Keys must increase.
    fn get(&mut self, conn: &rusqlite::Connection, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inside = self.loaded && self.last.as_deref().is_none_or(|last| key <= last);
        if !inside {
            self.load(conn, key)?;
        }
        self.answered += 1;
        while let Some((k, d)) = self.rows.get(self.pos) {
            match k.cmp(key) {
                std::cmp::Ordering::Less => self.pos += 1,
                std::cmp::Ordering::Equal => return Ok(d.map(<[u8]>::to_vec)),
                std::cmp::Ordering::Greater => break,
            }
        }
        Ok(None)
    }

    /// Reads the rows from `first` on: more than last time if the last window answered at least
    /// half as many keys as it had rows, fewer if not.
    fn load(&mut self, conn: &rusqlite::Connection, first: &[u8]) -> Result<()> {
        if self.loaded {
            let read = self.rows.spans.len().max(1);
            self.size = if self.answered * 2 >= read { (self.size * 2).min(PAGE) } else { (self.size / 2).max(Self::MIN) };
        }
        self.rows.bytes.clear();
        self.rows.spans.clear();
        let (rows, size) = (&mut self.rows, self.size);
        store::scan_raw_from(conn, self.ci, first, |k, d| {
            rows.push(k, Some(d), false);
            Ok(rows.spans.len() < size)
        })?;
        self.last = if self.rows.spans.len() < size { None } else { self.rows.get(size - 1).map(|(k, _)| k.to_vec()) };
        (self.pos, self.answered, self.loaded) = (0, 0, true);
        Ok(())
    }
}

fn local_page(conn: &rusqlite::Connection, ci: usize, after: &[u8], page: &mut Page) -> Result<()> {
    store::scan_raw(conn, ci, after, |k, d| {
        page.push(k, Some(d), false);
        Ok(page.spans.len() < PAGE)
    })
}

/// Replays changesets with the rulebook. Nothing is lost silently: an instruction is either kept
/// (and will be uploaded) or reported as dropped with the reason. `kept_local`: objects that
/// still hold their local changes (bootstrap keeps what the server lacks); a counter add on them
/// is kept without adding it a second time (every other instruction is idempotent).
pub fn replay(tx: &mut Tx, changesets: &[Changeset], kept_local: &HashSet<Key>) -> Result<Replayed> {
    let mut out = Replayed::default();
    for cs in changesets {
        let mut kept = Vec::new();
        for ins in &cs.instructions {
            if let Instruction::CounterAdd { class, pk, .. } = ins
                && tx.schema.class_index(class).is_some_and(|ci| kept_local.contains(&(ci, pk.to_key_bytes())))
            {
                kept.push(ins.clone());
                continue;
            }
            match rules::apply(tx, ins, Mode::Merge) {
                Ok(Outcome::Applied) | Ok(Outcome::NoOp) => kept.push(ins.clone()),
                Ok(Outcome::Adjusted(reason)) => {
                    out.dropped.push(DroppedChange {
                        local_version: cs.local_version,
                        instruction: ins.describe(),
                        reason,
                        partially: true,
                    });
                    kept.push(ins.clone());
                }
                Ok(Outcome::Dropped(reason)) => {
                    out.dropped.push(DroppedChange {
                        local_version: cs.local_version,
                        instruction: ins.describe(),
                        reason,
                        partially: false,
                    });
                }
                Err(e) => {
                    out.dropped.push(DroppedChange {
                        local_version: cs.local_version,
                        instruction: ins.describe(),
                        reason: e.to_string(),
                        partially: false,
                    });
                }
            }
        }
        out.kept.push(kept);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{LocalWindow, write_by_fields, write_differing};
    use crate::changeset::ElemId;
    use crate::list::RgaList;
    use crate::notify::{ChangeSummary, SortedChanges};
    use crate::overlay::Overlay;
    use crate::rules::Tx;
    use crate::schema::{ClassSchema, Property, Schema};
    use crate::store::{self, Field, ObjectData};
    use crate::value::{PrimaryKey, ScalarType, Value};
    use rusqlite::{Connection, params};
    use std::collections::HashSet;
    use std::sync::Arc;

    /// What one write of the diff leaves: backlink rows, object rows, the change summary and the
    /// lamport clock.
    type Written = (Vec<(i64, Vec<u8>, i64, Vec<u8>)>, Vec<(i64, Vec<u8>, Vec<u8>)>, ChangeSummary, u64);

    /// Writes `new` over `old` (None: absent) as the diff does, by fields or decoded.
    fn diff_write(schema: &Arc<Schema>, old: Option<&ObjectData>, new: &ObjectData, by_fields: bool) -> Written {
        let conn = Connection::open_in_memory().expect("open");
        store::create_tables(&conn, schema, 1).expect("tables");
        let pk = PrimaryKey::Int(7);
        let local = old.map(store::encode_object);
        if let Some(o) = old {
            store::save_object(&conn, 1, &pk, o).expect("save");
            for (ti, t) in crate::overlay::links(schema, 1, o).expect("links") {
                let t = PrimaryKey::from_key_bytes(&t).expect("key");
                store::add_backlink(&conn, ti, &t, 1, &pk).expect("backlink");
            }
        }
        let mut tx = Tx::new(&conn, schema.clone(), 3);
        tx.overlay = Some(Overlay::new(&conn, HashSet::new()).expect("overlay"));
        let mut changes = SortedChanges::default();
        let key = (1, pk.to_key_bytes());
        let mut record = store::encode_object(new);
        if by_fields {
            assert!(write_by_fields(&mut tx, &mut changes, &key, local.as_deref(), &mut record).expect("write"));
        } else {
            write_differing(&mut tx, &mut changes, key, local, Some(new.clone()), Some(record), &HashSet::new()).expect("write");
        }
        let held = tx.overlay.take().expect("overlay").finish(schema).expect("finish");
        assert!(held.is_empty());
        tx.changes.merge_sorted(changes);
        let rows = |sql: &str| -> Vec<(i64, Vec<u8>, rusqlite::types::Value, Vec<u8>)> {
            let mut stmt = conn.prepare(sql).expect("prepare");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).expect("query").map(|r| r.expect("row")).collect()
        };
        let backlinks = rows("SELECT tclass, tpk, sclass, spk FROM ds_backlinks ORDER BY 1, 2, 3, 4")
            .into_iter()
            .map(|(a, b, c, d)| (a, b, if let rusqlite::types::Value::Integer(c) = c { c } else { -1 }, d))
            .collect();
        let objects = rows("SELECT class, pk, data, pk FROM ds_objects ORDER BY 1, 2")
            .into_iter()
            .map(|(a, b, c, _)| (a, b, if let rusqlite::types::Value::Blob(c) = c { c } else { Vec::new() }))
            .collect();
        (backlinks, objects, tx.changes, tx.lamport)
    }

    /// The diff's write of a record compared field by field (`write_by_fields`) leaves what the
    /// write of the decoded object leaves: the same rows, backlinks, change summary (properties
    /// and what changed inside collections) and lamport clock, over 400 random pairs of states
    /// of an object with a link, a list and a set of links, a mixed holding typed links, and a
    /// list with tombstones, fields equal or not.
    #[test]
    fn writing_by_fields_leaves_what_writing_the_decoded_object_leaves() {
        let schema = Arc::new(
            Schema::new(vec![
                ClassSchema::new("A", "id", vec![Property::new("id", ScalarType::Int)]),
                ClassSchema::new(
                    "B",
                    "id",
                    vec![
                        Property::new("id", ScalarType::Int),
                        Property::link("link", "A"),
                        Property::link_list("links", "A"),
                        Property::link_set("tags", "A"),
                        Property::mixed("m"),
                        Property::new("vals", ScalarType::Int).list(),
                        Property::new("s", ScalarType::String),
                    ],
                ),
            ])
            .expect("schema"),
        );
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let random_b = |next: &mut dyn FnMut(u64) -> u64| {
            let link = |i: u64| Value::Link(PrimaryKey::Int(i as i64));
            let list = |next: &mut dyn FnMut(u64) -> u64, value: &dyn Fn(u64) -> Value| {
                let mut l = RgaList::default();
                for n in 0..next(5) {
                    l.integrate_insert(ElemId { lamport: 1 + next(50), peer: n }, None, value(next(6)));
                }
                for e in l.elems.iter_mut() {
                    e.erased = next(4) == 0;
                }
                l
            };
            let mut tags = Vec::new();
            for _ in 0..next(4) {
                store::set_insert(&mut tags, link(next(6)));
            }
            ObjectData {
                fields: vec![
                    Field::Value(Value::Int(7)),
                    Field::Value(if next(3) == 0 { Value::Null } else { link(next(6)) }),
                    Field::List(list(next, &link)),
                    Field::Set(tags),
                    Field::Value(match next(3) {
                        0 => Value::Null,
                        1 => Value::Int(next(3) as i64),
                        _ => Value::TypedLink("A".into(), PrimaryKey::Int(next(6) as i64)),
                    }),
                    Field::List(list(next, &|i| Value::Int(i as i64))),
                    Field::Value(Value::String(format!("s{}", next(2)))),
                ],
            }
        };
        for round in 0..400 {
            let old = (next(5) != 0).then(|| random_b(&mut next));
            let mut new = random_b(&mut next);
            // Most fields equal to the old state's, as in most objects a reset rewrites.
            if let Some(o) = &old {
                for (i, f) in new.fields.iter_mut().enumerate() {
                    if next(3) != 0 {
                        *f = o.fields[i].clone();
                    }
                }
            }
            if old.as_ref() == Some(&new) {
                continue;
            }
            let by_fields = diff_write(&schema, old.as_ref(), &new, true);
            let decoded = diff_write(&schema, old.as_ref(), &new, false);
            assert_eq!(by_fields, decoded, "round {round}: {old:?} -> {new:?}");
        }
    }

    /// A record the view cannot compare (a dictionary) is left to the decoded write.
    #[test]
    fn writing_by_fields_leaves_a_dictionary_to_the_decoded_write() {
        let schema = Arc::new(
            Schema::new(vec![ClassSchema::new(
                "D",
                "id",
                vec![Property::new("id", ScalarType::Int), Property::new("d", ScalarType::Int).dictionary()],
            )])
            .expect("schema"),
        );
        let conn = Connection::open_in_memory().expect("open");
        store::create_tables(&conn, &schema, 1).expect("tables");
        let mut tx = Tx::new(&conn, schema.clone(), 0);
        tx.overlay = Some(Overlay::new(&conn, HashSet::new()).expect("overlay"));
        let data = ObjectData { fields: vec![Field::Value(Value::Int(1)), Field::Dict([("k".to_string(), Value::Int(2))].into())] };
        let mut record = store::encode_object(&data);
        let before = record.clone();
        let key = (0, PrimaryKey::Int(1).to_key_bytes());
        let mut changes = SortedChanges::default();
        assert!(!write_by_fields(&mut tx, &mut changes, &key, None, &mut record).expect("write"));
        assert_eq!(record, before, "the record is left for the decoded write");
    }

    /// Every key asked, dense or sparse, present or not, gets what a lookup by key gets, across
    /// windows that grow and shrink.
    #[test]
    fn local_window_answers_like_a_lookup_by_key() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE ds_objects(class INTEGER NOT NULL, pk BLOB NOT NULL, data BLOB NOT NULL, hash INTEGER, PRIMARY KEY(class, pk)) WITHOUT ROWID;")
            .expect("table");
        let key = |i: u32| i.to_be_bytes().to_vec();
        // Class 1: every third key of 0..30,000 (class 0 and 2 around it must not leak in).
        for (class, i) in (0..30_000u32).step_by(3).map(|i| (1, i)).chain([(0, 5), (2, 1)]) {
            conn.execute(
                "INSERT INTO ds_objects(class, pk, data) VALUES(?1, ?2, ?3)",
                params![class, key(i), format!("{class}:{i}").into_bytes()],
            )
            .expect("insert");
        }
        // Dense (every key), then sparse (every 997th), then dense again, then past the end.
        let asked: Vec<u32> =
            (0..3_000).chain((3_000..20_000).step_by(997)).chain(20_000..24_000).chain([29_998, 29_999, 40_000]).collect();
        let mut window = LocalWindow::new(1);
        for i in asked {
            let want: Option<Vec<u8>> = (i % 3 == 0 && i < 30_000).then(|| format!("1:{i}").into_bytes());
            assert_eq!(window.get(&conn, &key(i)).expect("get"), want, "key {i}");
        }
    }
}
