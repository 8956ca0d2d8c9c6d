//! Range-based set reconciliation of object states (A. Meyer, "Range-Based Set Reconciliation",
//! 2022), shared by the client's fresh copy (`reset/fresh.rs`) and the reference server.
//!
//! Each object hashes to `object_hash(primary-key bytes, record bytes)`: the record is taken as
//! opaque bytes, so any property kind works unchanged. A range of keys `[lo, hi)` of one class
//! has the fingerprint (count, wrapping sum of its hashes). Both sides hold a `HashIndex` of a
//! class, its keys in order with prefix sums of the hashes, so a fingerprint is two binary
//! searches and a subtraction whatever the size of the range.
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

    /// Keys of the objects of `[lo, hi)` whose hash is one of `hashes`.
    pub fn keys_with_hashes(&self, lo: &[u8], hi: Option<&[u8]>, hashes: &[u64]) -> Vec<&[u8]> {
        self.items(lo, hi).filter(|(_, h)| hashes.contains(h)).map(|(k, _)| k).collect()
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
        let n = b - a;
        if n <= LEAF_ITEMS {
            return RangeAnswer::Items(self.hashes[a..b].to_vec());
        }
        // FANOUT sub-ranges of about equal server counts; the first starts at `lo` and the last
        // ends at `hi`, so together they cover exactly `[lo, hi)` (client keys included).
        let mut parts = Vec::with_capacity(FANOUT);
        let mut start_key: Vec<u8> = lo.to_vec();
        let mut start = a;
        for p in 1..=FANOUT {
            let end = if p == FANOUT { b } else { a + n * p / FANOUT };
            if end <= start && p != FANOUT {
                continue;
            }
            let end_key = if p == FANOUT { hi.map(<[u8]>::to_vec) } else { Some(self.key(end).to_vec()) };
            parts.push(RangeFingerprint {
                lo: start_key.clone().into(),
                hi: end_key.clone().map(Into::into),
                fingerprint: Fingerprint { count: (end - start) as u64, sum: self.sum(start, end) },
            });
            if let Some(k) = end_key {
                start_key = k;
            }
            start = end;
        }
        RangeAnswer::Split(parts)
    }
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

/// The `HashIndex` of one class of database `db`, from the hashes stored with the objects (a
/// scan of keys and hashes; records are read only for a row without a stored hash).
pub fn index_class(conn: &Connection, db: &str, class_idx: usize) -> Result<HashIndex> {
    let mut ix = HashIndex::default();
    let sql = format!("SELECT pk, hash, data FROM {db}.ds_objects WHERE class = ?1 ORDER BY pk");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![class_idx as i64])?;
    while let Some(row) = rows.next()? {
        let key = row.get_ref(0)?.as_blob().map_err(|_| Error::FileCorrupt("primary key is not a blob".into()))?;
        match row.get_ref(1)?.as_i64_or_null().map_err(|_| Error::FileCorrupt("object hash is not an integer".into()))? {
            Some(h) => ix.push_hash(key, h as u64),
            None => ix.push(key, row.get_ref(2)?.as_blob().map_err(|_| Error::FileCorrupt("object data is not a blob".into()))?),
        }
    }
    Ok(ix)
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

/// The records of `keys` (missing ones left out).
pub fn read_keys(conn: &Connection, class_idx: usize, keys: &[&[u8]]) -> Result<Vec<RawRecord>> {
    let mut stmt = conn.prepare_cached("SELECT data FROM ds_objects WHERE class = ?1 AND pk = ?2")?;
    let mut records = Vec::new();
    for key in keys {
        let data: Option<Vec<u8>> = stmt.query_row(params![class_idx as i64, key], |r| r.get(0)).optional()?;
        if let Some(data) = data {
            records.push(RawRecord { key: key.to_vec().into(), data: data.into() });
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
