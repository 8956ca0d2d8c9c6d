//! Upload, acknowledgement, download with the right cursors, state chunks, permissions.

mod common;

use common::*;
use driftsync::protocol::{ClientMessage, DownloadChangeset, ErrorAction, ServerErrorCode, ServerMessage};
use driftsync::{Instruction, PrimaryKey, Value};
use std::time::Duration;

/// Collects downloaded changesets until the server has covered `upto`.
fn download_until(c: &mut BoundClient, upto: u64) -> Vec<DownloadChangeset> {
    let mut got = Vec::new();
    c.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, latest_server_version, .. } => {
            got.extend(changesets);
            (latest_server_version >= upto).then_some(())
        }
        _ => None,
    });
    got
}

#[test]
fn upload_is_acked_and_another_client_downloads_it_with_its_last_integrated_version() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let mut b = new_client(&s.url(), BOB, "main");
    b.raw.send(&ClientMessage::StartDownload { after: 0 });

    // A: server version 1.
    assert_eq!(upload(&mut a, vec![changeset(1, vec![create_task(1, "from a")])]), vec![(1, 1)]);
    let d = download_until(&mut b, 1);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].server_version, d[0].own, d[0].last_integrated_client_version), (1, false, 0));
    assert_eq!(d[0].changeset.instructions, vec![create_task(1, "from a")]);

    // B: server version 2; B never receives its own changeset back.
    assert_eq!(upload(&mut b, vec![changeset(1, vec![create_task(2, "from b")])]), vec![(1, 2)]);
    // A: server version 3, made after B's local version 1 was integrated.
    assert_eq!(upload(&mut a, vec![changeset(2, vec![create_task(3, "a again")])]), vec![(2, 3)]);
    let d = download_until(&mut b, 3);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].server_version, d[0].last_integrated_client_version), (3, 1));

    // A catches up from 0: only B's changeset, integrated after A's local version 1.
    a.raw.send(&ClientMessage::StartDownload { after: 0 });
    let d = download_until(&mut a, 3);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].server_version, d[0].own, d[0].last_integrated_client_version), (2, false, 1));

    // The salt in each download is the salt the server reports for that version.
    let status: serde_json::Value = serde_json::from_str(&s.server.status().unwrap()).unwrap();
    assert_eq!(status["realms"]["main"]["latest_version"], 3);
}

#[test]
fn download_resumes_after_a_given_version_and_pushes_live() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    upload(&mut a, (1..=5).map(|i| changeset(i, vec![create_task(i as i64, "t")])).collect());
    let mut b = new_client(&s.url(), BOB, "main");
    b.raw.send(&ClientMessage::StartDownload { after: 3 });
    let d = download_until(&mut b, 5);
    assert_eq!(d.iter().map(|c| c.server_version).collect::<Vec<_>>(), vec![4, 5]);
    // Live: a new upload reaches the downloading client without asking.
    upload(&mut a, vec![changeset(6, vec![create_task(6, "live")])]);
    let d = download_until(&mut b, 6);
    assert_eq!(d.iter().map(|c| c.server_version).collect::<Vec<_>>(), vec![6]);
}

#[test]
fn many_changesets_arrive_in_bounded_download_messages() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    for batch in 0..3u64 {
        upload(&mut a, (1..=1000).map(|i| changeset(batch * 1000 + i, vec![create_task((batch * 1000 + i) as i64, "x")])).collect());
    }
    let mut b = new_client(&s.url(), BOB, "main");
    b.raw.send(&ClientMessage::StartDownload { after: 0 });
    let mut messages = 0;
    let mut versions = Vec::new();
    b.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, latest_server_version, .. } => {
            messages += 1;
            assert!(changesets.len() <= 1000);
            versions.extend(changesets.iter().map(|c| c.server_version));
            (latest_server_version >= 3000).then_some(())
        }
        _ => None,
    });
    assert!(messages >= 3);
    assert_eq!(versions, (1..=3000).collect::<Vec<_>>());
}

#[test]
fn ping_is_answered_after_the_downloads_up_to_the_latest_version() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    upload(&mut a, (1..=20).map(|i| changeset(i, vec![create_task(i as i64, "t")])).collect());
    let mut b = new_client(&s.url(), BOB, "main");
    b.raw.send(&ClientMessage::StartDownload { after: 0 });
    b.raw.send(&ClientMessage::Ping { nonce: 7 });
    let mut covered = 0;
    b.raw.recv_until(|m| match m {
        ServerMessage::Download { latest_server_version, .. } => {
            covered = latest_server_version;
            None
        }
        ServerMessage::Pong { nonce, latest_server_version } => {
            assert_eq!(nonce, 7);
            assert_eq!(latest_server_version, 20);
            assert_eq!(covered, 20, "the pong came before the downloads");
            Some(())
        }
        other => panic!("{other:?}"),
    });
}

#[test]
fn re_sent_changesets_are_acked_again_not_applied_twice() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let first = upload(&mut a, vec![changeset(1, vec![create_task(1, "x")]), changeset(2, vec![create_task(2, "y")])]);
    assert_eq!(first, vec![(1, 1), (2, 2)]);
    // After a reconnect the client sends them again, plus a new one.
    let ident = a.ident;
    drop(a);
    let mut a = bind_ok(&s.url(), bind_msg(ALICE, "main", Some(ident), 2, salt_now(&s)));
    let again = upload(
        &mut a,
        vec![changeset(1, vec![create_task(1, "x")]), changeset(2, vec![create_task(2, "y")]), changeset(3, vec![create_task(3, "z")])],
    );
    assert_eq!(again, vec![(1, 1), (2, 2), (3, 3)]);
    let status: serde_json::Value = serde_json::from_str(&s.server.status().unwrap()).unwrap();
    assert_eq!(status["realms"]["main"]["latest_version"], 3);
}

fn salt_now(s: &TestServer) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&s.server.status().unwrap()).unwrap();
    status["realms"]["main"]["latest_salt"].as_u64().unwrap()
}

#[test]
fn state_chunks_come_in_class_then_key_order_and_resume_from_last() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let mut ins: Vec<_> = (1..=25).map(|i| create_task(i, "t")).collect();
    ins.extend((1..=7).map(|i| create_note(&format!("n{i}"), "x")));
    upload(&mut a, vec![changeset(1, ins)]);

    let mut c = new_client(&s.url(), BOB, "main");
    let mut after = None;
    let mut chunks = Vec::new();
    loop {
        c.raw.send(&ClientMessage::StateRequest { after: after.clone(), max_objects: 10 });
        let ServerMessage::StateChunk { server_version, class, properties, objects, last, done, total_objects, .. } = c.raw.recv() else {
            panic!()
        };
        assert_eq!(server_version, 1);
        // The total comes with the first chunk only.
        assert_eq!(total_objects, if after.is_none() { 32 } else { 0 });
        if class == "Task" {
            assert_eq!(properties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["id", "title", "done", "tags"]);
        }
        chunks.push((class.clone(), objects.len()));
        if done {
            assert!(last.is_none());
            break;
        }
        let l = last.unwrap();
        assert_eq!(l.0, class);
        assert_eq!(Some(&l.1), objects.last().map(|o| &o.pk));
        after = Some(l);
    }
    assert_eq!(chunks, vec![("Task".into(), 10), ("Task".into(), 10), ("Task".into(), 5), ("Note".into(), 7)]);

    // Resuming from a key in the middle gives exactly what follows it.
    c.raw.send(&ClientMessage::StateRequest { after: Some(("Task".into(), PrimaryKey::Int(20))), max_objects: 100 });
    let ServerMessage::StateChunk { objects, done, .. } = c.raw.recv() else { panic!() };
    assert_eq!(objects.iter().map(|o| o.pk.clone()).collect::<Vec<_>>(), (21..=25).map(PrimaryKey::Int).collect::<Vec<_>>());
    assert!(!done);
    let all = pull_state(&mut c, 1000);
    assert_eq!(all.len(), 32);
}

#[test]
fn state_of_an_empty_realm_is_one_done_chunk() {
    let s = start();
    let mut c = new_client(&s.url(), ALICE, "empty");
    c.raw.send(&ClientMessage::StateRequest { after: None, max_objects: 10 });
    let ServerMessage::StateChunk { objects, done, last, total_objects, server_version, .. } = c.raw.recv() else { panic!() };
    assert!(objects.is_empty() && done && last.is_none());
    assert_eq!((total_objects, server_version), (0, 0));
}

#[test]
fn write_not_permitted_is_rejected_with_a_warning_and_not_applied() {
    let s = start();
    let mut dave = new_client(&s.url(), DAVE, "main");
    dave.raw.send(&ClientMessage::Upload { changesets: vec![changeset(1, vec![create_task(1, "ok"), create_note("n", "no")])] });
    match dave.raw.recv() {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, ServerErrorCode::PermissionDenied);
            assert_eq!(e.action, ErrorAction::Warning);
            assert!(e.message.contains("Note"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // The compensating write: the note does not exist on the server.
    match dave.raw.recv() {
        ServerMessage::Compensate { local_version: 1, objects } => {
            assert_eq!(objects.len(), 1);
            assert_eq!((objects[0].class.as_str(), &objects[0].pk, &objects[0].data), ("Note", &PrimaryKey::String("n".into()), &None));
        }
        other => panic!("expected Compensate, got {other:?}"),
    }
    assert!(matches!(dave.raw.recv(), ServerMessage::UploadAck { local_version: 1, .. }));
    // The session goes on.
    dave.raw.send(&ClientMessage::Ping { nonce: 1 });
    assert!(matches!(dave.raw.recv(), ServerMessage::Pong { nonce: 1, .. }));

    let mut carol = new_client(&s.url(), CAROL, "main");
    carol.raw.send(&ClientMessage::Upload { changesets: vec![changeset(1, vec![create_task(2, "no")])] });
    assert!(
        matches!(carol.raw.recv(), ServerMessage::Error(e) if e.code == ServerErrorCode::PermissionDenied && e.action == ErrorAction::Warning)
    );
    assert!(matches!(carol.raw.recv(), ServerMessage::Compensate { local_version: 1, .. }));
    assert!(matches!(carol.raw.recv(), ServerMessage::UploadAck { local_version: 1, .. }));

    let mut alice = new_client(&s.url(), ALICE, "main");
    let state = pull_state(&mut alice, 100);
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].0, "Task");
    assert_eq!(state[0].1.pk, PrimaryKey::Int(1));
    // And what others download holds only the permitted instruction.
    alice.raw.send(&ClientMessage::StartDownload { after: 0 });
    let d = download_until(&mut alice, 2);
    let all: Vec<_> = d.into_iter().flat_map(|c| c.changeset.instructions).collect();
    assert_eq!(all, vec![create_task(1, "ok")]);
}

#[test]
fn classes_the_role_may_not_read_are_left_out_of_state_and_downloads() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    upload(&mut a, vec![changeset(1, vec![create_task(1, "t"), create_note("n", "secret")])]);
    s.server.define_role("tasks", "realms = [\"*\"]\nread = [\"Task\"]\nwrite = [\"Task\"]").unwrap();
    let mut dave = new_client(&s.url(), DAVE, "main");
    let state = pull_state(&mut dave, 100);
    assert_eq!(state.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), vec!["Task"]);
    dave.raw.send(&ClientMessage::StartDownload { after: 0 });
    let d = download_until(&mut dave, 1);
    assert_eq!(d[0].changeset.instructions, vec![create_task(1, "t")]);
}

#[test]
fn rules_merge_concurrent_uploads_erase_wins() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let mut b = new_client(&s.url(), BOB, "main");
    upload(&mut a, vec![changeset(1, vec![create_task(1, "t")])]);
    upload(&mut a, vec![changeset(2, vec![driftsync::Instruction::EraseObject { class: "Task".into(), pk: PrimaryKey::Int(1) }])]);
    // B set a field of the object concurrently: the erase wins, the set is dropped, still acked.
    let acks = upload(
        &mut b,
        vec![changeset(
            1,
            vec![driftsync::Instruction::Set {
                class: "Task".into(),
                pk: PrimaryKey::Int(1),
                prop: "title".into(),
                value: Value::String("late".into()),
            }],
        )],
    );
    assert_eq!(acks, vec![(1, 3)]);
    assert!(pull_state(&mut b, 10).is_empty());
}

#[test]
fn messages_before_bind_are_refused() {
    let s = start();
    let mut raw = Raw::connect(&s.url());
    raw.send(&ClientMessage::StartDownload { after: 0 });
    match raw.recv() {
        ServerMessage::Error(e) => assert_eq!((e.code, e.action), (ServerErrorCode::BadMessage, ErrorAction::Fatal)),
        other => panic!("{other:?}"),
    }
    raw.expect_closed();
}

#[test]
fn start_download_after_an_unknown_version_is_refused() {
    let s = start();
    let mut c = new_client(&s.url(), ALICE, "main");
    c.raw.send(&ClientMessage::StartDownload { after: 99 });
    match c.raw.recv() {
        ServerMessage::Error(e) => assert_eq!((e.code, e.action), (ServerErrorCode::BadMessage, ErrorAction::Fatal)),
        other => panic!("{other:?}"),
    }
    c.raw.expect_closed();
}

#[test]
fn realms_are_independent() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "one");
    upload(&mut a, vec![changeset(1, vec![create_task(1, "t")])]);
    let mut b = new_client(&s.url(), ALICE, "two");
    assert!(pull_state(&mut b, 10).is_empty());
    assert_eq!(b.server_version, 0);
    std::thread::sleep(Duration::from_millis(10));
}

fn add_class(c: driftsync::ClassSchema) -> driftsync::Instruction {
    driftsync::Instruction::AddClass { class: c }
}

#[test]
fn schema_instructions_for_existing_classes_are_accepted_from_any_writer() {
    // A new synced client file records AddClass for its whole schema in its first changeset.
    let s = start();
    let mut dave = new_client(&s.url(), DAVE, "main");
    dave.raw.send(&ClientMessage::Upload {
        changesets: vec![changeset(1, vec![add_class(task_class()), add_class(note_class()), create_task(1, "t")])],
    });
    assert!(matches!(dave.raw.recv(), ServerMessage::UploadAck { local_version: 1, server_version: 1 }));
}

#[test]
fn a_new_class_uploaded_by_a_full_writer_joins_the_server_schema() {
    let s = start();
    let tag = driftsync::ClassSchema::new("Tag", "name", vec![driftsync::Property::new("name", driftsync::ScalarType::String)]);
    let mut a = new_client(&s.url(), ALICE, "main");
    let create_tag = driftsync::Instruction::CreateObject { class: "Tag".into(), pk: PrimaryKey::String("red".into()), fields: vec![] };
    assert_eq!(upload(&mut a, vec![changeset(1, vec![add_class(tag.clone()), create_tag.clone()])]), vec![(1, 1)]);
    // Clients with that schema now bind without a reset, in this realm and others.
    let wider = driftsync::Schema::new(vec![task_class(), note_class(), tag.clone()]).unwrap();
    for realm in ["main", "other"] {
        let mut b = bind_msg(BOB, realm, None, 0, 0);
        b.schema_json = wider.to_json();
        bind_ok(&s.url(), b);
    }
    // A writer limited to Task may not add classes: a warning, and the rest goes on.
    let mut dave = new_client(&s.url(), DAVE, "main");
    let color = driftsync::ClassSchema::new("Color", "name", vec![driftsync::Property::new("name", driftsync::ScalarType::String)]);
    dave.raw.send(&ClientMessage::Upload { changesets: vec![changeset(1, vec![add_class(color), create_task(5, "ok")])] });
    assert!(
        matches!(dave.raw.recv(), ServerMessage::Error(e) if e.code == ServerErrorCode::PermissionDenied && e.message.contains("Color"))
    );
    assert!(matches!(dave.raw.recv(), ServerMessage::UploadAck { local_version: 1, .. }));
    let mut c = new_client(&s.url(), ALICE, "main");
    let state = pull_state(&mut c, 100);
    assert!(state.iter().any(|(class, _)| class == "Tag"));
    assert!(!state.iter().any(|(class, _)| class == "Color"));
}

#[test]
fn concurrent_uploaders_are_ordered_and_each_downloader_sees_everything_once() {
    let s = start();
    let mut watcher = new_client(&s.url(), BOB, "main");
    watcher.raw.send(&ClientMessage::StartDownload { after: 0 });
    let uploaders: Vec<_> = (0..4i64)
        .map(|u| {
            let url = s.url();
            std::thread::spawn(move || {
                let mut c = new_client(&url, ALICE, "main");
                for i in 1..=50u64 {
                    let acks = upload(&mut c, vec![changeset(i, vec![create_task(u * 1000 + i as i64, "x")])]);
                    assert_eq!(acks[0].0, i);
                }
                c.ident
            })
        })
        .collect();
    for h in uploaders {
        h.join().unwrap();
    }
    let d = download_until(&mut watcher, 200);
    assert_eq!(d.iter().map(|c| c.server_version).collect::<Vec<_>>(), (1..=200).collect::<Vec<_>>());
    // Each uploader's changesets (its objects are u*1000+i) arrive in its local order.
    let uploader_of = |c: &&DownloadChangeset| match &c.changeset.instructions[0] {
        Instruction::CreateObject { pk: PrimaryKey::Int(id), .. } => *id / 1000,
        other => panic!("{other:?}"),
    };
    for u in 0..4 {
        let locals: Vec<u64> = d.iter().filter(|c| uploader_of(c) == u).map(|c| c.changeset.local_version).collect();
        assert_eq!(locals, (1..=50).collect::<Vec<_>>());
    }
    let mut c = new_client(&s.url(), ALICE, "main");
    assert_eq!(pull_state(&mut c, 1000).len(), 200);
}
