//! Step 1 of the pipeline: mode × cause × schema × the pending-reset record → a decision
//! (DESIGN "The reset pipeline", step 1).

use super::{ClientResetMode, PendingReset, ResetDecision};
use crate::protocol::{ErrorAction, ResetCause};

/// Decides what an automatic reset does. `previous` is the record of an earlier automatic reset
/// of this file that has not completed (upload and download after it): the cycle guard.
pub fn decide(mode: ClientResetMode, action: ErrorAction, cause: Option<ResetCause>, previous: Option<&PendingReset>) -> ResetDecision {
    use ClientResetMode::*;
    if cause == Some(ResetCause::BreakingSchemaChange) {
        return ResetDecision::Manual;
    }
    let recovery_allowed = action == ErrorAction::ClientReset;
    let decision = match mode {
        Manual => ResetDecision::Manual,
        DiscardUnsyncedChanges => ResetDecision::Discard,
        RecoverUnsyncedChanges if recovery_allowed => ResetDecision::Recover,
        RecoverUnsyncedChanges => ResetDecision::Manual,
        RecoverOrDiscardUnsyncedChanges if recovery_allowed => ResetDecision::Recover,
        RecoverOrDiscardUnsyncedChanges => ResetDecision::Discard,
    };
    match (previous.map(|p| p.decision), decision) {
        (_, ResetDecision::Manual) | (None, _) => decision,
        (Some(ResetDecision::Recover), _) if mode == RecoverOrDiscardUnsyncedChanges => ResetDecision::Discard,
        (Some(ResetDecision::Recover), _) => ResetDecision::Manual,
        (Some(ResetDecision::Discard), _) => ResetDecision::Manual,
        (Some(ResetDecision::Manual), _) => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientResetMode::*;
    use ResetDecision as D;

    fn prev(d: D) -> PendingReset {
        PendingReset { decision: d, mode: RecoverUnsyncedChanges, cause: None, at_ms: 0, local_version_at_reset: 0, downloaded: false }
    }

    #[test]
    fn breaking_schema_change_is_manual_in_every_mode() {
        for m in [Manual, DiscardUnsyncedChanges, RecoverUnsyncedChanges, RecoverOrDiscardUnsyncedChanges] {
            assert_eq!(decide(m, ErrorAction::ClientReset, Some(ResetCause::BreakingSchemaChange), None), D::Manual);
        }
    }

    #[test]
    fn recovery_not_allowed_downgrades_recover_to_manual_and_recover_or_discard_to_discard() {
        let no = ErrorAction::ClientResetNoRecovery;
        assert_eq!(decide(RecoverUnsyncedChanges, no, None, None), D::Manual);
        assert_eq!(decide(RecoverOrDiscardUnsyncedChanges, no, None, None), D::Discard);
        assert_eq!(decide(DiscardUnsyncedChanges, no, None, None), D::Discard);
        assert_eq!(decide(Manual, no, None, None), D::Manual);
    }

    #[test]
    fn cycle_guard_matrix() {
        // Every previous automatic decision × every mode, with recovery allowed.
        let a = ErrorAction::ClientReset;
        let table = [
            (D::Recover, Manual, D::Manual),
            (D::Recover, DiscardUnsyncedChanges, D::Manual),
            (D::Recover, RecoverUnsyncedChanges, D::Manual),
            (D::Recover, RecoverOrDiscardUnsyncedChanges, D::Discard),
            (D::Discard, Manual, D::Manual),
            (D::Discard, DiscardUnsyncedChanges, D::Manual),
            (D::Discard, RecoverUnsyncedChanges, D::Manual),
            (D::Discard, RecoverOrDiscardUnsyncedChanges, D::Manual),
        ];
        for (previous, mode, want) in table {
            assert_eq!(decide(mode, a, None, Some(&prev(previous))), want, "previous {previous:?}, mode {mode:?}");
        }
        // Without a pending record nothing is downgraded.
        assert_eq!(decide(RecoverUnsyncedChanges, a, None, None), D::Recover);
        assert_eq!(decide(RecoverOrDiscardUnsyncedChanges, a, None, None), D::Recover);
        assert_eq!(decide(DiscardUnsyncedChanges, a, None, None), D::Discard);
    }
}
