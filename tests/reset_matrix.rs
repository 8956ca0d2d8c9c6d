//! Client reset end to end: every cause of the DESIGN table, triggered through the reference
//! server's admin commands, in every mode — 7 causes × 4 modes, each a named test that checks the
//! decision the table prescribes and what happened to the data.

mod common;
use common::*;
use driftsync::protocol::{AdminCommand, ResetCause};
use driftsync::reset::{ManualReset, ResetDecision, ResetReport};
use driftsync::*;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cause {
    ServerRestored,
    SyncReenabled,
    ClientSchemaAhead,
    ClientTooOld,
    BreakingSchemaChange,
    RoleChanged,
    RecoveryDisabled,
}

struct Outcome {
    report: ResetReport,
    realm: Realm,
    manual: Option<(Option<ResetCause>, std::path::PathBuf, std::path::PathBuf)>,
    ts: TestServer,
}

/// Syncs item 1, then (offline) changes it and creates item 2, causes the reset, reconnects and
/// waits for the reset's report.
fn run(cause: Cause, mode: ClientResetMode) -> Outcome {
    let ts = TestServer::start();
    ts.admin(AdminCommand::Backup { name: "early".into() });
    let manual_seen = Arc::new(Mutex::new(None));
    let m2 = manual_seen.clone();
    let mut reset = ClientResetConfig::new(mode);
    reset.manual = Some(Arc::new(move |m: &ManualReset| {
        *m2.lock().unwrap() = Some((m.cause, m.original_path.clone(), m.backup_path.clone()));
    }));
    reset.backup_dir = Some(ts.path("backups"));
    let path = ts.path("client.realm");
    let realm = open_client(&path, &ts.url(), "alice", reset.clone());
    item(&realm, 1, "synced");
    sync_all(&realm);
    let s = session(&realm);
    s.pause();
    eventually("paused", || s.state() == sync::ConnectionState::Disconnected);
    realm
        .write(|r| {
            r.set("Item", &1.into(), "name", "local edit".into())?;
            r.create("Item", 2, &[("name", "offline".into())])
        })
        .unwrap();
    let mut realm = realm;
    match cause {
        Cause::ServerRestored => {
            ts.admin(AdminCommand::Restore { name: "early".into() });
        }
        Cause::SyncReenabled => {
            ts.admin(AdminCommand::Terminate);
            ts.admin(AdminCommand::Enable);
        }
        Cause::ClientSchemaAhead => {
            // The app ships a new class the server does not have yet.
            drop(s);
            realm.close();
            drop(realm);
            let mut cfg = sync_config(&ts.url(), "alice", reset);
            cfg.start_paused = true;
            realm = Realm::open(RealmConfig::new(&path, schema_with_extra_class()).with_sync(cfg)).unwrap();
        }
        Cause::ClientTooOld => {
            ts.admin(AdminCommand::AdvanceClock { seconds: 31 * 86_400 });
        }
        Cause::BreakingSchemaChange => {
            ts.admin(AdminCommand::ApplySchema { schema_json: breaking_schema().to_json() });
        }
        Cause::RoleChanged => {
            ts.admin(AdminCommand::AssignRole { user: "alice".into(), role: "editor2".into() });
        }
        Cause::RecoveryDisabled => {
            // The flag is part of the server database, so a restore would bring back the old
            // value: restore first, then switch recovery off.
            ts.admin(AdminCommand::Restore { name: "early".into() });
            ts.admin(AdminCommand::SetRecoveryDisabled { disabled: true });
        }
    }
    session(&realm).resume();
    eventually("the reset report", || realm.last_reset_report().unwrap().is_some());
    let report = realm.last_reset_report().unwrap().unwrap();
    if report.decision != ResetDecision::Manual {
        eventually("reconnected after the reset", || session(&realm).state() == sync::ConnectionState::Connected);
        sync_all(&realm);
    } else {
        eventually("manual handler called", || manual_seen.lock().unwrap().is_some());
    }
    let manual = manual_seen.lock().unwrap().clone();
    Outcome { report, realm, manual, ts }
}

fn expected_cause(c: Cause) -> ResetCause {
    match c {
        Cause::ServerRestored | Cause::RecoveryDisabled => ResetCause::ServerRestored,
        Cause::SyncReenabled => ResetCause::SyncReenabled,
        Cause::ClientSchemaAhead => ResetCause::ClientSchemaAhead,
        Cause::ClientTooOld => ResetCause::ClientTooOld,
        Cause::BreakingSchemaChange => ResetCause::BreakingSchemaChange,
        Cause::RoleChanged => ResetCause::RoleChanged,
    }
}

fn check(cause: Cause, mode: ClientResetMode, expected: ResetDecision) {
    let o = run(cause, mode);
    assert_eq!(o.report.cause, Some(expected_cause(cause)), "cause");
    assert_eq!(o.report.decision, expected, "decision for {cause:?} in {mode:?}: {:?}", o.report);
    assert_eq!(o.report.mode, mode);
    match expected {
        ResetDecision::Recover => {
            assert_eq!(name_of(&o.realm, 1).as_deref(), Some("local edit"), "recovered edit");
            assert_eq!(name_of(&o.realm, 2).as_deref(), Some("offline"), "recovered create");
            assert!(o.report.recovered_changesets >= 1);
            // The recovered changes reach another client through the server.
            let other = open_client(&o.ts.path("other.realm"), &o.ts.url(), "bob", ClientResetConfig::default());
            sync_all(&other);
            assert_eq!(name_of(&other, 2).as_deref(), Some("offline"));
            assert_eq!(name_of(&other, 1).as_deref(), Some("local edit"));
        }
        ResetDecision::Discard => {
            assert_eq!(name_of(&o.realm, 2), None, "discarded create is gone");
            assert!(
                o.report.discarded.iter().any(|d| d.instruction.contains("Item[2]")),
                "the discarded create is in the report: {:?}",
                o.report.discarded
            );
            assert!(o.report.discarded.iter().any(|d| d.instruction.contains("local edit")));
        }
        ResetDecision::Manual => {
            let (mcause, original, backup) = o.manual.expect("manual handler called");
            assert_eq!(mcause, Some(expected_cause(cause)));
            assert_eq!(original, o.realm.path());
            // The backup is a complete realm with the unsynced changes in it.
            let b = Realm::open(RealmConfig::new(&backup, o.realm.schema().as_ref().clone())).expect("backup opens");
            assert_eq!(b.get_value("Item", &2.into(), "name").unwrap(), Value::from("offline"));
            assert_eq!(b.get_value("Item", &1.into(), "name").unwrap(), Value::from("local edit"));
        }
    }
}

macro_rules! matrix {
    ($($name:ident: $cause:ident, $mode:ident => $decision:ident;)*) => {$(
        #[test]
        fn $name() {
            check(Cause::$cause, ClientResetMode::$mode, ResetDecision::$decision);
        }
    )*};
}

matrix! {
    restored_manual: ServerRestored, Manual => Manual;
    restored_discard: ServerRestored, DiscardUnsyncedChanges => Discard;
    restored_recover: ServerRestored, RecoverUnsyncedChanges => Recover;
    restored_recover_or_discard: ServerRestored, RecoverOrDiscardUnsyncedChanges => Recover;
    reenabled_manual: SyncReenabled, Manual => Manual;
    reenabled_discard: SyncReenabled, DiscardUnsyncedChanges => Discard;
    reenabled_recover: SyncReenabled, RecoverUnsyncedChanges => Recover;
    reenabled_recover_or_discard: SyncReenabled, RecoverOrDiscardUnsyncedChanges => Recover;
    schema_ahead_manual: ClientSchemaAhead, Manual => Manual;
    schema_ahead_discard: ClientSchemaAhead, DiscardUnsyncedChanges => Discard;
    schema_ahead_recover: ClientSchemaAhead, RecoverUnsyncedChanges => Recover;
    schema_ahead_recover_or_discard: ClientSchemaAhead, RecoverOrDiscardUnsyncedChanges => Recover;
    too_old_manual: ClientTooOld, Manual => Manual;
    too_old_discard: ClientTooOld, DiscardUnsyncedChanges => Discard;
    too_old_recover: ClientTooOld, RecoverUnsyncedChanges => Manual;
    too_old_recover_or_discard: ClientTooOld, RecoverOrDiscardUnsyncedChanges => Discard;
    breaking_schema_manual: BreakingSchemaChange, Manual => Manual;
    breaking_schema_discard: BreakingSchemaChange, DiscardUnsyncedChanges => Manual;
    breaking_schema_recover: BreakingSchemaChange, RecoverUnsyncedChanges => Manual;
    breaking_schema_recover_or_discard: BreakingSchemaChange, RecoverOrDiscardUnsyncedChanges => Manual;
    role_changed_manual: RoleChanged, Manual => Manual;
    role_changed_discard: RoleChanged, DiscardUnsyncedChanges => Discard;
    role_changed_recover: RoleChanged, RecoverUnsyncedChanges => Recover;
    role_changed_recover_or_discard: RoleChanged, RecoverOrDiscardUnsyncedChanges => Recover;
    recovery_disabled_manual: RecoveryDisabled, Manual => Manual;
    recovery_disabled_discard: RecoveryDisabled, DiscardUnsyncedChanges => Discard;
    recovery_disabled_recover: RecoveryDisabled, RecoverUnsyncedChanges => Manual;
    recovery_disabled_recover_or_discard: RecoveryDisabled, RecoverOrDiscardUnsyncedChanges => Discard;
}
