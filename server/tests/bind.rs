//! Every bind check of the reference server: the admin API puts the server in a state, a raw
//! client binds over a real WebSocket, and the exact error code, cause and action are checked.

mod common;

use common::*;
use driftsync::protocol::{ErrorAction, ResetCause, ServerErrorCode, ServerMessage};
use driftsync::{ClassSchema, Property, ScalarType, Schema};
use std::time::Duration;

/// A client file that uploaded one changeset: (ident, server version, salt).
fn synced_file(s: &TestServer, token: &str, realm: &str) -> (u64, u64, u64) {
    let mut c = new_client(&s.url(), token, realm);
    let acks = upload(&mut c, vec![changeset(1, vec![create_task(1, "a")])]);
    let v = acks[0].1;
    let salt = salt_of(s, realm, v);
    let ident = c.ident;
    drop(c);
    wait_no_connections(s);
    (ident, v, salt)
}

/// The salt of the latest version of a realm, from the status command.
fn salt_of(s: &TestServer, realm: &str, version: u64) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&s.server.status().unwrap()).unwrap();
    assert_eq!(status["realms"][realm]["latest_version"].as_u64().unwrap(), version);
    status["realms"][realm]["latest_salt"].as_u64().unwrap()
}

#[test]
fn new_client_file_gets_an_ident_and_the_server_schema() {
    let s = start();
    let mut raw = Raw::connect(&s.url());
    let ident = match raw.bind(bind_msg(ALICE, "main", None, 0, 0)) {
        ServerMessage::BindOk { client_file_ident, server_version, salt, epoch, schema_json, new_file, .. } => {
            assert!(client_file_ident > 0);
            assert_eq!((server_version, salt, epoch), (0, 0, 1));
            assert!(new_file);
            assert_eq!(Schema::from_json(&schema_json).unwrap(), schema());
            client_file_ident
        }
        other => panic!("{other:?}"),
    };
    drop(raw);
    let again = Raw::connect(&s.url()).bind(bind_msg(ALICE, "main", Some(ident), 0, 0));
    assert!(matches!(again, ServerMessage::BindOk { new_file: false, client_file_ident, .. } if client_file_ident == ident), "{again:?}");
}

#[test]
fn bind_with_a_known_version_and_salt_succeeds() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    let c = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_eq!((c.server_version, c.salt), (v, salt));
}

#[test]
fn unsupported_protocol_version_is_fatal_not_a_hang() {
    let s = start();
    let mut b = bind_msg(ALICE, "main", None, 0, 0);
    b.protocol_version = 999;
    let e = bind_err(&s.url(), b);
    assert_eq!(e.code, ServerErrorCode::UnsupportedProtocolVersion);
    assert_eq!(e.action, ErrorAction::Fatal);
    assert_eq!(e.cause, None);
}

#[test]
fn unknown_token_is_refused() {
    let s = start();
    let e = bind_err(&s.url(), bind_msg("nobody", "main", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::BadToken);
    assert_eq!(e.action, ErrorAction::Fatal);
}

#[test]
fn realm_not_permitted_for_the_role_is_refused() {
    let s = start();
    let e = bind_err(&s.url(), bind_msg(ERIN, "main", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::PermissionDenied);
    assert_eq!(e.action, ErrorAction::Fatal);
    new_client(&s.url(), ERIN, "team");
}

#[test]
fn invalid_realm_name_is_refused() {
    let s = start();
    let e = bind_err(&s.url(), bind_msg(ALICE, "../escape", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::UnknownRealm);
    assert_eq!(e.action, ErrorAction::Fatal);
}

#[test]
fn terminate_tells_connected_clients_and_refuses_binds_with_retry() {
    let s = start();
    let mut connected = new_client(&s.url(), ALICE, "main");
    s.server.terminate().unwrap();
    match connected.raw.recv() {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, ServerErrorCode::SyncTerminated);
            assert_eq!(e.action, ErrorAction::Retry);
        }
        other => panic!("{other:?}"),
    }
    connected.raw.expect_closed();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", None, 0, 0));
    assert_eq!(e.code, ServerErrorCode::SyncTerminated);
    assert_eq!(e.action, ErrorAction::Retry);
    assert!(e.retryable);
    assert_eq!(e.cause, None);
}

#[test]
fn enable_after_terminate_demands_reset_sync_reenabled() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    s.server.terminate().unwrap();
    s.server.enable().unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::SyncReenabled, ErrorAction::ClientReset);
    // A new client file binds in the new epoch and finds the state kept.
    let mut fresh = new_client(&s.url(), ALICE, "main");
    assert_eq!(fresh.epoch, 2);
    assert_eq!(pull_state(&mut fresh, 100).len(), 1);
}

#[test]
fn client_schema_with_a_breaking_difference_demands_manual_reset() {
    let s = start();
    let mut b = bind_msg(ALICE, "main", None, 0, 0);
    let mut task = task_class();
    task.properties[1] = Property::new("title", ScalarType::Int);
    b.schema_json = Schema::new(vec![ClassSchema::new("Task", "id", task.properties), note_class()]).unwrap().to_json();
    let e = bind_err(&s.url(), b);
    assert_reset(&e, ResetCause::BreakingSchemaChange, ErrorAction::ClientResetNoRecovery);
    assert!(e.message.contains("title"), "{}", e.message);
}

#[test]
fn client_schema_subset_is_fine() {
    let s = start();
    let mut b = bind_msg(ALICE, "main", None, 0, 0);
    b.schema_json = Schema::new(vec![note_class()]).unwrap().to_json();
    bind_ok(&s.url(), b);
}

fn schema_with_extras() -> Schema {
    let mut task = task_class();
    task.properties.push(Property::new("priority", ScalarType::Int).optional());
    let extra = ClassSchema::new("Tag", "name", vec![Property::new("name", ScalarType::String)]);
    Schema::new(vec![ClassSchema::new("Task", "id", task.properties), note_class(), extra]).unwrap()
}

#[test]
fn client_schema_ahead_demands_reset_then_completing_reset_merges_it() {
    let s = start();
    let mut b = bind_msg(ALICE, "main", None, 0, 0);
    b.schema_json = schema_with_extras().to_json();
    let e = bind_err(&s.url(), b.clone());
    assert_reset(&e, ResetCause::ClientSchemaAhead, ErrorAction::ClientReset);
    assert!(e.message.contains("Tag") && e.message.contains("priority"), "{}", e.message);

    b.completing_reset = true;
    let mut raw = Raw::connect(&s.url());
    match raw.bind(b.clone()) {
        ServerMessage::BindOk { schema_json, .. } => {
            let server = Schema::from_json(&schema_json).unwrap();
            assert!(server.class_index("Tag").is_some());
            assert!(server.class("Task").unwrap().1.property_index("priority").is_some());
        }
        other => panic!("{other:?}"),
    }
    // From now on every client with that schema binds without a reset.
    b.completing_reset = false;
    bind_ok(&s.url(), b);
}

#[test]
fn unknown_client_file_after_restore_demands_reset_server_restored() {
    let s = start();
    s.server.backup("before").unwrap();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    s.server.restore("before").unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::ServerRestored, ErrorAction::ClientReset);
}

#[test]
fn server_version_ahead_of_the_server_demands_reset_server_restored() {
    let s = start();
    let (ident, _, _) = synced_file(&s, ALICE, "main");
    s.server.backup("at1").unwrap();
    let mut c = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), 0, 0));
    upload(&mut c, vec![changeset(2, vec![create_task(2, "b")])]);
    let salt2 = salt_of(&s, "main", 2);
    drop(c);
    s.server.restore("at1").unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), 2, salt2));
    assert_reset(&e, ResetCause::ServerRestored, ErrorAction::ClientReset);
}

#[test]
fn same_version_with_another_salt_demands_reset_server_restored() {
    let s = start();
    let (ident, _, _) = synced_file(&s, ALICE, "main");
    s.server.backup("at1").unwrap();
    let mut c = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), 0, 0));
    upload(&mut c, vec![changeset(2, vec![create_task(2, "b")])]);
    let old_salt2 = salt_of(&s, "main", 2);
    drop(c);
    s.server.restore("at1").unwrap();
    // Another client makes version 2 again, in the restored history: a new salt.
    let mut other = new_client(&s.url(), BOB, "main");
    upload(&mut other, vec![changeset(1, vec![create_task(3, "c")])]);
    let new_salt2 = salt_of(&s, "main", 2);
    assert_ne!(old_salt2, new_salt2);
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), 2, old_salt2));
    assert_reset(&e, ResetCause::ServerRestored, ErrorAction::ClientReset);
    // The right salt binds.
    bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), 2, new_salt2));
}

#[test]
fn breaking_server_schema_change_demands_manual_reset() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    let mut task = task_class();
    task.properties[1] = Property::new("title", ScalarType::Int);
    let new_schema = Schema::new(vec![ClassSchema::new("Task", "id", task.properties), note_class()]).unwrap();
    s.server.apply_schema(&new_schema).unwrap();
    let mut b = bind_msg(ALICE, "main", Some(ident), v, salt);
    b.schema_json = new_schema.to_json();
    let e = bind_err(&s.url(), b);
    assert_reset(&e, ResetCause::BreakingSchemaChange, ErrorAction::ClientResetNoRecovery);
    // A client with the old schema is refused for its schema, whatever its ident.
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", None, 0, 0));
    assert_reset(&e, ResetCause::BreakingSchemaChange, ErrorAction::ClientResetNoRecovery);
    // A new client with the new schema starts from an empty realm in the new epoch.
    let mut b = bind_msg(ALICE, "main", None, 0, 0);
    b.schema_json = new_schema.to_json();
    let mut c = bind_ok(&s.url(), b);
    assert_eq!(c.epoch, 2);
    assert!(pull_state(&mut c, 100).is_empty());
}

#[test]
fn additive_server_schema_change_needs_no_reset() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    s.server.apply_schema(&schema_with_extras()).unwrap();
    let c = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_eq!(c.epoch, 1);
}

#[test]
fn client_offline_longer_than_max_offline_days_demands_reset_without_recovery() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    // Not yet expired after 29 days.
    s.server.advance_clock(Duration::from_secs(29 * 86_400)).unwrap();
    drop(bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt)));
    wait_no_connections(&s);
    s.server.advance_clock(Duration::from_secs(31 * 86_400)).unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::ClientTooOld, ErrorAction::ClientResetNoRecovery);
}

#[test]
fn connected_client_does_not_expire() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    let c = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    s.server.advance_clock(Duration::from_secs(60 * 86_400)).unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
}

#[test]
fn role_assignment_change_demands_reset_role_changed() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    let mut connected = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    s.server.assign_role("alice", "tasks").unwrap();
    connected.raw.expect_closed();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::RoleChanged, ErrorAction::ClientReset);
    // A fresh file under the new role is fine.
    new_client(&s.url(), ALICE, "main");
}

#[test]
fn role_definition_change_demands_reset_role_changed() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, DAVE, "main");
    s.server.define_role("tasks", "realms = [\"*\"]\nread = [\"*\"]\nwrite = [\"Task\", \"Note\"]").unwrap();
    let e = bind_err(&s.url(), bind_msg(DAVE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::RoleChanged, ErrorAction::ClientReset);
    // Other users' files are not affected.
    let (a, av, asalt) = synced_file(&s, ALICE, "other");
    s.server.define_role("tasks", "realms = [\"*\"]\nread = [\"*\"]\nwrite = []").unwrap();
    bind_ok(&s.url(), bind_msg(ALICE, "other", Some(a), av, asalt));
}

#[test]
fn recovery_disabled_turns_client_reset_into_no_recovery_with_the_same_cause() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    s.server.set_recovery_disabled(true).unwrap();
    s.server.assign_role("alice", "tasks").unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::RoleChanged, ErrorAction::ClientResetNoRecovery);
    assert!(e.message.contains("is_recovery_mode_disabled"), "{}", e.message);
    let mut b = bind_msg(BOB, "main", None, 0, 0);
    b.schema_json = schema_with_extras().to_json();
    let e = bind_err(&s.url(), b);
    assert_reset(&e, ResetCause::ClientSchemaAhead, ErrorAction::ClientResetNoRecovery);
    // And back on.
    s.server.set_recovery_disabled(false).unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::RoleChanged, ErrorAction::ClientReset);
}

#[test]
fn recovery_disabled_from_the_config_file() {
    let mut cfg = config();
    cfg.is_recovery_mode_disabled = true;
    let s = start_with(cfg);
    s.server.backup("b").unwrap();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    s.server.restore("b").unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::ServerRestored, ErrorAction::ClientResetNoRecovery);
}

#[test]
fn checks_run_in_order_first_hit_wins() {
    let s = start();
    let (ident, v, salt) = synced_file(&s, ALICE, "main");
    // Role changed and sync re-enabled: the epoch check comes first.
    s.server.assign_role("alice", "tasks").unwrap();
    s.server.enable().unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::SyncReenabled, ErrorAction::ClientReset);
    // Terminated beats everything about the client file.
    s.server.terminate().unwrap();
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_eq!(e.code, ServerErrorCode::SyncTerminated);
    // A bad token beats terminated.
    let e = bind_err(&s.url(), bind_msg("nobody", "main", Some(ident), v, salt));
    assert_eq!(e.code, ServerErrorCode::BadToken);
}
