//! Step 1 of the pipeline: mode × cause × schema × the pending-reset record → a decision
//! (DESIGN "The reset pipeline", step 1).

use super::{ClientResetMode, PendingReset, ResetDecision};
use crate::protocol::{ErrorAction, ResetCause};

/// Decides what an automatic reset does. `previous` is the record of an earlier automatic reset
/// of this file that has not completed (upload and download after it): the cycle guard.
pub fn decide(mode: ClientResetMode, action: ErrorAction, cause: Option<ResetCause>, previous: Option<&PendingReset>) -> ResetDecision {
    explain(mode, action, cause, previous).0
}

/// `decide`, with the reason in words (for the log). The cycle guard follows realm-core's
/// `reset_precheck_guard`: a previous record whose server action differs from this demand's is
/// ignored (the guard starts over); after an incomplete Recover, Discard is allowed (discarding
/// is what breaks a cycle) and RecoverOrDiscard becomes Discard; after an incomplete Discard,
/// only the manual path is left.
pub fn explain(
    mode: ClientResetMode,
    action: ErrorAction,
    cause: Option<ResetCause>,
    previous: Option<&PendingReset>,
) -> (ResetDecision, &'static str) {
    use ClientResetMode::*;
    use ResetDecision as D;
    if cause == Some(ResetCause::BreakingSchemaChange) {
        return (D::Manual, "a breaking schema change is always manual");
    }
    let recovery_allowed = action == ErrorAction::ClientReset;
    let (decision, why) = match mode {
        Manual => (D::Manual, "the mode is Manual"),
        DiscardUnsyncedChanges => (D::Discard, "the mode is DiscardUnsyncedChanges"),
        RecoverUnsyncedChanges if recovery_allowed => (D::Recover, "the mode is RecoverUnsyncedChanges and recovery is allowed"),
        RecoverUnsyncedChanges => (D::Manual, "recovery is not allowed and the mode is RecoverUnsyncedChanges"),
        RecoverOrDiscardUnsyncedChanges if recovery_allowed => (D::Recover, "recovery is allowed (mode RecoverOrDiscard)"),
        RecoverOrDiscardUnsyncedChanges => (D::Discard, "recovery is not allowed (mode RecoverOrDiscard)"),
    };
    let previous = match previous {
        // A record without an action predates the field: treated as the same action.
        Some(p) if p.action.is_none_or(|a| a == action) => p.decision,
        Some(_) => return (decision, "the previous incomplete reset had another server action: the cycle guard starts over"),
        None => return (decision, why),
    };
    match (previous, decision) {
        (_, D::Manual) => (D::Manual, why),
        (D::Recover, D::Discard) => (D::Discard, "a previous Recover did not complete; discarding is allowed and breaks the cycle"),
        (D::Recover, _) if mode == RecoverOrDiscardUnsyncedChanges => {
            (D::Discard, "a previous Recover did not complete: RecoverOrDiscard falls back to Discard")
        }
        (D::Recover, _) => (D::Manual, "a previous Recover did not complete: recovering again could cycle"),
        (D::Discard, _) => (D::Manual, "a previous Discard did not complete: only the manual path is left"),
        (D::Manual, _) => (decision, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientResetMode::*;
    use ResetDecision as D;

    const ALLOWED: ErrorAction = ErrorAction::ClientReset;
    const NOT_ALLOWED: ErrorAction = ErrorAction::ClientResetNoRecovery;

    fn prev(d: D, action: Option<ErrorAction>) -> PendingReset {
        PendingReset {
            decision: d,
            mode: RecoverUnsyncedChanges,
            cause: None,
            action,
            at_ms: 0,
            local_version_at_reset: 0,
            downloaded: false,
        }
    }

    fn after(d: D, mode: ClientResetMode) -> D {
        decide(mode, ALLOWED, None, Some(&prev(d, Some(ALLOWED))))
    }

    #[test]
    fn visible_guard_breaking_schema_change_is_manual_in_every_mode() {
        for m in [Manual, DiscardUnsyncedChanges, RecoverUnsyncedChanges, RecoverOrDiscardUnsyncedChanges] {
            assert_eq!(decide(m, ALLOWED, Some(ResetCause::BreakingSchemaChange), None), D::Manual);
            assert_eq!(decide(m, ALLOWED, Some(ResetCause::BreakingSchemaChange), Some(&prev(D::Recover, Some(ALLOWED)))), D::Manual);
        }
    }

    #[test]
    fn visible_guard_without_a_pending_record_the_mode_decides() {
        assert_eq!(decide(Manual, ALLOWED, None, None), D::Manual);
        assert_eq!(decide(DiscardUnsyncedChanges, ALLOWED, None, None), D::Discard);
        assert_eq!(decide(RecoverUnsyncedChanges, ALLOWED, None, None), D::Recover);
        assert_eq!(decide(RecoverOrDiscardUnsyncedChanges, ALLOWED, None, None), D::Recover);
    }

    #[test]
    fn visible_guard_recovery_not_allowed_downgrades_recover_to_manual_and_recover_or_discard_to_discard() {
        assert_eq!(decide(RecoverUnsyncedChanges, NOT_ALLOWED, None, None), D::Manual);
        assert_eq!(decide(RecoverOrDiscardUnsyncedChanges, NOT_ALLOWED, None, None), D::Discard);
        assert_eq!(decide(DiscardUnsyncedChanges, NOT_ALLOWED, None, None), D::Discard);
        assert_eq!(decide(Manual, NOT_ALLOWED, None, None), D::Manual);
    }

    #[test]
    fn visible_guard_manual_mode_stays_manual_after_any_incomplete_reset() {
        assert_eq!(after(D::Recover, Manual), D::Manual);
        assert_eq!(after(D::Discard, Manual), D::Manual);
    }

    #[test]
    fn visible_guard_row_a_discard_is_allowed_after_an_incomplete_recover() {
        assert_eq!(after(D::Recover, DiscardUnsyncedChanges), D::Discard);
    }

    #[test]
    fn visible_guard_recover_after_an_incomplete_recover_is_manual() {
        assert_eq!(after(D::Recover, RecoverUnsyncedChanges), D::Manual);
    }

    #[test]
    fn visible_guard_recover_or_discard_after_an_incomplete_recover_discards() {
        assert_eq!(after(D::Recover, RecoverOrDiscardUnsyncedChanges), D::Discard);
    }

    #[test]
    fn visible_guard_anything_after_an_incomplete_discard_is_manual() {
        for m in [DiscardUnsyncedChanges, RecoverUnsyncedChanges, RecoverOrDiscardUnsyncedChanges] {
            assert_eq!(after(D::Discard, m), D::Manual, "mode {m:?}");
        }
    }

    #[test]
    fn visible_guard_row_b_a_different_server_action_starts_the_guard_over() {
        // The previous reset was demanded without recovery; this demand allows it.
        let other = prev(D::Discard, Some(NOT_ALLOWED));
        assert_eq!(decide(RecoverUnsyncedChanges, ALLOWED, None, Some(&other)), D::Recover);
        assert_eq!(decide(DiscardUnsyncedChanges, ALLOWED, None, Some(&other)), D::Discard);
        let other = prev(D::Recover, Some(ALLOWED));
        assert_eq!(decide(RecoverOrDiscardUnsyncedChanges, NOT_ALLOWED, None, Some(&other)), D::Discard);
        assert_eq!(decide(DiscardUnsyncedChanges, NOT_ALLOWED, None, Some(&other)), D::Discard);
        // The same action keeps the guard.
        assert_eq!(decide(RecoverUnsyncedChanges, ALLOWED, None, Some(&prev(D::Recover, Some(ALLOWED)))), D::Manual);
    }

    #[test]
    fn visible_guard_a_record_without_an_action_counts_as_the_same_action() {
        assert_eq!(decide(RecoverUnsyncedChanges, ALLOWED, None, Some(&prev(D::Recover, None))), D::Manual);
        assert_eq!(decide(DiscardUnsyncedChanges, NOT_ALLOWED, None, Some(&prev(D::Discard, None))), D::Manual);
    }
}
