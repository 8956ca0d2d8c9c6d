//! Failures that reach the app at once (issue 11): waits end with the error that ends the
//! session; handlers on the sync configuration see the first connection; progress counts
//! offline changes; the library and the server log; the cycle guard as realm-core's.

mod common;
use common::*;
use driftsync::protocol::AdminCommand;
use driftsync::reset::{ResetDecision, ResetReport};
use driftsync::sync::{ConnectionState, SyncError};
use driftsync::*;
use driftsync_server::RoleDef;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// "Without timeout": as long as a wait can be asked for.
const FOREVER: Duration = Duration::MAX;
/// How soon a session-ending error must reach a pending wait.
const AT_ONCE: Duration = Duration::from_secs(1);

fn offline(r: &Realm) {
    let s = session(r);
    s.pause();
    eventually("disconnected", || s.state() == ConnectionState::Disconnected);
}

/// Makes the server demand a reset of every client file (terminate + enable) and resumes `r`.
fn demand_reset(ts: &TestServer, r: &Realm) {
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    session(r).resume();
}

fn open_with(path: &std::path::Path, sync: SyncConfig) -> Realm {
    Realm::open(RealmConfig::new(path, schema()).with_sync(sync)).expect("open synced realm")
}

/// Runs `f` on another thread and returns its result, or None if it took longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

// ---- 1. waits end with the error that ends the session ---------------------------------------

#[test]
fn visible_wait_without_timeout_on_a_wrong_token_returns_the_authentication_error_within_1s() {
    let ts = TestServer::start();
    let r = open_with(&ts.path("a.realm"), SyncConfig::new(&ts.url(), "wrong-token", "main"));
    item(&r, 1, "pending");
    let s = session(&r);
    let up = within(AT_ONCE, move || s.wait_for_upload(FOREVER)).expect("wait_for_upload returned within 1 s");
    let e = up.expect_err("the upload cannot complete");
    assert_eq!(e.code(), ErrorCode::Authentication, "{e}");
    assert!(e.to_string().contains("token"), "{e}");
    // A later wait, of either kind, ends at once with the same error.
    let s = session(&r);
    let down = within(AT_ONCE, move || s.wait_for_download(FOREVER)).expect("wait_for_download returned within 1 s");
    assert_eq!(down.expect_err("no download").code(), ErrorCode::Authentication);
    assert!(session(&r).is_paused(), "a fatal error stops the session");
}

#[test]
fn visible_wait_ends_with_permission_denied_when_the_role_may_not_open_the_realm() {
    let ts = TestServer::start_with(|c| {
        c.with_role("elsewhere", RoleDef { realms: vec!["other".into()], read: vec!["*".into()], write: vec!["*".into()] }).with_user(
            "dave",
            "dave-token",
            "elsewhere",
        )
    });
    let r = open_with(&ts.path("d.realm"), SyncConfig::new(&ts.url(), "dave-token", "main"));
    let s = session(&r);
    let e = within(AT_ONCE, move || s.wait_for_download(FOREVER)).expect("returned within 1 s").expect_err("refused");
    assert_eq!(e.code(), ErrorCode::PermissionDenied, "{e}");
    assert!(e.to_string().contains("may not open realm 'main'"), "{e}");
}

#[test]
fn visible_wait_for_download_pending_when_a_reset_goes_to_the_manual_handler_returns_the_reset_error_within_1s() {
    let ts = TestServer::start();
    let handled: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let h = handled.clone();
    let mut cfg = ClientResetConfig::new(ClientResetMode::Manual);
    cfg.manual = Some(Arc::new(move |_m: &reset::ManualReset| {
        *h.lock().unwrap() = Some(Instant::now());
    }));
    let r = open_client(&ts.path("m.realm"), &ts.url(), "alice", cfg);
    sync_all(&r);
    offline(&r);
    item(&r, 1, "unsynced");
    // The wait is pending (the session is paused) when the reset demand arrives.
    let s = session(&r);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let res = s.wait_for_download(FOREVER);
        let _ = tx.send((res, Instant::now()));
    });
    std::thread::sleep(Duration::from_millis(100));
    demand_reset(&ts, &r);
    let (res, returned) = rx.recv_timeout(T).expect("the pending wait returned");
    let e = res.expect_err("the download cannot complete");
    assert_eq!(e, Error::ClientReset { cause: "sync_reenabled".into(), message: e_message(&e) });
    eventually("the handler ran", || handled.lock().unwrap().is_some());
    let handled_at = handled.lock().unwrap().expect("handled");
    let gap = if returned > handled_at { returned - handled_at } else { handled_at - returned };
    assert!(gap < AT_ONCE, "the wait returned {gap:?} away from the manual handler call");
    // A later wait ends at once too.
    let s = session(&r);
    let later = within(AT_ONCE, move || s.wait_for_upload(FOREVER)).expect("returned within 1 s");
    assert_eq!(later.expect_err("upload cannot complete").code(), ErrorCode::ClientReset);
}

fn e_message(e: &Error) -> String {
    match e {
        Error::ClientReset { message, .. } => message.clone(),
        other => panic!("not a reset error: {other}"),
    }
}

#[test]
fn visible_failed_automatic_reset_ends_the_waits() {
    let ts = TestServer::start();
    let path = ts.path("f.realm");
    let r = open_client(&path, &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    sync_all(&r);
    offline(&r);
    item(&r, 1, "unsynced");
    // A directory in the way of the fresh copy: the automatic reset cannot download.
    let fresh = reset::fresh::fresh_path(r.path());
    std::fs::create_dir_all(fresh.join("in-the-way")).unwrap();
    let s = session(&r);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(s.wait_for_upload(FOREVER));
    });
    demand_reset(&ts, &r);
    let e = rx.recv_timeout(T).expect("the pending wait returned").expect_err("the upload cannot complete");
    match &e {
        Error::ClientReset { cause, message } => {
            assert_eq!(cause, "sync_reenabled");
            assert!(message.contains("automatic client reset failed"), "{message}");
        }
        other => panic!("expected a client reset error, got {other}"),
    }
    assert!(session(&r).is_paused());
    assert_eq!(name_of(&r, 1).as_deref(), Some("unsynced"), "nothing was lost");
}

/// A realm whose server is down (every connection fails with a retryable error), with an error
/// handler on its config; returns the server (for its directory), the realm and what the handler saw.
fn open_with_server_down(file: &str) -> (TestServer, Realm, Arc<Mutex<Vec<SyncError>>>) {
    let mut ts = TestServer::start();
    let url = ts.url();
    ts.server.stop();
    let errors = Arc::new(Mutex::new(Vec::<SyncError>::new()));
    let e2 = errors.clone();
    let sync = SyncConfig::new(&url, "alice-token", "main").with_error_handler(move |e| e2.lock().unwrap().push(e.clone()));
    let r = open_with(&ts.path(file), sync);
    (ts, r, errors)
}

#[test]
fn visible_retryable_error_leaves_waits_waiting() {
    let (_ts, r, errors) = open_with_server_down("down.realm");
    item(&r, 1, "pending");
    let started = Instant::now();
    let e = session(&r).wait_for_upload(Duration::from_millis(1500)).expect_err("cannot upload");
    assert_eq!(e.code(), ErrorCode::Timeout, "a retryable error is no reason to stop waiting: {e}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let seen = errors.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the connection failures happened while the wait waited");
    assert!(seen.iter().all(|e| e.retryable), "{seen:?}");
    assert!(!session(&r).is_paused(), "the session keeps retrying");
}

#[test]
fn visible_unusable_url_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["http://127.0.0.1:1", "ws://", "ws:///path", "ws://host:port", "ws://host:99999", "127.0.0.1:9000", "ws://[::1"] {
        let cfg = RealmConfig::new(dir.path().join("u.realm"), schema()).with_sync(SyncConfig::new(url, "t", "main"));
        match Realm::open(cfg) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(url), "{m}"),
            Err(other) => panic!("{url}: expected InvalidArgument, got {other}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
    assert!(!dir.path().join("u.realm").exists(), "a refused config creates no file");
    for url in ["ws://127.0.0.1:9", "wss://example.com/sync", "ws://[::1]:9000", "ws://localhost"] {
        assert!(SyncConfig::new(url, "t", "main").validate().is_ok(), "{url}");
    }
}

// ---- 2. handlers on the configuration --------------------------------------------------------

#[test]
fn visible_error_handler_on_the_config_sees_the_first_connection_with_a_bad_token() {
    let ts = TestServer::start();
    let errors = Arc::new(Mutex::new(Vec::<SyncError>::new()));
    let states = Arc::new(Mutex::new(Vec::<(ConnectionState, ConnectionState)>::new()));
    let (e2, s2) = (errors.clone(), states.clone());
    let sync = SyncConfig::new(&ts.url(), "wrong-token", "main")
        .with_error_handler(move |e| e2.lock().unwrap().push(e.clone()))
        .with_state_handler(move |old, new| s2.lock().unwrap().push((old, new)));
    let r = open_with(&ts.path("h.realm"), sync);
    eventually("the error handler ran", || !errors.lock().unwrap().is_empty());
    let first = errors.lock().unwrap()[0].clone();
    assert_eq!(first.server_code, Some(protocol::ServerErrorCode::BadToken), "{first:?}");
    assert!(!first.retryable);
    assert_eq!(
        states.lock().unwrap().first().copied(),
        Some((ConnectionState::Disconnected, ConnectionState::Connecting)),
        "the state handler saw the first connection attempt"
    );
    drop(r);
}

#[test]
fn visible_error_handler_on_the_config_sees_a_server_that_is_down() {
    let (_ts, _r, errors) = open_with_server_down("h2.realm");
    eventually("the first connection's error", || !errors.lock().unwrap().is_empty());
    let first = errors.lock().unwrap()[0].clone();
    assert_eq!(first.server_code, None);
    assert!(first.retryable, "{first:?}");
}

// ---- 3. progress counts local changes while offline ------------------------------------------

#[test]
fn visible_progress_counts_local_changes_while_offline() {
    let ts = TestServer::start();
    let mut sync = SyncConfig::new(&ts.url(), "alice-token", "main");
    sync.start_paused = true;
    let r = open_with(&ts.path("p.realm"), sync);
    let base = session(&r).progress();
    item(&r, 1, "a");
    item(&r, 2, "b");
    let p = session(&r).progress();
    assert_eq!(p.uploadable, base.uploadable + 2, "{p:?}");
    assert_eq!(p.uploadable, r.last_local_version().unwrap());
    assert!(p.uploaded < p.uploadable, "changes are pending: {p:?}");
    session(&r).resume();
    session(&r).wait_for_upload(T).unwrap();
    let synced = session(&r).progress();
    assert_eq!(synced.uploaded, synced.uploadable, "{synced:?}");
    // Offline again: a new change is pending at once.
    offline(&r);
    item(&r, 3, "c");
    let p = session(&r).progress();
    assert_eq!((p.uploaded, p.uploadable), (synced.uploaded, synced.uploadable + 1), "{p:?}");
}

#[test]
fn visible_progress_is_known_when_a_synced_file_is_reopened() {
    let ts = TestServer::start();
    let path = ts.path("p2.realm");
    let acked = {
        let r = open_client(&path, &ts.url(), "alice", ClientResetConfig::default());
        item(&r, 1, "a");
        sync_all(&r);
        let acked = session(&r).progress().uploaded;
        offline(&r);
        item(&r, 2, "b");
        acked
    };
    let mut sync = SyncConfig::new(&ts.url(), "alice-token", "main");
    sync.start_paused = true;
    let r = open_with(&path, sync);
    let p = session(&r).progress();
    assert_eq!((p.uploaded, p.uploadable), (acked, acked + 1), "{p:?}");
}

// ---- 4. logging --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Line {
    level: log::Level,
    target: String,
    message: String,
    thread: ThreadId,
}

struct Capture(Mutex<Vec<Line>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let line = Line { level: r.level(), target: r.target().into(), message: r.args().to_string(), thread: std::thread::current().id() };
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

/// Every line logged in this test process (library and in-process server).
fn captured() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).expect("the test's logger is the only one");
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

fn lines(f: impl Fn(&Line) -> bool) -> Vec<Line> {
    captured().0.lock().unwrap().iter().filter(|l| f(l)).cloned().collect()
}

#[test]
fn visible_reset_logs_one_line_per_pipeline_step() {
    captured();
    let ts = TestServer::start();
    let sync_thread: Arc<Mutex<Option<ThreadId>>> = Arc::new(Mutex::new(None));
    let t2 = sync_thread.clone();
    let mut cfg = ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges);
    // The before hook runs on the session's sync thread: its lines are this reset's.
    cfg.before = Some(Arc::new(move |_: &Realm| {
        *t2.lock().unwrap() = Some(std::thread::current().id());
        Ok(())
    }));
    let r = open_client(&ts.path("log.realm"), &ts.url(), "alice", cfg);
    sync_all(&r);
    offline(&r);
    item(&r, 1, "offline");
    demand_reset(&ts, &r);
    eventually("the reset completed", || r.last_reset_report().unwrap().is_some());
    sync_all(&r);
    let thread = sync_thread.lock().unwrap().expect("the before hook ran");
    let reset_lines = lines(|l| l.thread == thread && l.target == "driftsync::reset");
    let steps = ["decide: Recover because", "download: ", "diff: ", "replay: ", "commit: "];
    for step in steps {
        let n = reset_lines.iter().filter(|l| l.message.starts_with(step)).count();
        assert_eq!(n, 1, "one '{step}' line in {reset_lines:#?}");
    }
    let download = reset_lines.iter().find(|l| l.message.starts_with("download: ")).unwrap();
    assert!(download.message.contains(" bytes in ") && download.message.contains(" ms"), "{download:?}");
    let replay = reset_lines.iter().find(|l| l.message.starts_with("replay: ")).unwrap();
    assert!(replay.message.contains("1 changesets"), "{replay:?}");
    assert!(reset_lines.iter().any(|l| l.message.starts_with("the server demands a client reset")), "{reset_lines:#?}");
    // The other categories.
    let name = r.path().display().to_string();
    assert!(lines(|l| l.target == "driftsync::storage" && l.message.contains(&name)).iter().any(|l| l.level == log::Level::Info));
    assert!(!lines(|l| l.target == "driftsync::sync" && l.message.contains(&name) && l.message.starts_with("bound ")).is_empty());
}

#[test]
fn visible_server_logs_binds_reset_demands_refused_tokens_and_admin_commands_never_a_token() {
    captured();
    let ts = TestServer::start();
    let r = open_with(&ts.path("srv.realm"), SyncConfig::new(&ts.url(), "alice-token", "server-logged"));
    sync_all(&r);
    let ident = driftsync::sync::integrate::cursor(&r).unwrap().ident.expect("an ident");
    let bad = open_with(&ts.path("bad.realm"), SyncConfig::new(&ts.url(), "secret-wrong-token", "server-logged-refused"));
    let s = session(&bad);
    assert_eq!(s.wait_for_download(T).unwrap_err().code(), ErrorCode::Authentication);
    offline(&r);
    demand_reset(&ts, &r);
    eventually("the reset completed", || r.last_reset_report().unwrap().is_some());
    sync_all(&r);

    let server = |needle: &str| lines(|l| l.target == "driftsync_server" && l.message.contains(needle));
    let bind = format!("bind: user 'alice' realm 'server-logged' client file {ident}");
    assert!(!server(&bind).is_empty(), "no '{bind}' line");
    assert!(!server("refused token: realm 'server-logged-refused'").is_empty());
    let demand = format!("reset demand: realm 'server-logged' client file {ident} cause sync_reenabled");
    assert!(!server(&demand).is_empty(), "no '{demand}' line");
    assert!(!server("admin: terminate").is_empty() && !server("admin: enable").is_empty());
    // (Other crates' trace lines, tungstenite's frames, are not driftsync's log.)
    let leaked = lines(|l| l.target.starts_with("driftsync") && (l.message.contains("-token") || l.message.contains(ADMIN)));
    assert!(leaked.is_empty(), "a token was logged: {leaked:#?}");
}

// ---- 5. the cycle guard, end to end ------------------------------------------------------------

/// Opens with `mode`; the first automatic reset is cut off by pausing sync from the after hook,
/// so neither its upload nor its download completes (the pending record stays).
fn open_interrupting(ts: &TestServer, path: &std::path::Path, mode: ClientResetMode) -> Realm {
    let interrupt = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut cfg = ClientResetConfig::new(mode);
    cfg.after = Some(Arc::new(move |_: &Realm, live: &Realm, _| {
        if let Some(s) = live.sync_session().filter(|_| interrupt.swap(false, std::sync::atomic::Ordering::SeqCst)) {
            s.pause();
        }
        Ok(())
    }));
    open_client(path, &ts.url(), "alice", cfg)
}

fn interrupted_reset(ts: &TestServer, r: &Realm, want: ResetDecision) {
    sync_all(r);
    offline(r);
    item(r, 1, "first offline");
    demand_reset(ts, r);
    eventually("first reset", || r.last_reset_report().unwrap().is_some());
    assert_eq!(r.last_reset_report().unwrap().unwrap().decision, want);
    eventually("paused by the hook", || session(r).is_paused() && session(r).state() == ConnectionState::Disconnected);
    assert!(reset::pending_reset(r).unwrap().is_some(), "the first reset has not completed");
}

fn second_reset(ts: &TestServer, r: &Realm) -> ResetReport {
    let before = r.last_reset_report().unwrap().map(|rep| rep.completed_at_ms).unwrap_or(0);
    item(r, 2, "second offline");
    demand_reset(ts, r);
    eventually("a new reset report", || r.last_reset_report().unwrap().is_some_and(|rep| rep.completed_at_ms > before));
    r.last_reset_report().unwrap().unwrap()
}

#[test]
fn visible_cycle_guard_row_a_discard_is_allowed_after_an_incomplete_recover() {
    let ts = TestServer::start();
    let path = ts.path("ga.realm");
    let r = open_interrupting(&ts, &path, ClientResetMode::RecoverUnsyncedChanges);
    interrupted_reset(&ts, &r, ResetDecision::Recover);
    assert_eq!(reset::pending_reset(&r).unwrap().unwrap().action, Some(protocol::ErrorAction::ClientReset));
    drop(r);
    // The app reopens the file in Discard mode: discarding breaks the cycle, so it is allowed.
    let r = open_client(&path, &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    offline(&r);
    let second = second_reset(&ts, &r);
    assert_eq!(second.decision, ResetDecision::Discard, "previous Recover + Discard => Discard (realm-core)");
    sync_all(&r);
    assert_eq!(name_of(&r, 2), None, "discarded");
}

#[test]
fn visible_cycle_guard_row_b_a_demand_with_another_action_starts_the_guard_over() {
    let ts = TestServer::start();
    let r = open_interrupting(&ts, &ts.path("gb.realm"), ClientResetMode::RecoverOrDiscardUnsyncedChanges);
    // The first demand does not allow recovery: RecoverOrDiscard discards.
    ts.admin(AdminCommand::SetRecoveryDisabled { disabled: true });
    interrupted_reset(&ts, &r, ResetDecision::Discard);
    assert_eq!(reset::pending_reset(&r).unwrap().unwrap().action, Some(protocol::ErrorAction::ClientResetNoRecovery));
    // The next demand allows recovery: another action, so the guard starts over and recovers
    // (before, an incomplete Discard made it Manual).
    ts.admin(AdminCommand::SetRecoveryDisabled { disabled: false });
    let second = second_reset(&ts, &r);
    assert_eq!(second.decision, ResetDecision::Recover, "{second:?}");
    sync_all(&r);
    assert_eq!(name_of(&r, 2).as_deref(), Some("second offline"), "recovered");
}

#[test]
fn visible_session_ending_errors_are_typed_by_server_code() {
    use driftsync::protocol::{ErrorAction, ResetCause, ServerErrorCode as C};
    let err = |code: Option<C>, action: ErrorAction, cause: Option<ResetCause>| {
        SyncError { server_code: code, action, cause, message: "m".into(), retryable: false, restored_at: None }.to_error()
    };
    let fatal = ErrorAction::Fatal;
    assert_eq!(err(Some(C::BadToken), fatal, None), Error::Authentication("m".into()));
    assert_eq!(err(Some(C::PermissionDenied), fatal, None), Error::PermissionDenied("m".into()));
    for c in [C::UnsupportedProtocolVersion, C::BadMessage, C::BadChangeset] {
        assert_eq!(err(Some(c), fatal, None), Error::Protocol("m".into()), "{c:?}");
    }
    assert_eq!(err(Some(C::UnknownRealm), fatal, None), Error::Sync("m".into()));
    assert_eq!(err(None, fatal, None), Error::Sync("m".into()));
    let reset = err(Some(C::ClientResetRequired), ErrorAction::ClientResetNoRecovery, Some(ResetCause::ClientTooOld));
    assert_eq!(reset, Error::ClientReset { cause: "client_too_old".into(), message: "m".into() });
}
