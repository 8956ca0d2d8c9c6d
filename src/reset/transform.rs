//! Step 4: transform the local realm in place, inside the caller's one write transaction.
//! (a) Diff: walk local objects and the fresh copy together in (class, primary key) order and
//!     write only what differs (`state::write_state`), so observers see exact changes.
//! (b) Replay: when recovering, apply the unsynced changesets with the rulebook (`Mode::Merge`),
//!     keeping what applied as the new history and reporting every instruction a rule dropped.

use super::DroppedChange;
use super::fresh::{self, FreshCopy};
use crate::changeset::{Changeset, Instruction};
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
/// new client file), local objects the server lacks are kept.
pub fn apply_diff(tx: &mut Tx, fresh: &FreshCopy, erase_local_only: bool) -> Result<()> {
    let schema = tx.schema.clone();
    for (ci, class) in schema.classes.iter().enumerate() {
        let props = fresh::properties(&fresh.conn, &class.name)?;
        let mut local_after: Vec<u8> = Vec::new();
        let mut fresh_after: Vec<u8> = Vec::new();
        let mut local_page = local_keys(tx, ci, &local_after)?;
        let mut fresh_page = match &props {
            Some(_) => fresh::page(&fresh.conn, &class.name, &fresh_after, PAGE)?,
            None => Vec::new(),
        };
        let (mut li, mut fi) = (0, 0);
        loop {
            if li == local_page.len() && local_page.len() == PAGE {
                local_after = local_page[li - 1].clone();
                local_page = local_keys(tx, ci, &local_after)?;
                li = 0;
            }
            if fi == fresh_page.len() && fresh_page.len() == PAGE {
                fresh_after = fresh_page[fi - 1].0.clone();
                fresh_page = fresh::page(&fresh.conn, &class.name, &fresh_after, PAGE)?;
                fi = 0;
            }
            let l = local_page.get(li);
            let f = fresh_page.get(fi);
            match (l, f) {
                (None, None) => break,
                (Some(lk), Some((fk, _))) if lk == fk => {
                    let (_, st) = &fresh_page[fi];
                    let data = state::state_to_object(class, props.as_deref().unwrap_or(&[]), st)?;
                    state::write_state(tx, ci, &st.pk, Some(data))?;
                    li += 1;
                    fi += 1;
                }
                (Some(lk), Some((fk, _))) if lk < fk => {
                    erase_local(tx, ci, lk, erase_local_only)?;
                    li += 1;
                }
                (Some(lk), None) => {
                    erase_local(tx, ci, lk, erase_local_only)?;
                    li += 1;
                }
                (_, Some((_, st))) => {
                    let data = state::state_to_object(class, props.as_deref().unwrap_or(&[]), st)?;
                    state::write_state(tx, ci, &st.pk, Some(data))?;
                    fi += 1;
                }
            }
        }
    }
    Ok(())
}

fn erase_local(tx: &mut Tx, ci: usize, key: &[u8], erase: bool) -> Result<()> {
    if !erase {
        return Ok(());
    }
    let Some(pk) = PrimaryKey::from_key_bytes(key) else {
        return Err(crate::error::Error::FileCorrupt("undecodable primary key".into()));
    };
    state::write_state(tx, ci, &pk, None)
}

fn local_keys(tx: &Tx, ci: usize, after: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut stmt = tx.conn.prepare_cached("SELECT pk FROM ds_objects WHERE class = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3")?;
    let rows = stmt.query_map(rusqlite::params![ci as i64, after, PAGE as i64], |r| r.get::<_, Vec<u8>>(0))?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
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
