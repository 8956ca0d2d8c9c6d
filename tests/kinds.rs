//! Realm's data kinds beyond scalars and lists (issue 15), end to end through the reference
//! server: per kind, a merge test per rule across two clients, a recovery and a discard client
//! reset, and bad input that gets a typed error and changes nothing.

mod common;
use common::*;
use driftsync::reset::ResetDecision;
use driftsync::*;

fn hits(r: &Realm, id: i64) -> Value {
    r.get_value("Item", &id.into(), "hits").unwrap()
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
fn counter_local_set_then_add_survive_a_rebase_on_a_concurrent_change_of_the_object() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    a.write(|r| r.set("Item", &1.into(), "hits", 10.into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| r.set("Item", &1.into(), "hits", 4.into())).unwrap();
    a.write(|r| r.counter_add("Item", &1.into(), "hits", -1)).unwrap();
    // B's change of another field reaches the server first: A rebases its set and its add on it.
    b.write(|r| r.set("Item", &1.into(), "name", "b".into())).unwrap();
    sync_all(&b);
    online(&a);
    sync_all(&b);
    assert_eq!(hits(&a, 1), Value::Int(3), "the set applied again, then the add on top of it");
    assert_eq!(hits(&b, 1), Value::Int(3));
    assert_eq!(dump(&a), dump(&b));
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
    assert_invalid(Property { counter: true, ..Property::new("s", ScalarType::String) });
}

#[test]
fn counter_adds_notify_the_property_and_the_schema_json_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("c.realm"), kinds_schema())).unwrap();
    r.write(|r| r.create("Item", 1, &[])).unwrap();
    let (seen, _token) = record_changes(&r);
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

// ---- set -------------------------------------------------------------------------------------

fn labels(r: &Realm, id: i64) -> Vec<Value> {
    r.get_set("Item", &id.into(), "labels").unwrap()
}

#[test]
fn set_concurrent_adds_of_one_element_give_one_element() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    a.write(|r| {
        r.set_add("Item", &1.into(), "labels", "red".into())?;
        r.set_add("Item", &1.into(), "labels", "blue".into())
    })
    .unwrap();
    b.write(|r| {
        r.set_add("Item", &1.into(), "labels", "red".into())?;
        r.set_add("Item", &1.into(), "labels", "green".into())
    })
    .unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    // Canonical order is the order of the elements' record encoding (shorter strings first).
    assert_eq!(labels(&a, 1), strings(&["red", "blue", "green"]), "one red, in the same order everywhere");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn set_add_and_remove_of_one_element_the_later_in_server_order_wins() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    a.write(|r| r.set_add("Item", &1.into(), "labels", "x".into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    // A removes x, B adds it again; B reaches the server later: x stays.
    offline(&a);
    offline(&b);
    a.write(|r| r.set_remove("Item", &1.into(), "labels", "x".into())).unwrap();
    b.write(|r| r.set_add("Item", &1.into(), "labels", "x".into())).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(labels(&a, 1), strings(&["x"]));
    assert_eq!(labels(&b, 1), strings(&["x"]));
    // Now the add comes first and the remove later: x goes.
    offline(&a);
    offline(&b);
    a.write(|r| r.set_add("Item", &1.into(), "labels", "x".into())).unwrap();
    b.write(|r| r.set_remove("Item", &1.into(), "labels", "x".into())).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert!(labels(&a, 1).is_empty(), "{:?}", labels(&a, 1));
    assert!(labels(&b, 1).is_empty());
}

#[test]
fn set_links_to_erased_objects_leave_the_set() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    item(&a, 2, "two");
    item(&a, 3, "three");
    a.write(|r| r.set_add("Item", &1.into(), "friends", Value::Link(2.into()))).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| {
        r.erase("Item", &2.into())?;
        r.erase("Item", &3.into())
    })
    .unwrap();
    b.write(|r| r.set_add("Item", &1.into(), "friends", Value::Link(3.into()))).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert!(a.get_set("Item", &1.into(), "friends").unwrap().is_empty(), "the erased 2 left; the add of erased 3 was dropped");
    assert!(b.get_set("Item", &1.into(), "friends").unwrap().is_empty());
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn set_recovery_merges_element_by_element_and_reports_dropped_links() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    item(&a, 2, "two");
    a.write(|r| {
        r.set_add("Item", &1.into(), "labels", "keep".into())?;
        r.set_add("Item", &1.into(), "labels", "drop-me".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| {
        r.set_remove("Item", &1.into(), "labels", "drop-me".into())?;
        r.set_add("Item", &1.into(), "labels", "local".into())?;
        r.set_add("Item", &1.into(), "friends", Value::Link(2.into()))
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| {
        b.write(|r| {
            r.set_add("Item", &1.into(), "labels", "server".into())?;
            r.erase("Item", &2.into())
        })
        .unwrap();
    });
    assert_eq!(rep.decision, ResetDecision::Recover);
    assert_eq!(labels(&a, 1), strings(&["keep", "local", "server"]));
    assert!(a.get_set("Item", &1.into(), "friends").unwrap().is_empty());
    let reasons: Vec<String> = rep.dropped.iter().map(|d| format!("{} :: {}", d.instruction, d.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("to set Item[1].friends") && r.contains("left the set")), "{reasons:?}");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn set_discard_takes_the_server_elements() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    a.write(|r| r.set_add("Item", &1.into(), "labels", "base".into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| {
        r.set_add("Item", &1.into(), "labels", "local".into())?;
        r.set_clear("Item", &1.into(), "labels")
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| b.write(|r| r.set_add("Item", &1.into(), "labels", "server".into())).unwrap());
    assert_eq!(rep.decision, ResetDecision::Discard);
    assert_eq!(labels(&a, 1), strings(&["base", "server"]));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn set_bad_input_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("s.realm"), kinds_schema())).unwrap();
    r.write(|r| {
        r.create("Item", 1, &[])?;
        r.set_add("Item", &1.into(), "labels", "a".into())
    })
    .unwrap();
    let before = r.last_local_version().unwrap();
    let expect_type_error = |res: Result<()>| assert!(matches!(res, Err(Error::TypeMismatch(_))), "{res:?}");
    expect_type_error(r.write(|r| r.set_add("Item", &1.into(), "labels", 5.into())));
    expect_type_error(r.write(|r| r.set_add("Item", &1.into(), "labels", Value::Null)));
    expect_type_error(r.write(|r| r.set_add("Item", &1.into(), "tags", "a list".into())));
    expect_type_error(r.write(|r| r.set("Item", &1.into(), "labels", "whole".into())));
    expect_type_error(r.write(|r| r.create("Item", 2, &[("labels", "x".into())])));
    expect_type_error(r.write(|r| r.list_push("Item", &1.into(), "labels", "x".into())));
    let missing = r.write(|r| r.set_add("Item", &1.into(), "friends", Value::Link(9.into())));
    assert!(matches!(missing, Err(Error::ObjectNotFound { .. })), "{missing:?}");
    assert_eq!(r.get_set("Item", &1.into(), "labels").unwrap(), strings(&["a"]));
    assert!(!r.exists("Item", &2.into()).unwrap());
    assert_eq!(r.last_local_version().unwrap(), before, "nothing was committed");
    for bad in [
        Property { set: true, ..Property::new("both", ScalarType::String).list() },
        Property { optional: true, ..Property::link_set("nulls", "C") },
        Property { set: true, ..Property::counter("n") },
    ] {
        assert_invalid(bad);
    }
}

#[test]
fn set_changes_notify_the_property_and_the_file_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.realm");
    {
        let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
        r.write(|r| r.create("Item", 1, &[])).unwrap();
        let (seen, _token) = record_changes(&r);
        r.write(|r| {
            r.set_add("Item", &1.into(), "labels", "b".into())?;
            r.set_add("Item", &1.into(), "labels", "a".into())?;
            r.set_add("Item", &1.into(), "labels", "b".into())
        })
        .unwrap();
        assert!(seen.lock().unwrap().iter().any(|c| c.contains("labels")), "{:?}", seen.lock().unwrap());
        r.write(|r| r.set_remove("Item", &1.into(), "labels", "zzz".into())).unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1, "removing an absent element changes nothing");
        r.close();
    }
    let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
    assert_eq!(r.get_set("Item", &1.into(), "labels").unwrap(), strings(&["a", "b"]));
    assert_eq!(r.get("Item", &1.into()).unwrap().unwrap().field("labels"), Some(&FieldValue::Set(strings(&["a", "b"]))));
    let json = kinds_schema().to_json();
    assert!(json.contains(r#""set":true"#), "{json}");
    assert_eq!(Schema::from_json(&json).unwrap(), kinds_schema());
}

// ---- dictionary ------------------------------------------------------------------------------

fn attrs(r: &Realm, id: i64) -> Vec<(String, Value)> {
    r.get_dict("Item", &id.into(), "attrs").unwrap()
}

fn entries(v: &[(&str, &str)]) -> Vec<(String, Value)> {
    v.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
}

#[test]
fn dictionary_inserts_and_erases_merge_key_by_key() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    a.write(|r| {
        r.dict_set("Item", &1.into(), "attrs", "color", "red".into())?;
        r.dict_set("Item", &1.into(), "attrs", "size", "L".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| {
        r.dict_set("Item", &1.into(), "attrs", "shape", "round".into())?;
        r.dict_erase("Item", &1.into(), "attrs", "color")
    })
    .unwrap();
    b.write(|r| {
        r.dict_set("Item", &1.into(), "attrs", "weight", "3kg".into())?;
        r.dict_erase("Item", &1.into(), "attrs", "size")
    })
    .unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(attrs(&a, 1), entries(&[("shape", "round"), ("weight", "3kg")]));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn dictionary_concurrent_sets_of_one_key_the_later_in_server_order_wins() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    a.write(|r| r.dict_set("Item", &1.into(), "attrs", "color", "from a".into())).unwrap();
    b.write(|r| r.dict_set("Item", &1.into(), "attrs", "color", "from b".into())).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(attrs(&a, 1), entries(&[("color", "from b")]), "B reached the server later");
    assert_eq!(attrs(&b, 1), entries(&[("color", "from b")]));
}

#[test]
fn dictionary_clear_removes_only_the_keys_the_clearing_side_had_seen() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    a.write(|r| r.dict_set("Item", &1.into(), "attrs", "old", "x".into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    b.write(|r| r.dict_set("Item", &1.into(), "attrs", "new", "y".into())).unwrap();
    a.write(|r| r.dict_clear("Item", &1.into(), "attrs")).unwrap();
    online(&b);
    online(&a);
    sync_all(&b);
    assert_eq!(attrs(&a, 1), entries(&[("new", "y")]), "the key A never saw survives A's later clear");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn dictionary_link_to_an_erased_object_becomes_null() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    item(&a, 2, "two");
    item(&a, 3, "three");
    a.write(|r| r.dict_set("Item", &1.into(), "refs", "best", Value::Link(2.into()))).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| {
        r.erase("Item", &2.into())?;
        r.erase("Item", &3.into())
    })
    .unwrap();
    b.write(|r| r.dict_set("Item", &1.into(), "refs", "next", Value::Link(3.into()))).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    let want = vec![("best".to_string(), Value::Null), ("next".to_string(), Value::Null)];
    assert_eq!(a.get_dict("Item", &1.into(), "refs").unwrap(), want);
    assert_eq!(b.get_dict("Item", &1.into(), "refs").unwrap(), want);
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn dictionary_recovery_merges_key_by_key_and_reports_what_changed() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    item(&a, 2, "two");
    a.write(|r| {
        r.dict_set("Item", &1.into(), "attrs", "both", "base".into())?;
        r.dict_set("Item", &1.into(), "attrs", "gone", "base".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| {
        r.dict_set("Item", &1.into(), "attrs", "both", "local".into())?;
        r.dict_erase("Item", &1.into(), "attrs", "gone")?;
        r.dict_set("Item", &1.into(), "attrs", "mine", "local".into())?;
        r.dict_set("Item", &1.into(), "refs", "r", Value::Link(2.into()))
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| {
        b.write(|r| {
            r.dict_set("Item", &1.into(), "attrs", "both", "server".into())?;
            r.dict_set("Item", &1.into(), "attrs", "theirs", "server".into())?;
            r.erase("Item", &2.into())
        })
        .unwrap();
    });
    assert_eq!(rep.decision, ResetDecision::Recover);
    assert_eq!(attrs(&a, 1), entries(&[("both", "local"), ("mine", "local"), ("theirs", "server")]));
    assert_eq!(a.get_dict("Item", &1.into(), "refs").unwrap(), vec![("r".to_string(), Value::Null)]);
    let reasons: Vec<String> = rep.dropped.iter().map(|d| format!("{} :: {}", d.instruction, d.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("refs[\"r\"]") && r.contains("null")), "{reasons:?}");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn dictionary_discard_takes_the_server_entries() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    a.write(|r| r.dict_set("Item", &1.into(), "attrs", "k", "base".into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| {
        r.dict_set("Item", &1.into(), "attrs", "k", "local".into())?;
        r.dict_set("Item", &1.into(), "attrs", "extra", "local".into())
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| b.write(|r| r.dict_set("Item", &1.into(), "attrs", "s", "server".into())).unwrap());
    assert_eq!(rep.decision, ResetDecision::Discard);
    assert_eq!(attrs(&a, 1), entries(&[("k", "base"), ("s", "server")]));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn dictionary_bad_input_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("d.realm"), kinds_schema())).unwrap();
    r.write(|r| {
        r.create("Item", 1, &[])?;
        r.dict_set("Item", &1.into(), "attrs", "k", "v".into())
    })
    .unwrap();
    let before = r.last_local_version().unwrap();
    let expect_type_error = |res: Result<()>| assert!(matches!(res, Err(Error::TypeMismatch(_))), "{res:?}");
    expect_type_error(r.write(|r| r.dict_set("Item", &1.into(), "attrs", "k", 5.into())));
    expect_type_error(r.write(|r| r.dict_set("Item", &1.into(), "attrs", "k", Value::Null)));
    expect_type_error(r.write(|r| r.dict_set("Item", &1.into(), "refs", "k", "not a link".into())));
    expect_type_error(r.write(|r| r.dict_set("Item", &1.into(), "labels", "k", "a set".into())));
    expect_type_error(r.write(|r| r.set("Item", &1.into(), "attrs", "whole".into())));
    expect_type_error(r.write(|r| r.create("Item", 2, &[("attrs", "x".into())])));
    let missing = r.write(|r| r.dict_set("Item", &1.into(), "refs", "k", Value::Link(9.into())));
    assert!(matches!(missing, Err(Error::ObjectNotFound { .. })), "{missing:?}");
    assert_eq!(r.get_dict("Item", &1.into(), "attrs").unwrap(), entries(&[("k", "v")]));
    assert_eq!(r.last_local_version().unwrap(), before, "nothing was committed");
    for bad in [
        Property { dictionary: true, ..Property::new("both", ScalarType::String).set() },
        Property { optional: false, ..Property::link("refs", "C").dictionary() },
        Property { dictionary: true, ..Property::counter("n") },
    ] {
        assert_invalid(bad);
    }
}

#[test]
fn dictionary_changes_notify_the_property_and_the_file_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.realm");
    {
        let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
        r.write(|r| r.create("Item", 1, &[])).unwrap();
        let (seen, _token) = record_changes(&r);
        r.write(|r| {
            r.dict_set("Item", &1.into(), "attrs", "z", "1".into())?;
            r.dict_set("Item", &1.into(), "attrs", "a", "2".into())
        })
        .unwrap();
        assert!(seen.lock().unwrap().iter().any(|c| c.contains("attrs")), "{:?}", seen.lock().unwrap());
        r.write(|r| {
            r.dict_erase("Item", &1.into(), "attrs", "absent")?;
            r.dict_set("Item", &1.into(), "attrs", "a", "2".into())
        })
        .unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1, "erasing an absent key and re-setting a value change nothing");
        r.close();
    }
    let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
    assert_eq!(r.get_dict("Item", &1.into(), "attrs").unwrap(), entries(&[("a", "2"), ("z", "1")]));
    let json = kinds_schema().to_json();
    assert!(json.contains(r#""dictionary":true"#), "{json}");
    assert_eq!(Schema::from_json(&json).unwrap(), kinds_schema());
}
