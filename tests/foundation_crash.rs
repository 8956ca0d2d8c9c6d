//! Issue 2, point 1 (crash safety): a child process writing a large transaction is killed with
//! SIGKILL at several points (before the commit, during it, right after it); the reopened realm
//! holds either all or none of that transaction, and SQLite's integrity check passes.
//!
//! The child is this test binary itself, re-run with `DS_CRASH_HELPER` set.

use driftsync::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: i64 = 200;
const BIG: i64 = 20_000;

fn schema() -> Schema {
    Schema::new(vec![ClassSchema::new(
        "Item",
        "id",
        vec![
            Property::new("id", ScalarType::Int),
            Property::new("gen", ScalarType::Int),
            Property::new("payload", ScalarType::String),
            Property::new("nums", ScalarType::Int).list(),
        ],
    )])
    .unwrap()
}

fn config(path: &Path) -> RealmConfig {
    let mut sync = SyncConfig::new("ws://127.0.0.1:9", "token", "crash-test");
    sync.start_paused = true;
    RealmConfig::new(path, schema()).with_sync(sync)
}

/// Helper mode. Writes one large transaction: rewrites every base object to generation 1 and
/// adds BIG new ones, printing markers on the way; then waits to be killed.
#[test]
fn crash_helper_child() {
    let Ok(path) = std::env::var("DS_CRASH_HELPER") else { return };
    let realm = Realm::open(config(Path::new(&path))).unwrap();
    realm.begin_write().unwrap();
    println!("\nBEGUN");
    for i in 0..BASE {
        realm.set("Item", &i.into(), "gen", 1.into()).unwrap();
    }
    for i in BASE..BASE + BIG {
        realm.create("Item", i, &[("gen", 1.into()), ("payload", Value::from("x".repeat(64 + (i % 50) as usize)))]).unwrap();
        if (i - BASE) % 1000 == 0 {
            realm.list_push("Item", &i.into(), "nums", i.into()).unwrap();
        }
    }
    println!("\nBEFORE_COMMIT");
    let t = Instant::now();
    realm.commit().unwrap();
    println!("\nCOMMITTED");
    println!("COMMIT_US {}", t.elapsed().as_micros());
    std::thread::sleep(Duration::from_secs(60));
}

fn seed(path: &Path) -> u64 {
    let realm = Realm::open(config(path)).unwrap();
    realm
        .write(|r| {
            for i in 0..BASE {
                r.create("Item", i, &[("gen", 0.into()), ("payload", "base".into())])?;
            }
            Ok(())
        })
        .unwrap();
    realm.last_local_version().unwrap()
}

/// Where to kill the child: after a marker line, plus a delay.
#[derive(Debug, Clone, Copy)]
struct KillPoint {
    marker: &'static str,
    delay: Duration,
}

/// Runs the child, kills it at `at`, and returns whether the transaction committed.
fn run_and_kill(at: KillPoint) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.realm");
    let base_version = seed(&path);
    kill_and_check(&path, base_version, at) == 1
}

/// How long the child's commit takes, in microseconds.
fn commit_duration_us() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calibrate.realm");
    let v = seed(&path);
    kill_and_check(&path, v, KillPoint { marker: "COMMIT_US", delay: Duration::ZERO })
}

fn kill_and_check(path: &Path, base_version: u64, at: KillPoint) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_helper_child", "--nocapture", "--test-threads=1"])
        .env("DS_CRASH_HELPER", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    if at.marker == "COMMIT_US" {
        // Calibration: no kill point, just measure how long the commit takes.
        while out.read_line(&mut line).unwrap() > 0 {
            if let Some(us) = line.trim().strip_prefix("COMMIT_US ") {
                child.kill().unwrap();
                child.wait().unwrap();
                return us.parse::<u64>().unwrap();
            }
            line.clear();
        }
        panic!("the child did not report its commit time");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited before {}", at.marker);
        if line.trim() == at.marker {
            break;
        }
        assert!(Instant::now() < deadline, "child too slow");
    }
    if !at.delay.is_zero() {
        std::thread::sleep(at.delay);
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, it did not finish");

    // Reopen and check: all or nothing.
    {
        let conn = rusqlite::Connection::open(path).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
    let realm = Realm::open(config(path)).unwrap();
    let count = realm.count("Item").unwrap() as i64;
    let mut gens = std::collections::BTreeMap::new();
    realm
        .for_each("Item", |o| {
            *gens.entry(o.value("gen").and_then(Value::as_int).unwrap()).or_insert(0) += 1;
            true
        })
        .unwrap();
    let history = realm.history_since(base_version).unwrap();
    let committed = count == BASE + BIG;
    if committed {
        assert_eq!(gens.get(&1), Some(&(BASE + BIG)), "{at:?}: all objects at generation 1: {gens:?}");
        assert_eq!(realm.get_list("Item", &(BASE + 1000).into(), "nums").unwrap(), vec![Value::Int(BASE + 1000)]);
        assert_eq!(history.len(), 1, "{at:?}: the changeset committed with the data");
        assert_eq!(history[0].instructions.len() as i64, BASE + BIG + BIG / 1000);
    } else {
        assert_eq!(count, BASE, "{at:?}: a partial transaction survived ({count} objects)");
        assert_eq!(gens.get(&0), Some(&BASE), "{at:?}: base objects changed: {gens:?}");
        assert!(history.is_empty(), "{at:?}: a changeset without its data");
    }
    // The realm is fully usable afterwards.
    realm.write(|r| r.create("Item", -1, &[])).unwrap();
    assert_eq!(realm.count("Item").unwrap() as i64, count + 1);
    committed as u64
}

#[test]
fn crash_before_commit_leaves_none_of_the_transaction() {
    for delay in [0, 5, 50] {
        let committed = run_and_kill(KillPoint { marker: "BEGUN", delay: Duration::from_millis(delay) });
        assert!(!committed, "killed while writing, before the commit");
    }
}

#[test]
fn crash_during_commit_leaves_all_or_none() {
    // The commit of ~20k objects writes thousands of WAL frames. Measure how long it takes,
    // then kill at several moments inside it (and a little past its end).
    let commit_us = commit_duration_us().max(1_000);
    let mut outcomes = Vec::new();
    for percent in [0u64, 10, 25, 40, 55, 70, 85, 100, 150] {
        let delay = Duration::from_micros(commit_us * percent / 100);
        outcomes.push((percent, run_and_kill(KillPoint { marker: "BEFORE_COMMIT", delay })));
    }
    eprintln!("commit takes {commit_us} us; (percent of it elapsed at the kill, committed): {outcomes:?}");
}

#[test]
fn crash_right_after_commit_keeps_all_of_the_transaction() {
    for delay in [0, 1, 20] {
        let committed = run_and_kill(KillPoint { marker: "COMMITTED", delay: Duration::from_millis(delay) });
        assert!(committed, "the commit returned before the kill, so the transaction must survive");
    }
}
