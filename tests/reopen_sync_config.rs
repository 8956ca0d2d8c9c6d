//! Reopening a file this process still has (closed but not yet freed handles keep its shared
//! state): with no live handle the new configuration is used, hooks and handlers included; with
//! a live handle, other sync settings are a typed error instead of being ignored.

mod common;
use common::*;
use driftsync::protocol::ServerErrorCode;
use driftsync::reset::{ClientResetConfig, ClientResetMode};
use driftsync::sync::{ConnectionState, SyncError};
use driftsync::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Errors = Arc<Mutex<Vec<SyncError>>>;

fn recording(errors: &Errors, sync: SyncConfig) -> SyncConfig {
    let errors = errors.clone();
    sync.with_error_handler(move |e| errors.lock().unwrap().push(e.clone()))
}

fn open(path: &std::path::Path, sync: SyncConfig) -> Result<Realm> {
    Realm::open(RealmConfig::new(path, schema()).with_sync(sync))
}

#[test]
fn reopen_after_every_handle_is_closed_uses_the_new_error_handler_and_token() {
    let ts = TestServer::start();
    let path = ts.path("r.realm");
    let first_errors: Errors = Arc::default();
    let first = open(&path, recording(&first_errors, SyncConfig::new(&ts.url(), "alice-token", "main"))).expect("first open");
    sync_all(&first);
    first.close(); // closed, not dropped: the file's shared state stays alive

    let second_errors: Errors = Arc::default();
    let second = open(&path, recording(&second_errors, SyncConfig::new(&ts.url(), "wrong-token", "main"))).expect("reopen");
    eventually("the second handler sees the refused token", || !second_errors.lock().unwrap().is_empty());
    assert_eq!(second_errors.lock().unwrap()[0].server_code, Some(ServerErrorCode::BadToken));
    item(&second, 1, "pending");
    let e = session(&second).wait_for_upload(Duration::from_secs(5)).expect_err("the new token is refused");
    assert_eq!(e.code(), ErrorCode::Authentication, "{e}");
    assert!(first_errors.lock().unwrap().is_empty(), "the first opener's handler is not called for the second session");
    drop(first);
}

#[test]
fn reopen_after_every_handle_is_closed_uses_the_new_start_paused_and_manual_handler() {
    let ts = TestServer::start();
    let path = ts.path("p.realm");
    let first = open(&path, SyncConfig::new(&ts.url(), "alice-token", "main")).expect("first open");
    sync_all(&first);
    first.close();

    let mut sync = SyncConfig::new(&ts.url(), "alice-token", "main");
    sync.start_paused = true;
    let handled = Arc::new(Mutex::new(0));
    let h = handled.clone();
    sync.client_reset = ClientResetConfig::new(ClientResetMode::Manual);
    sync.client_reset.manual = Some(Arc::new(move |_| *h.lock().unwrap() += 1));
    let second = open(&path, sync).expect("reopen");
    let s = session(&second);
    assert!(s.is_paused(), "the new config's start_paused holds");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.state(), ConnectionState::Disconnected, "a paused session does not connect");
    ts.admin(driftsync::protocol::AdminCommand::Terminate);
    ts.admin(driftsync::protocol::AdminCommand::Enable);
    s.resume();
    eventually("the new config's manual handler ran", || *handled.lock().unwrap() == 1);
    drop(first);
}

#[test]
fn reopen_synced_after_a_local_open_records_changes_for_upload() {
    let ts = TestServer::start();
    let path = ts.path("l.realm");
    let local = Realm::open(RealmConfig::new(&path, schema())).expect("local open");
    local.close();
    let synced = open(&path, SyncConfig::new(&ts.url(), "alice-token", "main")).expect("synced reopen");
    item(&synced, 1, "written after the reopen");
    sync_all(&synced);
    let other = open_client(&ts.path("other.realm"), &ts.url(), "alice", ClientResetConfig::default());
    sync_all(&other);
    assert_eq!(name_of(&other, 1).as_deref(), Some("written after the reopen"), "the change was recorded and uploaded");
    drop(local);
}

#[test]
fn reopen_with_a_live_handle_and_other_sync_settings_is_an_invalid_argument() {
    let ts = TestServer::start();
    let path = ts.path("live.realm");
    let first = open(&path, SyncConfig::new(&ts.url(), "alice-token", "main")).expect("first open");

    let e = open(&path, SyncConfig::new(&ts.url(), "bob-token", "main")).expect_err("another token");
    assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}");
    assert!(e.to_string().contains("user token") && e.to_string().contains("close every handle"), "{e}");

    let e = Realm::open(RealmConfig::new(&path, schema())).expect_err("a local open of a synced file");
    assert!(e.to_string().contains("synced or local"), "{e}");

    let errors: Errors = Arc::default();
    let e = open(&path, recording(&errors, SyncConfig::new(&ts.url(), "alice-token", "main"))).expect_err("an added handler");
    assert!(e.to_string().contains("sync error handler"), "{e}");

    let mut discard = SyncConfig::new(&ts.url(), "alice-token", "main");
    discard.client_reset = ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges);
    let e = open(&path, discard).expect_err("another reset mode");
    assert!(e.to_string().contains("client reset mode"), "{e}");

    // The same settings open a second handle; the refused opens changed nothing.
    let second = open(&path, SyncConfig::new(&ts.url(), "alice-token", "main")).expect("same settings");
    assert_eq!(first.open_handle_count(), 2);
    item(&second, 1, "via the second handle");
    sync_all(&first);
}
