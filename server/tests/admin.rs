//! Admin commands and persistence: backup/restore bring back the data, every admin change
//! survives a restart, status tells what is going on.

mod common;

use common::*;
use driftsync::PrimaryKey;
use driftsync::protocol::{ClientMessage, ErrorAction, ResetCause, ServerMessage};
use driftsync_server::{Server, ServerOptions};
use std::time::Duration;

fn status(s: &Server) -> serde_json::Value {
    serde_json::from_str(&s.status().unwrap()).unwrap()
}

fn task_ids(c: &mut BoundClient) -> Vec<i64> {
    pull_state(c, 1000)
        .into_iter()
        .filter_map(|(class, o)| match (class.as_str(), o.pk) {
            ("Task", PrimaryKey::Int(i)) => Some(i),
            _ => None,
        })
        .collect()
}

#[test]
fn restore_brings_back_the_backed_up_state_and_history() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    upload(&mut a, (1..=3).map(|i| changeset(i, vec![create_task(i as i64, "kept")])).collect());
    let mut other = new_client(&s.url(), ALICE, "other");
    upload(&mut other, vec![changeset(1, vec![create_task(9, "other realm")])]);
    s.server.backup("three").unwrap();
    upload(&mut a, (4..=5).map(|i| changeset(i, vec![create_task(i as i64, "lost")])).collect());
    let salt5 = status(&s.server)["realms"]["main"]["latest_salt"].as_u64().unwrap();

    s.server.restore("three").unwrap();
    // Connected clients were disconnected.
    a.raw.expect_closed();
    other.raw.expect_closed();
    let st = status(&s.server);
    assert_eq!(st["realms"]["main"]["latest_version"], 3);
    assert_eq!(st["realms"]["other"]["latest_version"], 1);
    let mut c = new_client(&s.url(), BOB, "main");
    assert_eq!(task_ids(&mut c), vec![1, 2, 3]);
    // The history is the backed-up one too.
    c.raw.send(&ClientMessage::StartDownload { after: 0 });
    let mut versions = Vec::new();
    c.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, latest_server_version, .. } => {
            versions.extend(changesets.iter().map(|x| x.server_version));
            (latest_server_version >= 3).then_some(())
        }
        _ => None,
    });
    assert_eq!(versions, vec![1, 2, 3]);
    // New versions after the backup point get new salts.
    upload(&mut c, (1..=2).map(|i| changeset(i, vec![create_task(10 + i as i64, "new")])).collect());
    assert_ne!(status(&s.server)["realms"]["main"]["latest_salt"].as_u64().unwrap(), salt5);
}

#[test]
fn backup_names_are_checked() {
    let s = start();
    assert!(s.server.backup("../x").is_err());
    assert!(s.server.restore("missing").is_err());
    s.server.backup("ok").unwrap();
    assert!(s.server.backup("ok").is_err());
    assert!(s.server.data_dir().join("backups/ok/server.sqlite").is_file());
}

#[test]
fn every_admin_change_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ident, v, salt) = {
        let s = Server::start(ServerOptions::new(config(), &data)).unwrap();
        let mut c = new_client(&s.url(), ALICE, "main");
        upload(&mut c, vec![changeset(1, vec![create_task(1, "x")])]);
        let ident = c.ident;
        drop(c);
        let salt = status(&s)["realms"]["main"]["latest_salt"].as_u64().unwrap();
        s.set_recovery_disabled(true).unwrap();
        s.define_role("reader", "realms = [\"*\"]\nread = [\"Task\"]\nwrite = []").unwrap();
        s.assign_role("bob", "reader").unwrap();
        s.advance_clock(Duration::from_secs(3600)).unwrap();
        s.terminate().unwrap();
        (ident, 1, salt)
    };
    let s = Server::start(ServerOptions::new(config(), &data)).unwrap();
    let st = status(&s);
    assert_eq!(st["sync_enabled"], false);
    assert_eq!(st["recovery_disabled"], true);
    assert_eq!(st["clock_offset_seconds"], 3600);
    assert_eq!(st["realms"]["main"]["latest_version"], 1);
    s.enable().unwrap();
    let st = status(&s);
    assert_eq!(st["epoch"], 2);
    // Re-enabled: the old file must reset, and recovery is still disabled.
    let e = bind_err(&s.url(), bind_msg(ALICE, "main", Some(ident), v, salt));
    assert_reset(&e, ResetCause::SyncReenabled, ErrorAction::ClientResetNoRecovery);
    // Bob's role assignment and the role definition persisted: he reads Task only.
    let mut bob = new_client(&s.url(), BOB, "main");
    let _ = task_ids(&mut bob);
    drop(s);
    // And the epoch survives a restart too.
    let s = Server::start(ServerOptions::new(config(), &data)).unwrap();
    assert_eq!(status(&s)["epoch"], 2);
}

#[test]
fn enable_keeps_the_state_and_continues_versions_under_a_new_salt() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    upload(&mut a, (1..=4).map(|i| changeset(i, vec![create_task(i as i64, "x")])).collect());
    let before = status(&s.server)["realms"]["main"].clone();
    drop(a);
    s.server.terminate().unwrap();
    s.server.enable().unwrap();
    let after = status(&s.server)["realms"]["main"].clone();
    assert_eq!(after["latest_version"], before["latest_version"]);
    assert_ne!(after["latest_salt"], before["latest_salt"]);
    let mut c = new_client(&s.url(), BOB, "main");
    assert_eq!(c.server_version, 4);
    assert_eq!(task_ids(&mut c), vec![1, 2, 3, 4]);
    // Downloading from the bind version works; nothing older is offered.
    c.raw.send(&ClientMessage::StartDownload { after: 4 });
    let mut d = new_client(&s.url(), ALICE, "main");
    upload(&mut d, vec![changeset(1, vec![create_task(5, "new epoch")])]);
    let got = c.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, .. } if !changesets.is_empty() => Some(changesets),
        _ => None,
    });
    assert_eq!(got[0].server_version, 5);
}

#[test]
fn additive_schema_is_applied_to_every_realm_and_persisted() {
    let s = start();
    new_client(&s.url(), ALICE, "one");
    new_client(&s.url(), ALICE, "two");
    let mut task = task_class();
    task.properties.push(driftsync::Property::new("priority", driftsync::ScalarType::Int).optional());
    let wider = driftsync::Schema::new(vec![driftsync::ClassSchema::new("Task", "id", task.properties), note_class()]).unwrap();
    let out = s.server.apply_schema(&wider).unwrap();
    assert!(out.contains("additive"), "{out}");
    assert_eq!(status(&s.server)["epoch"], 1);
    let mut b = bind_msg(ALICE, "two", None, 0, 0);
    b.schema_json = wider.to_json();
    let mut c = bind_ok(&s.url(), b);
    c.raw.send(&ClientMessage::Upload {
        changesets: vec![changeset(
            1,
            vec![driftsync::Instruction::CreateObject {
                class: "Task".into(),
                pk: PrimaryKey::Int(1),
                fields: vec![("priority".into(), driftsync::Value::Int(5))],
            }],
        )],
    });
    assert!(matches!(c.raw.recv(), ServerMessage::UploadAck { .. }));
    c.raw.send(&ClientMessage::StateRequest { after: None, max_objects: 10 });
    let ServerMessage::StateChunk { properties, .. } = c.raw.recv() else { panic!() };
    assert!(properties.iter().any(|p| p.name == "priority"));
}

#[test]
fn status_shows_epoch_versions_and_connected_clients() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    upload(&mut a, vec![changeset(1, vec![create_task(1, "x")])]);
    let st = status(&s.server);
    assert_eq!(st["epoch"], 1);
    assert_eq!(st["sync_enabled"], true);
    assert_eq!(st["realms"]["main"]["latest_version"], 1);
    let connected = st["connected"].as_array().unwrap();
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0]["client_file_ident"], a.ident);
    assert_eq!(connected[0]["user"], "alice");
    assert_eq!(s.server.connected_clients(), 1);
}

#[test]
fn stop_closes_connections_and_returns() {
    let mut s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let url = s.url();
    s.server.stop();
    a.raw.expect_closed();
    assert!(std::net::TcpStream::connect(url.trim_start_matches("ws://")).is_err() || tungstenite::connect(&url).is_err());
    s.server.stop();
}

#[test]
fn restore_keeps_the_server_configuration() {
    let s = start();
    s.server.backup("plain").unwrap();
    s.server.set_recovery_disabled(true).unwrap();
    s.server.assign_role("bob", "reader").unwrap();
    s.server.advance_clock(Duration::from_secs(7200)).unwrap();
    s.server.restore("plain").unwrap();
    let st = status(&s.server);
    assert_eq!(st["recovery_disabled"], true);
    assert_eq!(st["clock_offset_seconds"], 7200);
    assert_eq!(st["sync_enabled"], true);
    // Bob is still a reader: his write is refused.
    let mut bob = new_client(&s.url(), BOB, "main");
    bob.raw.send(&ClientMessage::Upload { changesets: vec![changeset(1, vec![create_task(1, "x")])] });
    assert!(matches!(bob.raw.recv(), ServerMessage::Error(e) if e.action == ErrorAction::Warning));
}

#[test]
fn clock_advance_compacts_history_and_a_client_behind_it_is_too_old() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let acks = upload(&mut a, (1..=3).map(|i| changeset(i, vec![create_task(i as i64, "early")])).collect());
    assert_eq!(acks.len(), 3);
    // Bob downloads the three versions, then stays connected (so he does not expire) while the
    // clock jumps past the offline limit and the history is compacted.
    let mut b = new_client(&s.url(), BOB, "main");
    b.raw.send(&ClientMessage::StartDownload { after: 0 });
    let mut salts = std::collections::BTreeMap::new();
    b.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, .. } => {
            salts.extend(changesets.iter().map(|c| (c.server_version, c.salt)));
            (salts.len() == 3).then_some(())
        }
        _ => None,
    });
    let out = s.server.advance_clock(Duration::from_secs(31 * 86_400)).unwrap();
    assert!(out.contains("3 server version(s) compacted"), "{out}");
    let (a_ident, b_ident) = (a.ident, b.ident);
    drop(a);
    drop(b);
    wait_no_connections(&s);
    // Bob's last version (1) was forgotten: he is too old, whatever his last-seen time says.
    let e = bind_err(&s.url(), bind_msg(BOB, "main", Some(b_ident), 1, salts[&1]));
    assert_reset(&e, ResetCause::ClientTooOld, ErrorAction::ClientResetNoRecovery);
    // Alice is at the compaction point (3): she goes on, and the running "integrated" count of
    // her changesets survives the compaction.
    let mut other = new_client(&s.url(), ALICE, "main");
    upload(&mut other, vec![changeset(1, vec![create_task(10, "after")])]);
    let mut a = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(a_ident), 3, salts[&3]));
    a.raw.send(&ClientMessage::StartDownload { after: 3 });
    let got = a.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, .. } => changesets.into_iter().find(|c| c.server_version == 4),
        _ => None,
    });
    assert_eq!(got.last_integrated_client_version, 3);
}
