//! Range-based set reconciliation of object states (A. Meyer, "Range-Based Set Reconciliation",
//! 2022), shared by the client's fresh copy (`reset/fresh.rs`) and the reference server.
//!
//! Each object hashes to `object_hash(primary-key bytes, record bytes)`: the record is taken as
//! opaque bytes, so any property kind works unchanged. A range of keys `[lo, hi)` of one class
//! has the fingerprint (count, wrapping sum of its hashes). Memory stays flat in the number of
//! objects: a class is reconciled one *window* of at most `WINDOW_OBJECTS` client objects at a
//! time, in key order. Each side holds a `HashIndex` of the current window only (its keys in
//! order with prefix sums of the hashes, so a fingerprint is two binary searches and a
//! subtraction), read from the stored hashes in one sequential scan that continues where the
//! previous window ended. A range the server cannot hold in its window (it has far more objects
//! there than the client) is answered by scanning the stored hashes (`stream_answer`).
//!
//! The client asks about ranges with its own fingerprint; the server answers each with `Same`,
//! splits a differing range into at most `FANOUT` sub-ranges with its fingerprints, lists the
//! (key, hash) items of a small one, or sends the records of a range the client holds nothing of.

use crate::error::{Error, Result};
use crate::protocol::{RangeAnswer, RangeFingerprint, RawRecord};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A differing range is split into at most this many sub-ranges.
pub const FANOUT: usize = 16;
/// A differing range with at most this many server objects is answered with its items.
pub const LEAF_ITEMS: usize = 32;
/// Most ranges a client asks about in one message (answers are bounded by this times `FANOUT`).
pub const MAX_QUERIES: usize = 4096;
/// Most hashes in one fetch request.
pub const MAX_FETCH_HASHES: usize = 10_000;
/// Most record bytes the server puts into one answer (the first record always goes).
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;
/// Most objects in the client's window of a class (its `HashIndex`: 33 bytes per object).
pub const WINDOW_OBJECTS: usize = 1 << 18;
/// Most objects in the server's window: room for a client window plus what the server added.
pub const SERVER_WINDOW_OBJECTS: usize = 2 * WINDOW_OBJECTS;

/// The hash of one object: primary-key bytes (length-prefixed) and record bytes.
pub fn object_hash(key: &[u8], data: &[u8]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&(key.len() as u32).to_le_bytes());
    h.update(key);
    h.update(data);
    h.digest()
}

/// Count and wrapping sum of the hashes of a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub count: u64,
    pub sum: u64,
}

/// One class's objects as (key, hash), in key order, with prefix sums. The keys sit end to end
/// in one buffer: a million objects are three allocations, not a million.
#[derive(Debug, Default)]
pub struct HashIndex {
    key_bytes: Vec<u8>,
    /// `key_ends[i]`: where key `i` ends in `key_bytes` (it starts where key `i - 1` ends).
    key_ends: Vec<usize>,
    hashes: Vec<u64>,
    /// `prefix[i]`: wrapping sum of `hashes[..i]`.
    prefix: Vec<u64>,
}

impl HashIndex {
    /// Appends an object; keys must come in increasing order.
    pub fn push(&mut self, key: &[u8], data: &[u8]) {
        self.push_hash(key, object_hash(key, data));
    }

    /// Appends an object by its hash; keys must come in increasing order.
    pub fn push_hash(&mut self, key: &[u8], h: u64) {
        if self.prefix.is_empty() {
            self.prefix.push(0);
        }
        let last = *self.prefix.last().unwrap_or(&0);
        self.key_bytes.extend_from_slice(key);
        self.key_ends.push(self.key_bytes.len());
        self.hashes.push(h);
        self.prefix.push(last.wrapping_add(h));
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.key_ends[i - 1] };
        &self.key_bytes[start..self.key_ends[i]]
    }

    /// The position of the first key not below `k`.
    fn lower_bound(&self, k: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid) < k { lo = mid + 1 } else { hi = mid }
        }
        lo
    }

    /// Index positions `[a, b)` of the keys in `[lo, hi)` (`hi` None: to the end).
    fn bounds(&self, lo: &[u8], hi: Option<&[u8]>) -> (usize, usize) {
        let a = self.lower_bound(lo);
        let b = match hi {
            Some(hi) => self.lower_bound(hi),
            None => self.len(),
        };
        (a, b.max(a))
    }

    fn sum(&self, a: usize, b: usize) -> u64 {
        if a >= b { 0 } else { self.prefix[b].wrapping_sub(self.prefix[a]) }
    }

    pub fn fingerprint(&self, lo: &[u8], hi: Option<&[u8]>) -> Fingerprint {
        let (a, b) = self.bounds(lo, hi);
        Fingerprint { count: (b - a) as u64, sum: self.sum(a, b) }
    }

    /// (key, hash) of every object in `[lo, hi)`.
    pub fn items(&self, lo: &[u8], hi: Option<&[u8]>) -> impl Iterator<Item = (&[u8], u64)> {
        let (a, b) = self.bounds(lo, hi);
        (a..b).map(|i| (self.key(i), self.hashes[i]))
    }

    /// The server's answer about `[lo, hi)` given the client's fingerprint of it. `Records` is
    /// returned with no records: the caller reads them (records are not held here).
    pub fn answer(&self, lo: &[u8], hi: Option<&[u8]>, client: Fingerprint) -> RangeAnswer {
        let (a, b) = self.bounds(lo, hi);
        let mine = Fingerprint { count: (b - a) as u64, sum: self.sum(a, b) };
        if mine == client {
            return RangeAnswer::Same;
        }
        if client.count == 0 {
            return RangeAnswer::Records { records: Vec::new(), resume: None };
        }
        if b - a <= LEAF_ITEMS {
            return RangeAnswer::Items(self.hashes[a..b].to_vec());
        }
        let mut split = Splitter::new(lo, b - a);
        for i in a..b {
            split.push(self.key(i), self.hashes[i]);
        }
        RangeAnswer::Split(split.finish(hi))
    }
}

/// Splits a range of `n` (> `LEAF_ITEMS`) server objects, fed in key order, into `FANOUT`
/// sub-ranges of about equal counts. The first starts at the range's `lo` and the last ends at
/// its `hi`, so together they cover exactly the range (client keys included).
struct Splitter {
    n: usize,
    seen: usize,
    part: usize,
    start_key: Vec<u8>,
    fingerprint: Fingerprint,
    parts: Vec<RangeFingerprint>,
}

impl Splitter {
    fn new(lo: &[u8], n: usize) -> Splitter {
        Splitter { n, seen: 0, part: 1, start_key: lo.to_vec(), fingerprint: Fingerprint::default(), parts: Vec::with_capacity(FANOUT) }
    }

    fn push(&mut self, key: &[u8], hash: u64) {
        // Object number `n * part / FANOUT` starts the next part.
        if self.part < FANOUT && self.seen == self.n * self.part / FANOUT {
            if self.fingerprint.count > 0 {
                let lo = std::mem::replace(&mut self.start_key, key.to_vec());
                self.parts.push(RangeFingerprint { lo: lo.into(), hi: Some(key.to_vec().into()), fingerprint: self.fingerprint });
                self.fingerprint = Fingerprint::default();
            }
            self.part += 1;
        }
        self.seen += 1;
        self.fingerprint.count += 1;
        self.fingerprint.sum = self.fingerprint.sum.wrapping_add(hash);
    }

    fn finish(mut self, hi: Option<&[u8]>) -> Vec<RangeFingerprint> {
        self.parts.push(RangeFingerprint { lo: self.start_key.into(), hi: hi.map(|h| h.to_vec().into()), fingerprint: self.fingerprint });
        self.parts
    }
}

/// The objects of one class from `lo` up to (not including) `end`, as a `HashIndex`: a window
/// of a reconciliation. `end` None: to the end of the class.
#[derive(Debug, Default)]
pub struct Window {
    pub lo: Vec<u8>,
    pub end: Option<Vec<u8>>,
    pub index: HashIndex,
}

impl Window {
    /// Reads at most `max` objects of class `class_idx` of database `db` from `lo` on (a scan of
    /// keys and stored hashes); the window ends at the first object it has no room for.
    pub fn read(conn: &Connection, db: &str, class_idx: usize, lo: &[u8], max: usize) -> Result<Window> {
        let mut index = HashIndex::default();
        let mut end = None;
        scan_hashes(conn, db, class_idx, lo, None, |key, h| {
            if index.len() == max {
                end = Some(key.to_vec());
                return Ok(false);
            }
            index.push_hash(key, h);
            Ok(true)
        })?;
        Ok(Window { lo: lo.to_vec(), end, index })
    }

    /// Whether `[lo, hi)` lies inside the window (`hi` None: to the end of the class).
    pub fn covers(&self, lo: &[u8], hi: Option<&[u8]>) -> bool {
        lo >= self.lo.as_slice()
            && match (hi, &self.end) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(hi), Some(end)) => hi <= end.as_slice(),
            }
    }
}

/// Calls `f(key, hash)` for the objects of class `class_idx` of database `db` in `[lo, hi)`, in
/// key order, while it returns true. Reads keys and stored hashes; a record is read only for a
/// row without a stored hash.
pub fn scan_hashes(
    conn: &Connection,
    db: &str,
    class_idx: usize,
    lo: &[u8],
    hi: Option<&[u8]>,
    mut f: impl FnMut(&[u8], u64) -> Result<bool>,
) -> Result<()> {
    let sql = match hi {
        Some(_) => format!("SELECT pk, hash FROM {db}.ds_objects WHERE class = ?1 AND pk >= ?2 AND pk < ?3 ORDER BY pk"),
        None => format!("SELECT pk, hash FROM {db}.ds_objects WHERE class = ?1 AND pk >= ?2 ORDER BY pk"),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = match hi {
        Some(hi) => stmt.query(params![class_idx as i64, lo, hi])?,
        None => stmt.query(params![class_idx as i64, lo])?,
    };
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("primary key is not a blob".into()))?;
        let h = match row.get_ref(1)?.as_i64_or_null().map_err(|_| Error::FileCorrupt("object hash is not an integer".into()))? {
            Some(h) => h as u64,
            None => {
                let sql = format!("SELECT data FROM {db}.ds_objects WHERE class = ?1 AND pk = ?2");
                let data: Vec<u8> = conn.prepare_cached(&sql)?.query_row(params![class_idx as i64, key], |r| r.get(0))?;
                object_hash(key, &data)
            }
        };
        if !f(key, h)? {
            break;
        }
    }
    Ok(())
}

/// How many objects of class `class_idx` of database `db` have keys from `lo` on.
pub fn count_from(conn: &Connection, db: &str, class_idx: usize, lo: &[u8]) -> Result<u64> {
    let sql = format!("SELECT count(*) FROM {db}.ds_objects WHERE class = ?1 AND pk >= ?2");
    Ok(conn.prepare_cached(&sql)?.query_row(params![class_idx as i64, lo], |r| r.get::<_, i64>(0))? as u64)
}

/// The fingerprint of `[lo, hi)` of a class, by a scan of its stored hashes.
pub fn scan_fingerprint(conn: &Connection, db: &str, class_idx: usize, lo: &[u8], hi: Option<&[u8]>) -> Result<Fingerprint> {
    let mut fp = Fingerprint::default();
    scan_hashes(conn, db, class_idx, lo, hi, |_, h| {
        fp.count += 1;
        fp.sum = fp.sum.wrapping_add(h);
        Ok(true)
    })?;
    Ok(fp)
}

/// The server's answer about `[lo, hi)`, as `HashIndex::answer` gives it, without holding the
/// range in memory: one scan for the fingerprint, and a second one to split a large range.
pub fn stream_answer(
    conn: &Connection,
    db: &str,
    class_idx: usize,
    lo: &[u8],
    hi: Option<&[u8]>,
    client: Fingerprint,
) -> Result<RangeAnswer> {
    let mine = scan_fingerprint(conn, db, class_idx, lo, hi)?;
    if mine == client {
        return Ok(RangeAnswer::Same);
    }
    if client.count == 0 {
        return Ok(RangeAnswer::Records { records: Vec::new(), resume: None });
    }
    if mine.count as usize <= LEAF_ITEMS {
        let mut hashes = Vec::new();
        scan_hashes(conn, db, class_idx, lo, hi, |_, h| {
            hashes.push(h);
            Ok(true)
        })?;
        return Ok(RangeAnswer::Items(hashes));
    }
    let mut split = Splitter::new(lo, mine.count as usize);
    scan_hashes(conn, db, class_idx, lo, hi, |k, h| {
        split.push(k, h);
        Ok(true)
    })?;
    Ok(RangeAnswer::Split(split.finish(hi)))
}

/// Reads the records of class `class_idx` of database `db` ("main", or an attached realm file)
/// from `lo` (inclusive) in key order while `f` returns true.
pub fn scan_from(conn: &Connection, db: &str, class_idx: usize, lo: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
    let sql = format!("SELECT pk, data FROM {db}.ds_objects WHERE class = ?1 AND pk >= ?2 ORDER BY pk");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![class_idx as i64, lo])?;
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("primary key is not a blob".into()))?;
        let data = row.get_ref(1)?.as_blob().map_err(|_| Error::FileCorrupt("object data is not a blob".into()))?;
        if !f(key, data)? {
            break;
        }
    }
    Ok(())
}

/// The records of `[lo, hi)`, at most `MAX_RECORD_BYTES` of them (and at least one); the key
/// to resume from when cut.
pub fn read_range(conn: &Connection, class_idx: usize, lo: &[u8], hi: Option<&[u8]>) -> Result<(Vec<RawRecord>, Option<Vec<u8>>)> {
    let mut records = Vec::new();
    let mut bytes = 0usize;
    let mut resume = None;
    scan_from(conn, "main", class_idx, lo, |k, d| {
        if hi.is_some_and(|hi| k >= hi) {
            return Ok(false);
        }
        if !records.is_empty() && bytes + k.len() + d.len() > MAX_RECORD_BYTES {
            resume = Some(k.to_vec());
            return Ok(false);
        }
        bytes += k.len() + d.len();
        records.push(RawRecord { key: k.to_vec().into(), data: d.to_vec().into() });
        Ok(true)
    })?;
    Ok((records, resume))
}

/// The records of `[lo, hi)` whose hash is one of `hashes` (a range of a few objects).
pub fn read_hashes(conn: &Connection, class_idx: usize, lo: &[u8], hi: Option<&[u8]>, hashes: &[u64]) -> Result<Vec<RawRecord>> {
    let mut keys = Vec::new();
    scan_hashes(conn, "main", class_idx, lo, hi, |k, h| {
        if hashes.contains(&h) {
            keys.push(k.to_vec());
        }
        Ok(true)
    })?;
    let mut stmt = conn.prepare_cached("SELECT data FROM ds_objects WHERE class = ?1 AND pk = ?2")?;
    let mut records = Vec::new();
    for key in keys {
        let data: Option<Vec<u8>> = stmt.query_row(params![class_idx as i64, key], |r| r.get(0)).optional()?;
        if let Some(data) = data {
            records.push(RawRecord { key: key.into(), data: data.into() });
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(keys: &[u8]) -> HashIndex {
        let mut ix = HashIndex::default();
        for k in keys {
            ix.push(&[*k], b"data");
        }
        ix
    }

    #[test]
    fn reconcile_fingerprint_of_a_range_is_the_sum_of_its_hashes() {
        let ix = index(&[1, 3, 5, 7]);
        let fp = ix.fingerprint(&[3], Some(&[7]));
        assert_eq!(fp.count, 2);
        assert_eq!(fp.sum, object_hash(&[3], b"data").wrapping_add(object_hash(&[5], b"data")));
        assert_eq!(ix.fingerprint(&[], None).count, 4);
        assert_eq!(ix.fingerprint(&[8], None), Fingerprint::default());
    }

    /// A class of 200 objects (keys 0..200) in an in-memory store; every 7th without a stored
    /// hash, as an older library leaves it.
    fn store_of_200() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE ds_objects(class INTEGER, pk BLOB, data BLOB, hash INTEGER, PRIMARY KEY(class, pk)) WITHOUT ROWID",
        )
        .unwrap();
        for k in 0u8..200 {
            let hash = (k % 7 != 0).then(|| object_hash(&[k], b"data") as i64);
            conn.execute("INSERT INTO ds_objects VALUES(0, ?1, ?2, ?3)", params![vec![k], b"data".to_vec(), hash]).unwrap();
        }
        conn
    }

    /// A range `[lo, hi)` and the client's fingerprint of it.
    type Query<'a> = (&'a [u8], Option<&'a [u8]>, Fingerprint);

    #[test]
    fn reconcile_stream_answer_equals_the_index_answer() {
        let conn = store_of_200();
        let ix = index(&(0..200).collect::<Vec<u8>>());
        let other = Fingerprint { count: 3, sum: 1 };
        let cases: [Query; 5] = [
            (&[], None, ix.fingerprint(&[], None)),        // same
            (&[], None, other),                            // split of the whole class
            (&[10], Some(&[150]), other),                  // split of a range
            (&[10], Some(&[30]), other),                   // items
            (&[10], Some(&[150]), Fingerprint::default()), // the client holds nothing
        ];
        for (lo, hi, client) in cases {
            let streamed = stream_answer(&conn, "main", 0, lo, hi, client).unwrap();
            assert_eq!(format!("{streamed:?}"), format!("{:?}", ix.answer(lo, hi, client)), "{lo:?}..{hi:?}");
        }
    }

    #[test]
    fn reconcile_window_holds_at_most_its_objects_and_ends_at_the_next() {
        let conn = store_of_200();
        let w = Window::read(&conn, "main", 0, &[20], 50).unwrap();
        assert_eq!(w.index.len(), 50);
        assert_eq!(w.end.as_deref(), Some(&[70u8][..]));
        assert_eq!(w.index.fingerprint(&[20], Some(&[70])), index(&(20..70).collect::<Vec<u8>>()).fingerprint(&[], None));
        assert!(w.covers(&[20], Some(&[70])) && w.covers(&[30], Some(&[40])));
        assert!(!w.covers(&[19], Some(&[40])) && !w.covers(&[30], Some(&[71])) && !w.covers(&[30], None));
        let last = Window::read(&conn, "main", 0, &[180], 50).unwrap();
        assert_eq!((last.index.len(), last.end.as_deref()), (20, None));
        assert!(last.covers(&[190], None));
    }

    #[test]
    fn reconcile_split_covers_the_whole_range_without_overlap() {
        let keys: Vec<u8> = (0..200).collect();
        let ix = index(&keys);
        let RangeAnswer::Split(parts) = ix.answer(&[], None, Fingerprint { count: 1, sum: 1 }) else {
            panic!("a large differing range is split")
        };
        assert!(parts.len() <= FANOUT && parts.len() > 1);
        assert!(parts[0].lo.is_empty());
        assert!(parts.last().is_some_and(|p| p.hi.is_none()));
        for w in parts.windows(2) {
            assert_eq!(w[0].hi.as_ref().map(|h| h.as_slice()), Some(w[1].lo.as_slice()));
        }
        assert_eq!(parts.iter().map(|p| p.fingerprint.count).sum::<u64>(), 200);
    }
}
