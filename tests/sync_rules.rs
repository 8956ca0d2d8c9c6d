//! Sync end to end: two real clients and the reference server on loopback. One named test per
//! rule of the DESIGN rulebook.

mod common;
use common::*;
use driftsync::*;

/// Two clients with both sessions paused: write offline on each, then sync A first, then B, so
/// B's changes come later in server order.
fn two_clients(ts: &TestServer) -> (Realm, Realm) {
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    let b = open_client(&ts.path("b.realm"), &ts.url(), "bob", ClientResetConfig::default());
    sync_all(&a);
    sync_all(&b);
    (a, b)
}

fn offline(r: &Realm) {
    session(r).pause();
    eventually("disconnected", || session(r).state() == sync::ConnectionState::Disconnected);
}

fn online(r: &Realm) {
    session(r).resume();
    sync_all(r);
}

/// A goes online first, then B, then A again: both have everything.
fn converge(a: &Realm, b: &Realm) {
    online(a);
    online(b);
    sync_all(a);
    assert_eq!(dump(a), dump(b), "clients converge");
}

#[test]
fn synced_change_reaches_the_other_client() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    sync_all(&a);
    sync_all(&b);
    assert_eq!(name_of(&b, 1).as_deref(), Some("one"));
}

#[test]
fn rule1_erase_wins_over_concurrent_modification() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| r.erase("Item", &1.into())).unwrap();
    b.write(|r| r.set("Item", &1.into(), "name", "changed".into())).unwrap();
    converge(&a, &b);
    assert_eq!(name_of(&a, 1), None);
    assert_eq!(name_of(&b, 1), None);
}

#[test]
fn rule1_erase_wins_even_when_the_modification_comes_later() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    b.write(|r| r.erase("Item", &1.into())).unwrap();
    a.write(|r| r.set("Item", &1.into(), "name", "changed".into())).unwrap();
    online(&b);
    online(&a);
    sync_all(&b);
    assert_eq!(name_of(&a, 1), None);
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn rule2_erasing_a_missing_object_is_a_noop() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    item(&a, 2, "two");
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| r.erase("Item", &1.into())).unwrap();
    b.write(|r| r.erase("Item", &1.into())).unwrap();
    converge(&a, &b);
    assert_eq!(a.count("Item").unwrap(), 1);
    assert_eq!(name_of(&b, 2).as_deref(), Some("two"));
}

#[test]
fn rule3_creating_an_existing_object_is_an_upsert() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    offline(&a);
    offline(&b);
    a.write(|r| r.create("Item", 7, &[("name", "from a".into()), ("count", 1.into())])).unwrap();
    b.write(|r| r.create("Item", 7, &[("name", "from b".into())])).unwrap();
    converge(&a, &b);
    let o = a.get("Item", &7.into()).unwrap().unwrap();
    assert_eq!(o.value("name"), Some(&Value::from("from b")), "the later creator's fields win");
    assert_eq!(o.value("count"), Some(&Value::Int(1)), "fields the later creator did not set stay");
}

#[test]
fn rule4_later_set_in_server_order_wins() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| r.set("Item", &1.into(), "name", "a".into())).unwrap();
    b.write(|r| r.set("Item", &1.into(), "name", "b".into())).unwrap();
    converge(&a, &b);
    assert_eq!(name_of(&a, 1).as_deref(), Some("b"));
}

#[test]
fn rule5_concurrent_list_inserts_all_survive() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    a.write(|r| {
        r.list_push("Item", &1.into(), "tags", "x".into())?;
        r.list_push("Item", &1.into(), "tags", "y".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| r.list_insert("Item", &1.into(), "tags", 1, "from-a".into())).unwrap();
    b.write(|r| {
        r.list_insert("Item", &1.into(), "tags", 1, "from-b".into())?;
        r.list_erase("Item", &1.into(), "tags", 0)
    })
    .unwrap();
    converge(&a, &b);
    let tags = a.get_list("Item", &1.into(), "tags").unwrap();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(tags.contains(&Value::from("from-a")) && tags.contains(&Value::from("from-b")) && tags.contains(&Value::from("y")));
    assert!(!tags.contains(&Value::from("x")));
}

#[test]
fn rule6_link_to_an_erased_object_becomes_null_or_leaves_the_list() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    item(&a, 2, "two");
    a.write(|r| r.create("Person", "p", &[])).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| r.erase("Item", &2.into())).unwrap();
    b.write(|r| {
        r.set("Item", &1.into(), "next", Value::Link(2.into()))?;
        r.list_push("Person", &"p".into(), "items", Value::Link(2.into()))?;
        r.list_push("Person", &"p".into(), "items", Value::Link(1.into()))
    })
    .unwrap();
    converge(&a, &b);
    assert_eq!(a.get_value("Item", &1.into(), "next").unwrap(), Value::Null);
    assert_eq!(a.get_list("Person", &"p".into(), "items").unwrap(), vec![Value::Link(1.into())]);
}

#[test]
fn rule7_additive_server_schema_change_merges() {
    let ts = TestServer::start();
    let (a, _b) = two_clients(&ts);
    item(&a, 1, "one");
    sync_all(&a);
    ts.admin(protocol::AdminCommand::ApplySchema { schema_json: schema_with_extra_class().to_json() });
    item(&a, 2, "two");
    sync_all(&a);
    let c = open_client_with_schema(&ts.path("c.realm"), &ts.url(), "alice", ClientResetConfig::default(), schema_with_extra_class());
    sync_all(&c);
    c.write(|r| r.create("Note", 1, &[("text", "hi".into())])).unwrap();
    sync_all(&c);
    assert_eq!(name_of(&c, 2).as_deref(), Some("two"));
    assert!(c.last_reset_report().unwrap().is_none(), "an additive change needs no reset");
}

#[test]
fn download_notifies_observers_with_exact_changes() {
    let ts = TestServer::start();
    let (a, b) = two_clients(&ts);
    item(&a, 1, "one");
    item(&a, 2, "two");
    sync_all(&a);
    sync_all(&b);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(ChangeSummary::default()));
    let s2 = seen.clone();
    let _t = b.observe(ObserverScope::Class("Item".into()), move |c| s2.lock().unwrap().merge(c)).unwrap();
    a.write(|r| {
        r.set("Item", &1.into(), "count", 5.into())?;
        r.set("Item", &2.into(), "name", "two".into())?; // same value: not a change
        r.create("Item", 3, &[])
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    let seen = seen.lock().unwrap();
    let c = &seen.classes["Item"];
    assert_eq!(c.inserted.iter().cloned().collect::<Vec<_>>(), vec![PrimaryKey::Int(3)]);
    assert_eq!(c.modified.len(), 1, "{c:?}");
    assert_eq!(c.modified[&1.into()].iter().map(String::from).collect::<Vec<_>>(), vec!["count".to_string()]);
}

#[test]
fn new_client_bootstraps_server_state_and_keeps_its_offline_data() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    for i in 0..50 {
        item(&a, i, &format!("n{i}"));
    }
    sync_all(&a);
    let mut cfg = sync_config(&ts.url(), "bob", ClientResetConfig::default());
    cfg.start_paused = true;
    let c = Realm::open(RealmConfig::new(ts.path("c.realm"), schema()).with_sync(cfg)).unwrap();
    item(&c, 1000, "offline");
    online(&c);
    assert_eq!(c.count("Item").unwrap(), 51);
    sync_all(&a);
    assert_eq!(name_of(&a, 1000).as_deref(), Some("offline"));
}

#[test]
fn pause_resume_and_connection_state_changes_are_reported() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    let states = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = states.clone();
    session(&a).on_state_change(move |_, new| s2.lock().unwrap().push(new));
    sync_all(&a);
    offline(&a);
    item(&a, 1, "x");
    assert!(session(&a).wait_for_upload(std::time::Duration::from_millis(300)).is_err(), "paused: no upload");
    online(&a);
    let st = states.lock().unwrap().clone();
    assert!(st.contains(&sync::ConnectionState::Disconnected) && st.contains(&sync::ConnectionState::Connected), "{st:?}");
    let p = session(&a).progress();
    assert!(p.uploaded >= p.uploadable && p.uploadable >= 1, "{p:?}");
}

#[test]
fn unknown_token_is_a_fatal_error_reported_to_the_app() {
    let ts = TestServer::start();
    let mut cfg = SyncConfig::new(&ts.url(), "nobody", "main");
    cfg.start_paused = true;
    let r = Realm::open(RealmConfig::new(ts.path("x.realm"), schema()).with_sync(cfg)).unwrap();
    let errs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let e2 = errs.clone();
    session(&r).on_error(move |e| e2.lock().unwrap().push(e.clone()));
    session(&r).resume();
    eventually("bad token reported", || !errs.lock().unwrap().is_empty());
    let e = errs.lock().unwrap()[0].clone();
    assert_eq!(e.server_code, Some(protocol::ServerErrorCode::BadToken));
    assert_eq!(e.action, protocol::ErrorAction::Fatal);
}

#[test]
fn acknowledged_history_is_trimmed_to_the_retention_and_unsynced_changes_stay() {
    let ts = TestServer::start();
    let mut cfg = sync_config(&ts.url(), "alice", ClientResetConfig::default());
    cfg.retain_acknowledged = 3;
    let a = Realm::open(RealmConfig::new(ts.path("a.realm"), schema()).with_sync(cfg)).unwrap();
    for i in 0..20 {
        item(&a, i, "x");
        sync_all(&a);
    }
    // One more round trip so the trim after the last download has run.
    item(&a, 100, "last");
    sync_all(&a);
    let kept = a.history_since(0).unwrap();
    assert!(kept.len() <= 4, "kept {} changesets", kept.len());
    assert_eq!(kept.last().map(|c| c.local_version), Some(a.last_local_version().unwrap()));
    offline(&a);
    for i in 200..205 {
        item(&a, i, "unsynced");
    }
    let unsynced = a.history_since(a.last_local_version().unwrap() - 5).unwrap();
    assert_eq!(unsynced.len(), 5, "unsynced changes are never trimmed");
    online(&a);
    let b = open_client(&ts.path("b.realm"), &ts.url(), "bob", ClientResetConfig::default());
    sync_all(&b);
    assert_eq!(b.count("Item").unwrap(), 26);
}

#[test]
fn write_the_role_may_not_make_is_undone_by_a_compensating_write() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    a.write(|r| {
        r.create("Item", 1, &[("name", "one".into())])?;
        r.create("Person", "q", &[("age", Value::Int(30))])
    })
    .unwrap();
    sync_all(&a);
    // Carol may write items but not persons.
    let c = open_client(&ts.path("c.realm"), &ts.url(), "carol", ClientResetConfig::default());
    sync_all(&c);
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let e2 = errors.clone();
    session(&c).on_error(move |e| e2.lock().unwrap().push(e.clone()));
    offline(&c);
    c.write(|r| {
        r.set("Item", &1.into(), "name", "carol's edit".into())?;
        r.create("Person", "p", &[])?;
        r.set("Person", &"q".into(), "age", Value::Int(99))
    })
    .unwrap();
    c.write(|r| r.set("Item", &1.into(), "count", Value::Int(5))).unwrap();
    // From here on, what observers see is the compensation (and the downloads).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(ChangeSummary::default()));
    let s2 = seen.clone();
    let _token = c.observe(ObserverScope::Class("Person".into()), move |ch| s2.lock().unwrap().merge(ch)).unwrap();
    online(&c);
    eventually("the warning", || errors.lock().unwrap().iter().any(|e| e.server_code == Some(protocol::ServerErrorCode::PermissionDenied)));
    sync_all(&c);
    assert_eq!(name_of(&c, 1).as_deref(), Some("carol's edit"), "the allowed write stays");
    assert_eq!(c.get_value("Item", &1.into(), "count").unwrap(), Value::Int(5));
    assert!(!c.exists("Person", &"p".into()).unwrap(), "the denied create is undone");
    assert_eq!(c.get_value("Person", &"q".into(), "age").unwrap(), Value::Int(30), "the denied set is undone");
    let persons = seen.lock().unwrap().classes.get("Person").cloned().unwrap_or_default();
    assert!(persons.erased.contains(&PrimaryKey::from("p")), "observers see the undo: {persons:?}");
    assert!(persons.modified.get(&PrimaryKey::from("q")).is_some_and(|p| p.contains("age")), "{persons:?}");
    sync_all(&a);
    assert_eq!(dump(&a), dump(&c), "carol converges with the server");
}
