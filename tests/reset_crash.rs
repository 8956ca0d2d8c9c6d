//! Crash safety of client reset: the client process is killed with SIGKILL at each step of a
//! reset (after the before hook, during the fresh download, during the transform before its
//! commit, after the commit before the after hook, during the upload of recovered changes).
//! After a restart the reset completes, the fresh copy is gone, and no acknowledged server data
//! and no recoverable local change is lost.
//!
//! The child is this same test binary, re-run with `DRIFTSYNC_CRASH_CHILD` set: the test
//! function then plays the client that dies.

mod common;
use common::*;
use driftsync::protocol::AdminCommand;
use driftsync::reset::ResetDecision;
use driftsync::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn recover_config() -> ClientResetConfig {
    ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges)
}

/// The dying client: opens the realm with sync on and waits to be killed by the crash point.
fn child(path: &str, url: &str) -> ! {
    let r = open_client(Path::new(path), url, "alice", recover_config());
    std::thread::sleep(Duration::from_secs(30));
    drop(r);
    eprintln!("the crash point was never reached");
    std::process::exit(3)
}

fn run_child(test: &str, step: &str, path: &Path, url: &str) {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("DRIFTSYNC_CRASH_CHILD", "1")
        .env("DRIFTSYNC_CRASH_AT", step)
        .env("CRASH_REALM", path)
        .env("CRASH_URL", url)
        .output()
        .expect("child runs");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the child must die by SIGKILL at {step}; status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Prepares a server with 12,000 objects (several state chunks), a client with one synced and
/// two unsynced changes, and a reset demand (sync terminated and re-enabled).
fn prepare(ts: &TestServer) -> std::path::PathBuf {
    let seed = open_client(&ts.path("seed.realm"), &ts.url(), "bob", ClientResetConfig::default());
    seed.write(|r| (100..12_100).try_for_each(|i| r.create("Item", i, &[]))).unwrap();
    sync_all(&seed);
    drop(seed);
    let path = ts.path("client.realm");
    let r = open_client(&path, &ts.url(), "alice", recover_config());
    item(&r, 1, "synced");
    sync_all(&r);
    let s = session(&r);
    s.pause();
    eventually("paused", || s.state() == sync::ConnectionState::Disconnected);
    r.write(|r| {
        r.set("Item", &1.into(), "name", "local edit".into())?;
        r.create("Item", 2, &[("name", "offline".into())])
    })
    .unwrap();
    drop(s);
    drop(r);
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    path
}

fn check_after_restart(ts: &TestServer, path: &Path, expect_resumed: bool) {
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p2 = progress.clone();
    let mut cfg = recover_config();
    cfg.on_download_progress = Some(Arc::new(move |got, total| p2.lock().unwrap().push((got, total))));
    let r = open_client(path, &ts.url(), "alice", cfg);
    eventually("the reset completes after the restart", || {
        r.last_reset_report().unwrap().is_some() && session(&r).state() == sync::ConnectionState::Connected
    });
    sync_all(&r);
    let rep = r.last_reset_report().unwrap().unwrap();
    assert_eq!(rep.decision, ResetDecision::Recover);
    assert!(!reset::fresh::fresh_path(path).exists(), "the fresh copy is removed");
    assert_eq!(name_of(&r, 1).as_deref(), Some("local edit"));
    assert_eq!(name_of(&r, 2).as_deref(), Some("offline"));
    assert_eq!(r.count("Item").unwrap(), 12_002, "all acknowledged server data is there");
    eventually("pending record cleared", || reset::pending_reset(&r).unwrap().is_none());
    let other = open_client(&ts.path("other.realm"), &ts.url(), "bob", ClientResetConfig::default());
    sync_all(&other);
    assert_eq!(name_of(&other, 2).as_deref(), Some("offline"), "recovered changes reached the server");
    assert_eq!(name_of(&other, 1).as_deref(), Some("local edit"));
    let p = progress.lock().unwrap().clone();
    if !expect_resumed {
        assert!(rep.ranges_differed > 0, "the fresh copy came by range reconciliation: {rep:?}");
    }
    if expect_resumed {
        // The first progress report after the restart already counts the chunk stored before
        // the crash: the download resumed instead of starting over.
        assert!(p.first().is_some_and(|(got, _)| *got > 5_000), "resumed download: {p:?}");
    }
}

fn crash_at(test: &str, step: &str) {
    if std::env::var("DRIFTSYNC_CRASH_CHILD").is_ok() {
        let (path, url) = (std::env::var("CRASH_REALM").unwrap(), std::env::var("CRASH_URL").unwrap());
        child(&path, &url);
    }
    // The full-copy download is what a server without range reconciliation sends.
    let ts = if step == "fresh_download" {
        TestServer::start_with(|c| driftsync_server::AppConfig { reconcile: false, ..c })
    } else {
        TestServer::start()
    };
    let path = prepare(&ts);
    run_child(test, step, &path, &ts.url());
    let resumable = step == "fresh_download";
    if resumable {
        assert!(reset::fresh::fresh_path(&path).exists(), "a partial fresh copy was left behind");
    }
    check_after_restart(&ts, &path, resumable);
}

#[test]
fn sigkill_after_before_hook() {
    crash_at("sigkill_after_before_hook", "after_before_hook");
}

#[test]
fn sigkill_during_fresh_download_resumes_it() {
    crash_at("sigkill_during_fresh_download_resumes_it", "fresh_download");
}

/// A client killed in the middle of a range reconciliation (after its first round) leaves no
/// half-made fresh copy: the next run reconciles again and the reset completes, nothing lost.
#[test]
fn sigkill_during_reconcile_completes_next_time() {
    crash_at("sigkill_during_reconcile_completes_next_time", "fresh_reconcile");
}

#[test]
fn sigkill_during_transform_before_commit() {
    crash_at("sigkill_during_transform_before_commit", "before_commit");
}

#[test]
fn sigkill_after_commit_before_after_hook() {
    crash_at("sigkill_after_commit_before_after_hook", "after_commit");
}

#[test]
fn sigkill_during_upload_of_recovered_changes() {
    crash_at("sigkill_during_upload_of_recovered_changes", "during_upload");
}

#[test]
fn garbage_fresh_file_is_replaced() {
    let ts = TestServer::start();
    let path = prepare(&ts);
    std::fs::write(reset::fresh::fresh_path(&path), b"this is not a database, just garbage left behind").unwrap();
    check_after_restart(&ts, &path, false);
}

/// A reconciled fresh copy is a delta over the local file as it was. One left behind by a client
/// killed before the transform's commit is not applied over a realm written since: the reset
/// reconciles again, so a discard takes the server's state of an object written after the crash
/// (applied over the newer file, the stale delta would have kept that write).
#[test]
fn sigkill_before_commit_then_a_local_write_reconciles_again() {
    let test = "sigkill_before_commit_then_a_local_write_reconciles_again";
    if std::env::var("DRIFTSYNC_CRASH_CHILD").is_ok() {
        let (path, url) = (std::env::var("CRASH_REALM").unwrap(), std::env::var("CRASH_URL").unwrap());
        child(&path, &url);
    }
    let ts = TestServer::start();
    let path = prepare(&ts);
    run_child(test, "before_commit", &path, &ts.url());
    assert!(reset::fresh::fresh_path(&path).exists(), "the reconciled copy was left behind");
    let mut sync = sync_config(&ts.url(), "alice", ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    sync.start_paused = true;
    let r = Realm::open(RealmConfig::new(&path, schema()).with_sync(sync)).unwrap();
    r.write(|r| r.set("Item", &500.into(), "name", "written after the crash".into())).unwrap();
    session(&r).resume();
    eventually("the reset completes after the restart", || {
        r.last_reset_report().unwrap().is_some() && session(&r).state() == sync::ConnectionState::Connected
    });
    assert_eq!(r.last_reset_report().unwrap().unwrap().decision, ResetDecision::Discard);
    assert_eq!(name_of(&r, 500).as_deref(), Some(""), "the discard took the server's state of object 500");
    assert_eq!(name_of(&r, 2), None, "the unsynced object was discarded");
    assert_eq!(r.count("Item").unwrap(), 12_001);
    assert!(!reset::fresh::fresh_path(&path).exists(), "the fresh copy is removed");
}
