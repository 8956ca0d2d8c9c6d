//! Realm's data kinds beyond scalars and lists (issue 15), end to end through the reference
//! server: per kind, a merge test per rule across two clients, a recovery and a discard client
//! reset, and bad input that gets a typed error and changes nothing.

mod common;
use common::*;
use driftsync::protocol::AdminCommand;
use driftsync::reset::ResetDecision;
use driftsync::*;

fn offline(r: &Realm) {
    let s = session(r);
    s.pause();
    eventually("disconnected", || s.state() == sync::ConnectionState::Disconnected);
}

fn online(r: &Realm) {
    session(r).resume();
    sync_all(r);
}

/// Two synced clients of the kinds schema that both have `Item[1]`.
fn two_clients(ts: &TestServer, reset: ClientResetConfig) -> (Realm, Realm) {
    let a = open_kinds_client(ts, "a.realm", "alice", reset);
    let b = open_kinds_client(ts, "b.realm", "bob", ClientResetConfig::default());
    item(&a, 1, "one");
    sync_all(&a);
    sync_all(&b);
    (a, b)
}

fn hits(r: &Realm, id: i64) -> Value {
    r.get_value("Item", &id.into(), "hits").unwrap()
}

/// The server terminates sync (every client must reset); `other` resets at once and writes
/// `after_terminate`, then `r` comes back online and resets. Returns `r`'s report.
fn reset_while_other_writes(ts: &TestServer, r: &Realm, other: &Realm, after_terminate: impl FnOnce(&Realm)) -> reset::ResetReport {
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    eventually("other resets", || other.last_reset_report().unwrap().is_some());
    sync_all(other);
    after_terminate(other);
    sync_all(other);
    session(r).resume();
    eventually("the reset", || r.last_reset_report().unwrap().is_some());
    sync_all(r);
    sync_all(other);
    r.last_reset_report().unwrap().unwrap()
}

// ---- counter ---------------------------------------------------------------------------------

#[test]
fn counter_concurrent_adds_merge_additively() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    a.write(|r| r.set("Item", &1.into(), "hits", 10.into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| r.counter_add("Item", &1.into(), "hits", 3)).unwrap();
    a.write(|r| r.counter_add("Item", &1.into(), "hits", 2)).unwrap();
    b.write(|r| r.counter_add("Item", &1.into(), "hits", -4)).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(hits(&a, 1), Value::Int(11), "10 + 3 + 2 - 4: every increment survives");
    assert_eq!(hits(&b, 1), Value::Int(11));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn counter_set_after_an_add_wins_and_an_add_after_a_set_counts_from_it() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    a.write(|r| r.counter_add("Item", &1.into(), "hits", 5)).unwrap();
    b.write(|r| r.set("Item", &1.into(), "hits", 100.into())).unwrap();
    // A's add reaches the server first, B's set later: the set wins (rule 4).
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(hits(&a, 1), Value::Int(100));
    assert_eq!(hits(&b, 1), Value::Int(100));
    // Now the set comes first and the add later: the add counts from the set value.
    offline(&a);
    offline(&b);
    a.write(|r| r.set("Item", &1.into(), "hits", 7.into())).unwrap();
    b.write(|r| r.counter_add("Item", &1.into(), "hits", 1)).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(hits(&a, 1), Value::Int(8), "7 set, then +1 in server order");
    assert_eq!(hits(&b, 1), Value::Int(8));
}

#[test]
fn counter_add_on_an_object_erased_concurrently_is_dropped() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    a.write(|r| r.erase("Item", &1.into())).unwrap();
    b.write(|r| r.counter_add("Item", &1.into(), "hits", 5)).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert!(!a.exists("Item", &1.into()).unwrap());
    assert!(!b.exists("Item", &1.into()).unwrap(), "erase wins over the add (rule 1)");
}

#[test]
fn counter_recovery_keeps_both_sides_increments_and_reports_dropped_adds() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    a.write(|r| {
        r.set("Item", &1.into(), "hits", 10.into())?;
        r.create("Item", 2, &[("hits", 1.into())])
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| {
        r.counter_add("Item", &1.into(), "hits", 3)?;
        r.counter_add("Item", &2.into(), "hits", 9)
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| {
        b.write(|r| {
            r.counter_add("Item", &1.into(), "hits", 4)?;
            r.erase("Item", &2.into())
        })
        .unwrap();
    });
    assert_eq!(rep.decision, ResetDecision::Recover);
    assert_eq!(hits(&a, 1), Value::Int(17), "10 + 4 (server) + 3 (recovered)");
    assert_eq!(hits(&b, 1), Value::Int(17), "the recovered add is uploaded");
    assert!(!a.exists("Item", &2.into()).unwrap());
    let reasons: Vec<String> = rep.dropped.iter().map(|d| format!("{} :: {}", d.instruction, d.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("add 9 to counter Item[2].hits") && r.contains("erased")), "{reasons:?}");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn counter_discard_takes_the_server_value() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    a.write(|r| r.set("Item", &1.into(), "hits", 10.into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| r.counter_add("Item", &1.into(), "hits", 3)).unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| b.write(|r| r.counter_add("Item", &1.into(), "hits", 4)).unwrap());
    assert_eq!(rep.decision, ResetDecision::Discard);
    assert_eq!(hits(&a, 1), Value::Int(14), "the local +3 is discarded");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn counter_bad_input_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("c.realm"), kinds_schema())).unwrap();
    r.write(|r| r.create("Item", 1, &[("hits", 2.into())])).unwrap();
    let before = r.last_local_version().unwrap();
    let not_counter = r.write(|r| r.counter_add("Item", &1.into(), "count", 1));
    assert!(matches!(not_counter, Err(Error::TypeMismatch(_))), "{not_counter:?}");
    let wrong_type = r.write(|r| r.set("Item", &1.into(), "hits", "many".into()));
    assert!(matches!(wrong_type, Err(Error::TypeMismatch(_))), "{wrong_type:?}");
    let missing = r.write(|r| r.counter_add("Item", &9.into(), "hits", 1));
    assert!(matches!(missing, Err(Error::ObjectNotFound { .. })), "{missing:?}");
    assert_eq!(r.get_value("Item", &1.into(), "hits").unwrap(), Value::Int(2));
    assert_eq!(r.last_local_version().unwrap(), before, "nothing was committed");
    let bad_schema = Schema::new(vec![ClassSchema::new(
        "C",
        "id",
        vec![Property::new("id", ScalarType::Int), Property { counter: true, ..Property::new("s", ScalarType::String) }],
    )]);
    assert!(matches!(bad_schema, Err(Error::InvalidSchema(_))), "{bad_schema:?}");
}

#[test]
fn counter_adds_notify_the_property_and_the_schema_json_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("c.realm"), kinds_schema())).unwrap();
    r.write(|r| r.create("Item", 1, &[])).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let _token = r.observe(ObserverScope::Realm, move |c: &ChangeSummary| s2.lock().unwrap().push(format!("{c:?}"))).unwrap();
    r.write(|r| r.counter_add("Item", &1.into(), "hits", 2)).unwrap();
    assert_eq!(r.get_value("Item", &1.into(), "hits").unwrap(), Value::Int(2), "null counts as 0");
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|c| c.contains("hits")), "{seen:?}");
    let json = kinds_schema().to_json();
    assert!(json.contains(r#""counter":true"#), "{json}");
    assert_eq!(Schema::from_json(&json).unwrap(), kinds_schema());
    assert!(!schema().to_json().contains("counter"), "schemas without counters keep their JSON");
}

#[test]
fn counter_add_made_before_the_first_sync_counts_once_after_the_bootstrap() {
    let ts = start_kinds_server();
    // A new file merges the server state under its local data (bootstrap) and replays its
    // history: the add is already in the object the server lacks and must not count twice.
    let a = open_kinds_client(&ts, "a.realm", "alice", ClientResetConfig::default());
    a.write(|r| r.create("Item", 1, &[])).unwrap();
    a.write(|r| r.counter_add("Item", &1.into(), "hits", -4)).unwrap();
    sync_all(&a);
    assert_eq!(hits(&a, 1), Value::Int(-4));
    let b = open_kinds_client(&ts, "b.realm", "bob", ClientResetConfig::default());
    sync_all(&b);
    assert_eq!(hits(&b, 1), Value::Int(-4));
}
