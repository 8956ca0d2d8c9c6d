//! Step 4: transform the local realm in place, inside the caller's one write transaction.
//! (a) Diff: walk local objects and the fresh copy together in (class, primary key) order and
//!     write only what differs (`state::write_state`), so observers see exact changes.
//! (b) Replay: when recovering, apply the unsynced changesets with the rulebook (`Mode::Merge`),
//!     keeping what applied as the new history and reporting every instruction a rule dropped.

use super::DroppedChange;
use super::fresh::{self, FreshCopy};
use crate::changeset::{Changeset, Instruction};
use crate::error::Error;
use crate::error::Result;
use crate::rules::{self, Mode, Outcome, Tx};
use crate::state;
use crate::value::PrimaryKey;

const PAGE: usize = 1_000;

/// What the replay kept and dropped.
#[derive(Default)]
pub struct Replayed {
    /// Per replayed changeset (in order), the instructions that applied: the new history.
    pub kept: Vec<Vec<Instruction>>,
    pub dropped: Vec<DroppedChange>,
}

/// Makes the local objects equal to the fresh copy. With `erase_local_only` false (bootstrap of a
/// new client file), local objects the server lacks are kept. Both sides are walked in pages in
/// primary-key order; records that are byte-for-byte equal are not even decoded.
pub fn apply_diff(tx: &mut Tx, fresh: &FreshCopy, erase_local_only: bool) -> Result<()> {
    let schema = tx.schema.clone();
    for (ci, class) in schema.classes.iter().enumerate() {
        let server_class = fresh::server_class(&fresh.conn, class)?;
        let same = server_class.as_ref().is_some_and(|s| state::same_layout(class, s));
        let mut local = Pager::new(|after| local_page(tx.conn, ci, after));
        let mut remote = Pager::new(|after| match &server_class {
            Some(_) => fresh::page(&fresh.conn, &class.name, after, PAGE),
            None => Ok(Vec::new()),
        });
        loop {
            let order = match (local.peek()?, remote.peek()?) {
                (None, None) => break,
                (Some((lk, _)), Some((fk, _))) => lk.cmp(fk),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    let (key, _) = local.take();
                    if erase_local_only {
                        let pk = decode_key(&key)?;
                        state::write_state(tx, ci, &pk, None)?;
                    }
                }
                std::cmp::Ordering::Equal => {
                    let (key, local_data) = local.take();
                    let (_, server_data) = remote.take();
                    if !(same && local_data == server_data) {
                        let sc = server_class.as_ref().ok_or_else(|| Error::Internal("fresh class without layout".into()))?;
                        let data = state::remap(class, sc, &server_data)?;
                        state::write_state(tx, ci, &decode_key(&key)?, Some(data))?;
                    }
                }
                std::cmp::Ordering::Greater => {
                    let (key, server_data) = remote.take();
                    let sc = server_class.as_ref().ok_or_else(|| Error::Internal("fresh class without layout".into()))?;
                    let data = state::remap(class, sc, &server_data)?;
                    state::write_state(tx, ci, &decode_key(&key)?, Some(data))?;
                }
            }
        }
    }
    Ok(())
}

fn decode_key(key: &[u8]) -> Result<PrimaryKey> {
    PrimaryKey::from_key_bytes(key).ok_or_else(|| Error::FileCorrupt("undecodable primary key".into()))
}

type Record = (Vec<u8>, Vec<u8>);

/// Walks (key, record) pages in key order, fetching the next page after the last key taken.
struct Pager<F: FnMut(&[u8]) -> Result<Vec<Record>>> {
    fetch: F,
    page: std::collections::VecDeque<Record>,
    last_key: Vec<u8>,
    exhausted: bool,
}

impl<F: FnMut(&[u8]) -> Result<Vec<Record>>> Pager<F> {
    fn new(fetch: F) -> Self {
        Pager { fetch, page: Default::default(), last_key: Vec::new(), exhausted: false }
    }

    fn peek(&mut self) -> Result<Option<&Record>> {
        if self.page.is_empty() && !self.exhausted {
            let next = (self.fetch)(&self.last_key)?;
            self.exhausted = next.len() < PAGE;
            self.page.extend(next);
        }
        Ok(self.page.front())
    }

    /// Takes the record `peek` returned.
    fn take(&mut self) -> Record {
        let r = self.page.pop_front().unwrap_or_default();
        self.last_key.clone_from(&r.0);
        r
    }
}

fn local_page(conn: &rusqlite::Connection, ci: usize, after: &[u8]) -> Result<Vec<Record>> {
    let mut out = Vec::with_capacity(PAGE);
    crate::store::scan_raw(conn, ci, after, |k, d| {
        out.push((k.to_vec(), d.to_vec()));
        Ok(out.len() < PAGE)
    })?;
    Ok(out)
}

/// Replays changesets with the rulebook. Nothing is lost silently: an instruction is either kept
/// (and will be uploaded) or reported as dropped with the reason.
pub fn replay(tx: &mut Tx, changesets: &[Changeset]) -> Result<Replayed> {
    let mut out = Replayed::default();
    for cs in changesets {
        let mut kept = Vec::new();
        for ins in &cs.instructions {
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
