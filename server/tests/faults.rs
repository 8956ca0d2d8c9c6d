//! Bad input closes only the connection it came on, with an error when possible, and changes
//! nothing stored; every other client keeps working.

mod common;

use common::*;
use driftsync::protocol::{self, ClientMessage, ErrorAction, MAX_FRAME_BYTES, ServerErrorCode, ServerMessage};
use driftsync::{Instruction, PrimaryKey, Value};
use std::io::Write;
use tungstenite::Message;

/// A bound client that keeps working across the faults of others.
fn assert_still_serving(s: &TestServer, bystander: &mut BoundClient, local_version: u64) {
    let acks = upload(bystander, vec![changeset(local_version, vec![create_task(1000 + local_version as i64, "still here")])]);
    assert_eq!(acks.len(), 1);
    // And new connections are accepted.
    new_client(&s.url(), BOB, "main");
}

fn expect_fatal(raw: &mut Raw, code: ServerErrorCode) {
    match raw.recv_within(TIMEOUT) {
        Some(ServerMessage::Error(e)) => {
            assert_eq!(e.code, code, "{e:?}");
            assert_eq!(e.action, ErrorAction::Fatal, "{e:?}");
        }
        other => panic!("expected a fatal {code:?}, got {other:?}"),
    }
    raw.expect_closed();
}

fn latest_version(s: &TestServer) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&s.server.status().unwrap()).unwrap();
    status["realms"]["main"]["latest_version"].as_u64().unwrap_or(0)
}

#[test]
fn undecodable_messagepack_closes_only_that_connection() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    for (i, junk) in [vec![0xc1u8], vec![0xff, 0x00, 0x13], b"not msgpack at all".to_vec(), Vec::new()].into_iter().enumerate() {
        let mut bad = new_client(&s.url(), BOB, "main");
        bad.raw.send_frame(Message::binary(junk));
        expect_fatal(&mut bad.raw, ServerErrorCode::BadMessage);
        assert_still_serving(&s, &mut bystander, i as u64 + 1);
    }
}

#[test]
fn truncated_message_is_refused() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    let mut bad = new_client(&s.url(), BOB, "main");
    let bytes = protocol::encode(&ClientMessage::Upload { changesets: vec![changeset(1, vec![create_task(1, "x")])] });
    bad.raw.send_frame(Message::binary(bytes[..bytes.len() / 2].to_vec()));
    expect_fatal(&mut bad.raw, ServerErrorCode::BadMessage);
    assert_eq!(latest_version(&s), 0);
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn unknown_message_is_refused() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    // Well-formed MessagePack, but no client message: a server message sent by a client.
    let mut bad = new_client(&s.url(), BOB, "main");
    bad.raw.send_frame(Message::binary(protocol::encode(&ServerMessage::Pong { nonce: 1, latest_server_version: 0 })));
    expect_fatal(&mut bad.raw, ServerErrorCode::BadMessage);
    // An unknown enum variant name.
    let mut bad = new_client(&s.url(), BOB, "main");
    let unknown = rmp_serde::to_vec(&serde_json::json!({ "Teleport": { "to": 3 } })).unwrap();
    bad.raw.send_frame(Message::binary(unknown));
    expect_fatal(&mut bad.raw, ServerErrorCode::BadMessage);
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn text_frame_is_refused() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    let mut bad = new_client(&s.url(), BOB, "main");
    bad.raw.send_frame(Message::text("{\"Ping\":{\"nonce\":1}}"));
    expect_fatal(&mut bad.raw, ServerErrorCode::BadMessage);
    // Also before any bind.
    let mut raw = Raw::connect(&s.url());
    raw.send_frame(Message::text("hello"));
    expect_fatal(&mut raw, ServerErrorCode::BadMessage);
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn oversized_frame_is_refused_without_reading_it_all() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    let mut bad = new_client(&s.url(), BOB, "main");
    // The client side has no limit on what it sends.
    let payload = vec![0x90u8; MAX_FRAME_BYTES + 1];
    let _ = bad.raw.ws.send(Message::binary(payload));
    // The server refuses it: an error if it gets through before the reset, and a closed
    // connection in any case.
    match bad.raw.recv_within(TIMEOUT) {
        Some(ServerMessage::Error(e)) => {
            assert_eq!((e.code, e.action), (ServerErrorCode::BadMessage, ErrorAction::Fatal));
            bad.raw.expect_closed();
        }
        None => eprintln!("oversized: connection reset before the error arrived"),
        Some(other) => panic!("{other:?}"),
    }
    assert_eq!(latest_version(&s), 0);
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn malformed_websocket_frames_and_raw_garbage_close_the_connection() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    // Not a WebSocket at all.
    let mut tcp = std::net::TcpStream::connect(s.server.addr()).unwrap();
    tcp.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    drop(tcp);
    // A WebSocket connection that then sends an unmasked frame with reserved bits set.
    let mut bad = new_client(&s.url(), BOB, "main");
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = bad.raw.ws.get_mut() {
        tcp.write_all(&[0xF2, 0x03, 1, 2, 3]).unwrap();
    }
    match bad.raw.recv_within(TIMEOUT) {
        Some(ServerMessage::Error(e)) => {
            assert_eq!(e.code, ServerErrorCode::BadMessage);
            bad.raw.expect_closed();
        }
        None => {}
        Some(other) => panic!("{other:?}"),
    }
    // A connection that stops in the middle of a frame.
    let mut cut = new_client(&s.url(), BOB, "main");
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = cut.raw.ws.get_mut() {
        tcp.write_all(&[0x82, 0xFE, 0x10, 0x00, 1, 2, 3, 4, 5]).unwrap();
    }
    drop(cut);
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn changeset_for_an_unknown_class_stores_nothing() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    let mut bad = new_client(&s.url(), BOB, "main");
    let unknown = Instruction::CreateObject { class: "Nope".into(), pk: PrimaryKey::Int(1), fields: vec![("x".into(), Value::Int(1))] };
    // A valid changeset and a bad one in the same upload: neither is stored.
    bad.raw.send(&ClientMessage::Upload { changesets: vec![changeset(1, vec![create_task(1, "x")]), changeset(2, vec![unknown])] });
    expect_fatal(&mut bad.raw, ServerErrorCode::BadChangeset);
    assert_eq!(latest_version(&s), 0);
    assert!(pull_state(&mut bystander, 10).is_empty());
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn changeset_with_a_wrong_primary_key_type_stores_nothing() {
    let s = start();
    let mut bystander = new_client(&s.url(), ALICE, "main");
    let mut bad = new_client(&s.url(), BOB, "main");
    let wrong = Instruction::CreateObject { class: "Task".into(), pk: PrimaryKey::String("one".into()), fields: vec![] };
    bad.raw.send(&ClientMessage::Upload { changesets: vec![changeset(1, vec![create_task(1, "x"), wrong])] });
    expect_fatal(&mut bad.raw, ServerErrorCode::BadChangeset);
    assert_eq!(latest_version(&s), 0);
    assert!(pull_state(&mut bystander, 10).is_empty());
    assert_still_serving(&s, &mut bystander, 1);
}

#[test]
fn state_request_resuming_after_an_unknown_class_is_refused() {
    let s = start();
    let mut c = new_client(&s.url(), ALICE, "main");
    c.raw.send(&ClientMessage::StateRequest { after: Some(("Nope".into(), PrimaryKey::Int(1))), max_objects: 10 });
    expect_fatal(&mut c.raw, ServerErrorCode::BadMessage);
}

#[test]
fn second_bind_on_a_connection_is_refused() {
    let s = start();
    let mut c = new_client(&s.url(), ALICE, "main");
    c.raw.send(&ClientMessage::Bind(bind_msg(ALICE, "main", None, 0, 0)));
    expect_fatal(&mut c.raw, ServerErrorCode::BadMessage);
}

#[test]
fn client_dropped_in_the_middle_of_a_download_does_not_disturb_the_server() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    for batch in 0..3u64 {
        upload(&mut a, (1..=1000).map(|i| changeset(batch * 1000 + i, vec![create_task((batch * 1000 + i) as i64, "x")])).collect());
    }
    for _ in 0..5 {
        let mut d = new_client(&s.url(), BOB, "main");
        d.raw.send(&ClientMessage::StartDownload { after: 0 });
        let _ = d.raw.recv();
        drop(d); // gone mid-stream
    }
    wait_no_connections_but(&s, 1);
    let mut d = new_client(&s.url(), BOB, "main");
    d.raw.send(&ClientMessage::StartDownload { after: 0 });
    let mut n = 0;
    d.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, latest_server_version, .. } => {
            n += changesets.len();
            (latest_server_version >= 3000).then_some(())
        }
        _ => None,
    });
    assert_eq!(n, 3000);
    assert_still_serving(&s, &mut a, 3001);
}

fn wait_no_connections_but(s: &TestServer, n: usize) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while s.server.connected_clients() > n {
        assert!(std::time::Instant::now() < deadline, "dropped connections were not noticed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
