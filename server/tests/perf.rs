//! Throughput smoke tests of the server alone (raw clients). Ignored by default; run with
//! `cargo test -p driftsync-server --release --test perf -- --ignored --nocapture`.

mod common;

use common::*;
use driftsync::protocol::{ClientMessage, ServerMessage};
use std::time::Instant;

#[test]
#[ignore]
fn ten_thousand_small_changesets_reach_a_second_client() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    let mut b = new_client(&s.url(), BOB, "main");
    b.raw.send(&ClientMessage::StartDownload { after: 0 });
    let t = Instant::now();
    let uploader = std::thread::spawn(move || {
        for batch in 0..10u64 {
            upload(&mut a, (1..=1000).map(|i| changeset(batch * 1000 + i, vec![create_task((batch * 1000 + i) as i64, "x")])).collect());
        }
    });
    let mut n = 0;
    b.raw.recv_until(|m| match m {
        ServerMessage::Download { changesets, latest_server_version, .. } => {
            n += changesets.len();
            (latest_server_version >= 10_000).then_some(())
        }
        _ => None,
    });
    uploader.join().unwrap();
    assert_eq!(n, 10_000);
    eprintln!("10,000 changesets uploaded and downloaded in {:?}", t.elapsed());
}

#[test]
#[ignore]
fn state_of_100k_objects() {
    let s = start();
    let mut a = new_client(&s.url(), ALICE, "main");
    for batch in 0..10i64 {
        let ins = (0..10_000).map(|i| create_task(batch * 10_000 + i, "some title")).collect();
        upload(&mut a, vec![changeset(batch as u64 + 1, ins)]);
    }
    let mut c = new_client(&s.url(), BOB, "main");
    let t = Instant::now();
    let all = pull_state(&mut c, 10_000);
    assert_eq!(all.len(), 100_000);
    eprintln!("100,000 objects pulled in {:?}", t.elapsed());
}
