//! How a reset report is kept in the realm (`ds_meta`, key `reset.last_report`).
//!
//! A discard lists every unsynced instruction it threw away, and a recovery every one it
//! dropped: thousands of entries that mostly share a handful of reasons. As JSON, 2,500 discarded
//! erases were 334 KB (82 pages written in the reset's commit, about 1 ms of a 30 ms reset).
//! So the report is stored as MessagePack with its structs as arrays, and each change names its
//! reason by an index into one list of distinct reasons: the same 2,500 erases take 46 KB (13
//! pages). Reports stored as JSON text by earlier versions are still read.

use super::{DroppedChange, ResetReport};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The stored form. `R`: the report with its two lists left empty; `S`: a string.
#[derive(Serialize, Deserialize)]
struct Stored<R, S> {
    report: R,
    reasons: Vec<S>,
    /// (local version, instruction, index of its reason, partially).
    dropped: Vec<(u64, S, u32, bool)>,
    discarded: Vec<(u64, S, u32, bool)>,
}

/// The bytes to store for `report`. Its lists are taken out while the rest is encoded, and put
/// back: the report is not copied.
pub fn encode(report: &mut ResetReport) -> Result<Vec<u8>> {
    let dropped = std::mem::take(&mut report.dropped);
    let discarded = std::mem::take(&mut report.discarded);
    let bytes = {
        let (mut reasons, mut index) = (Vec::new(), HashMap::new());
        let d = compact(&dropped, &mut reasons, &mut index);
        let x = compact(&discarded, &mut reasons, &mut index);
        rmp_serde::to_vec(&Stored { report: &*report, reasons, dropped: d, discarded: x })
    };
    report.dropped = dropped;
    report.discarded = discarded;
    bytes.map_err(|e| Error::Internal(format!("reset report: {e}")))
}

/// `changes` as (local version, instruction, index of the reason in `reasons`, partially).
fn compact<'a>(
    changes: &'a [DroppedChange],
    reasons: &mut Vec<&'a str>,
    index: &mut HashMap<&'a str, u32>,
) -> Vec<(u64, &'a str, u32, bool)> {
    changes
        .iter()
        .map(|c| {
            let at = *index.entry(c.reason.as_str()).or_insert_with(|| {
                reasons.push(c.reason.as_str());
                reasons.len() as u32 - 1
            });
            (c.local_version, c.instruction.as_str(), at, c.partially)
        })
        .collect()
}

/// The report stored as `value` (MessagePack bytes, or JSON text from an earlier version);
/// None if it cannot be read.
pub fn decode(value: rusqlite::types::Value) -> Option<ResetReport> {
    let bytes = match value {
        rusqlite::types::Value::Text(json) => return serde_json::from_str(&json).ok(),
        rusqlite::types::Value::Blob(bytes) => bytes,
        _ => return None,
    };
    let stored: Stored<ResetReport, String> = rmp_serde::from_slice(&bytes).ok()?;
    let expand = |changes: Vec<(u64, String, u32, bool)>| -> Option<Vec<DroppedChange>> {
        changes
            .into_iter()
            .map(|(local_version, instruction, at, partially)| {
                let reason = stored.reasons.get(at as usize)?.clone();
                Some(DroppedChange { local_version, instruction, reason, partially })
            })
            .collect()
    };
    let dropped = expand(stored.dropped)?;
    let discarded = expand(stored.discarded)?;
    Some(ResetReport { dropped, discarded, ..stored.report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorAction, ResetCause};
    use crate::reset::{ClientResetMode, PhaseTimings, ResetDecision};

    fn report(discarded: usize) -> ResetReport {
        let change = |v: u64, i: usize, reason: &str, partially: bool| DroppedChange {
            local_version: v,
            instruction: format!("erase Item {i}"),
            reason: reason.to_string(),
            partially,
        };
        ResetReport {
            cause: Some(ResetCause::RoleChanged),
            action: ErrorAction::ClientReset,
            server_message: "role changed".into(),
            mode: ClientResetMode::RecoverOrDiscardUnsyncedChanges,
            decision: ResetDecision::Discard,
            objects_inserted: 1,
            objects_erased: 2,
            objects_modified: 3,
            recovered_changesets: 4,
            recovered_instructions: 5,
            dropped: (0..40).map(|i| change(i / 4, i as usize, &format!("reason {}", i % 3), i % 2 == 0)).collect(),
            discarded: (0..discarded).map(|i| change(7 + i as u64 / 100, i, "discarded: not recovered", false)).collect(),
            before_hook_error: Some("before".into()),
            after_hook_error: None,
            backup_path: Some("/tmp/backup.realm".into()),
            download_ms: 6,
            diff_ms: 7,
            replay_ms: 8,
            commit_ms: 9,
            summary_ms: 10,
            transferred_bytes: 11,
            ranges_differed: 12,
            timings: PhaseTimings { download_us: 1, diff_us: 2, replay_us: 3, summary_us: 4, commit_us: 5 },
            completed_at_ms: 13,
        }
    }

    #[test]
    fn a_stored_report_reads_back_equal_and_keeps_its_lists() {
        let mut r = report(300);
        let expected = r.clone();
        let bytes = encode(&mut r).unwrap();
        assert_eq!(r, expected, "encoding puts the lists back");
        assert_eq!(decode(rusqlite::types::Value::Blob(bytes)), Some(expected));
    }

    #[test]
    fn a_report_stored_as_json_by_an_earlier_version_still_reads() {
        let r = report(20);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(decode(rusqlite::types::Value::Text(json)), Some(r));
        assert_eq!(decode(rusqlite::types::Value::Blob(vec![0xc1, 0x00])), None, "undecodable bytes read as no report");
    }

    /// What the stored form is for: a discard's thousands of entries that share one reason.
    #[test]
    fn a_stored_report_of_2500_discarded_changes_is_a_fifth_of_its_json() {
        let mut r = report(2_500);
        let json = serde_json::to_string(&r).unwrap().len();
        let stored = encode(&mut r).unwrap().len();
        assert!(stored * 5 <= json, "stored {stored} bytes, JSON {json} bytes");
    }
}
