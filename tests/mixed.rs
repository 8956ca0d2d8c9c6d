//! The `mixed` kind (issue 15) end to end through the reference server: a merge test per rule
//! across two clients (concurrent whole-value sets, an operation inside a replaced nested
//! collection, a link to an erased object), a recovery and a discard client reset, bad input
//! that gets a typed error and changes nothing, notifications and the file format.
//! `Item.any` is a single mixed, `Item.bag` a set of mixed (see `common::kinds_schema`).

mod common;
use common::*;
use driftsync::reset::ResetDecision;
use driftsync::*;

fn any(r: &Realm, id: i64) -> Mixed {
    r.get_mixed("Item", &id.into(), "any").unwrap()
}

fn int(i: i64) -> Mixed {
    Mixed::Value(Value::Int(i))
}

fn text(s: &str) -> Mixed {
    Mixed::Value(s.into())
}

fn link(id: i64) -> Value {
    Value::TypedLink("Item".into(), id.into())
}

/// `r.write` of one mixed operation on `Item[1].any`.
fn on_any(r: &Realm, f: impl FnOnce(&Realm, &PrimaryKey) -> Result<()>) {
    r.write(|r| f(r, &1.into())).unwrap();
}

/// Every reason a reset report gives for a dropped instruction, with the instruction.
fn dropped(rep: &reset::ResetReport) -> Vec<String> {
    rep.dropped.iter().map(|d| format!("{} :: {}", d.instruction, d.reason)).collect()
}

/// `Item[1].any = {"list": [1]}`, synced to both clients.
fn dict_holding_a_list(a: &Realm, b: &Realm) {
    on_any(a, |r, pk| {
        r.mixed_set("Item", pk, "any", &[], MixedInput::Dictionary)?;
        r.mixed_set("Item", pk, "any", &["list".into()], MixedInput::List)?;
        r.mixed_insert("Item", pk, "any", &["list".into()], 0, 1i64)
    });
    sync_all(a);
    sync_all(b);
    assert_eq!(any(b, 1), Mixed::Dict(vec![("list".into(), Mixed::List(vec![int(1)]))]));
}

#[test]
fn mixed_concurrent_whole_value_sets_the_later_in_server_order_wins() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    // a replaces the value with a scalar, b with a nested list it fills: b uploads later.
    on_any(&a, |r, pk| r.set("Item", pk, "any", "from a".into()));
    on_any(&b, |r, pk| {
        r.mixed_set("Item", pk, "any", &[], MixedInput::List)?;
        r.mixed_insert("Item", pk, "any", &[], 0, "from b")
    });
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(any(&a, 1), Mixed::List(vec![text("from b")]));
    assert_eq!(dump(&a), dump(&b));
    // And the other way round: a scalar set later replaces the nested list (and its contents).
    offline(&a);
    offline(&b);
    on_any(&b, |r, pk| r.mixed_insert("Item", pk, "any", &[], 1, "more from b"));
    on_any(&a, |r, pk| r.mixed_set("Item", pk, "any", &[], 2.5));
    online(&b);
    online(&a);
    sync_all(&b);
    assert_eq!(any(&b, 1), Mixed::Value(Value::Double(2.5)));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn mixed_op_inside_a_replaced_nested_container_is_dropped() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    dict_holding_a_list(&a, &b);
    offline(&a);
    offline(&b);
    // b replaces the nested list by a new (empty) list under the same key; a inserts into the
    // old list and sets a key of the dictionary, which b did not replace.
    on_any(&b, |r, pk| r.mixed_set("Item", pk, "any", &["list".into()], MixedInput::List));
    on_any(&a, |r, pk| {
        r.mixed_insert("Item", pk, "any", &["list".into()], 1, 2i64)?;
        r.mixed_set("Item", pk, "any", &["k".into()], "kept")
    });
    online(&b);
    online(&a);
    sync_all(&b);
    let want = Mixed::Dict(vec![("k".into(), text("kept")), ("list".into(), Mixed::List(vec![]))]);
    assert_eq!(any(&a, 1), want, "the insert into the replaced list was dropped, the key set was not");
    assert_eq!(any(&b, 1), want);
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn mixed_op_inside_a_container_replaced_by_a_scalar_is_dropped() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    dict_holding_a_list(&a, &b);
    offline(&a);
    offline(&b);
    on_any(&b, |r, pk| r.set("Item", pk, "any", 7.into()));
    on_any(&a, |r, pk| {
        r.mixed_erase("Item", pk, "any", &["list".into(), 0.into()])?;
        r.mixed_set("Item", pk, "any", &["other".into()], MixedInput::Dictionary)
    });
    online(&b);
    online(&a);
    sync_all(&b);
    assert_eq!(any(&a, 1), int(7));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn mixed_link_to_an_erased_object_becomes_null() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    item(&a, 2, "two");
    item(&a, 3, "three");
    item(&a, 4, "four");
    on_any(&a, |r, pk| {
        r.mixed_set("Item", pk, "any", &[], MixedInput::Dictionary)?;
        r.mixed_set("Item", pk, "any", &["best".into()], link(2))?;
        r.set_add("Item", pk, "bag", link(2))?;
        r.set("Item", &4.into(), "any", link(2))
    });
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    offline(&b);
    a.write(|r| {
        r.erase("Item", &2.into())?;
        r.erase("Item", &3.into())
    })
    .unwrap();
    // b links to 3 while a erases it: the link arrives after the erase and is stored as null.
    on_any(&b, |r, pk| r.mixed_set("Item", pk, "any", &["next".into()], link(3)));
    online(&a);
    online(&b);
    sync_all(&a);
    for r in [&a, &b] {
        assert_eq!(any(r, 1), Mixed::Dict(vec![("best".into(), Mixed::Value(Value::Null)), ("next".into(), Mixed::Value(Value::Null))]));
        assert_eq!(any(r, 4), Mixed::Value(Value::Null));
        assert_eq!(r.get_set("Item", &1.into(), "bag").unwrap(), vec![], "the link left the set of mixed");
    }
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn mixed_recovery_keeps_local_changes_and_reports_ops_inside_replaced_containers() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    dict_holding_a_list(&a, &b);
    item(&a, 2, "two");
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    on_any(&a, |r, pk| {
        r.mixed_insert("Item", pk, "any", &["list".into()], 1, "local")?;
        r.mixed_set("Item", pk, "any", &["mine".into()], MixedInput::List)?;
        r.mixed_insert("Item", pk, "any", &["mine".into()], 0, true)?;
        r.mixed_set("Item", pk, "any", &["ref".into()], link(2))
    });
    let rep = reset_while_other_writes(&ts, &a, &b, |b| {
        on_any(b, |r, pk| {
            r.mixed_set("Item", pk, "any", &["list".into()], "replaced")?;
            r.erase("Item", &2.into())
        })
    });
    assert_eq!(rep.decision, ResetDecision::Recover);
    let want = Mixed::Dict(vec![
        ("list".into(), text("replaced")),
        ("mine".into(), Mixed::List(vec![Mixed::Value(true.into())])),
        ("ref".into(), Mixed::Value(Value::Null)),
    ]);
    assert_eq!(any(&a, 1), want);
    let reasons = dropped(&rep);
    assert!(reasons.iter().any(|r| r.contains("nested list") && r.contains("replaced")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("link target was erased")), "{reasons:?}");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn mixed_discard_takes_the_server_value() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    dict_holding_a_list(&a, &b);
    offline(&a);
    on_any(&a, |r, pk| {
        r.mixed_insert("Item", pk, "any", &["list".into()], 0, "local")?;
        r.mixed_set("Item", pk, "any", &["extra".into()], MixedInput::Dictionary)
    });
    let rep = reset_while_other_writes(&ts, &a, &b, |b| on_any(b, |r, pk| r.mixed_set("Item", pk, "any", &["s".into()], "server")));
    assert_eq!(rep.decision, ResetDecision::Discard);
    assert!(rep.discarded.iter().any(|d| d.instruction.contains("nested")), "{:?}", rep.discarded);
    assert_eq!(any(&a, 1), Mixed::Dict(vec![("list".into(), Mixed::List(vec![int(1)])), ("s".into(), text("server"))]));
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn mixed_bad_input_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("m.realm"), kinds_schema())).unwrap();
    let pk: PrimaryKey = 1.into();
    r.write(|r| {
        r.create("Item", 1, &[("any", 5.into())])?;
        r.set("Item", &pk, "count", 3.into())
    })
    .unwrap();
    let before = r.last_local_version().unwrap();
    let dump_before = r.get("Item", &pk).unwrap();
    let type_error = |res: Result<()>| assert!(matches!(res, Err(Error::TypeMismatch(_))), "{res:?}");
    // A set of mixed holds hashable values only.
    type_error(r.write(|r| r.mixed_set("Item", &pk, "bag", &[], MixedInput::List)));
    type_error(r.write(|r| r.mixed_insert("Item", &pk, "bag", &[], 0, MixedInput::Dictionary)));
    // A path into a mixed that holds no collection.
    type_error(r.write(|r| r.mixed_insert("Item", &pk, "any", &[], 0, 1i64)));
    type_error(r.write(|r| r.mixed_set("Item", &pk, "any", &["k".into()], 1i64)));
    // A link in a mixed names its class; a typed link fits only a mixed.
    type_error(r.write(|r| r.set("Item", &pk, "any", Value::Link(1.into()))));
    type_error(r.write(|r| r.set("Item", &pk, "next", link(1))));
    // Wrong value types elsewhere stay typed errors; mixed operations on other kinds too.
    type_error(r.write(|r| r.set("Item", &pk, "count", "three".into())));
    type_error(r.write(|r| r.mixed_set("Item", &pk, "count", &[], MixedInput::List)));
    let missing = r.write(|r| r.set("Item", &pk, "any", link(9)));
    assert!(matches!(missing, Err(Error::ObjectNotFound { .. })), "{missing:?}");
    assert_eq!(r.get("Item", &pk).unwrap(), dump_before, "nothing changed");
    assert_eq!(r.last_local_version().unwrap(), before, "nothing was committed");
    // Inside a nested list: a key is not an index, an index must exist.
    r.write(|r| {
        r.mixed_set("Item", &pk, "any", &[], MixedInput::List)?;
        r.mixed_insert("Item", &pk, "any", &[], 0, "x")
    })
    .unwrap();
    let after_list = r.get("Item", &pk).unwrap();
    type_error(r.write(|r| r.mixed_set("Item", &pk, "any", &["k".into()], 1i64)));
    let range = r.write(|r| r.mixed_insert("Item", &pk, "any", &[], 5, 1i64));
    assert!(matches!(range, Err(Error::IndexOutOfRange { index: 5, len: 1 })), "{range:?}");
    let no_value = r.get_value("Item", &pk, "any");
    assert!(matches!(no_value, Err(Error::TypeMismatch(_))), "a nested collection is not a value: {no_value:?}");
    assert_eq!(any(&r, 1), Mixed::List(vec![text("x")]));
    assert_eq!(r.get("Item", &pk).unwrap(), after_list, "nothing changed");
    for bad in [
        Property { target: Some("C".into()), ..Property::mixed("m") },
        Property { counter: true, ..Property::mixed("m") },
        Property { list: true, ..Property::mixed("m").set() },
    ] {
        assert_invalid(bad);
    }
    let pk_mixed = Schema::new(vec![ClassSchema::new("C", "id", vec![Property::mixed("id")])]);
    assert!(matches!(pk_mixed, Err(Error::InvalidSchema(_))), "a mixed cannot be a primary key: {pk_mixed:?}");
}

#[test]
fn mixed_changes_notify_the_property_and_the_file_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    let want = Mixed::Dict(vec![
        ("l".into(), Mixed::List(vec![Mixed::Dict(vec![("deep".into(), Mixed::Value(link(2)))]), text("s"), Mixed::Value(Value::Null)])),
        ("n".into(), Mixed::Value(1.5.into())),
    ]);
    {
        let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
        r.write(|r| {
            r.create("Item", 1, &[])?;
            r.create("Item", 2, &[])
        })
        .unwrap();
        let (seen, _token) = record_changes(&r);
        on_any(&r, |r, pk| {
            r.mixed_set("Item", pk, "any", &[], MixedInput::Dictionary)?;
            r.mixed_set("Item", pk, "any", &["n".into()], 1.5)?;
            r.mixed_set("Item", pk, "any", &["l".into()], MixedInput::List)?;
            r.mixed_insert("Item", pk, "any", &["l".into()], 0, "s")?;
            r.mixed_insert("Item", pk, "any", &["l".into()], 0, MixedInput::Dictionary)?;
            r.mixed_set("Item", pk, "any", &["l".into(), 0.into(), "deep".into()], link(2))?;
            r.mixed_insert("Item", pk, "any", &["l".into()], 2, Value::Null)?;
            r.mixed_insert("Item", pk, "any", &["l".into()], 3, "gone")?;
            r.mixed_erase("Item", pk, "any", &["l".into(), 3.into()])
        });
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert!(seen.lock().unwrap()[0].contains("any"), "{:?}", seen.lock().unwrap());
        // An operation that changes nothing notifies nothing.
        on_any(&r, |r, pk| r.mixed_set("Item", pk, "any", &["n".into()], 1.5));
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(any(&r, 1), want);
        r.close();
    }
    let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
    assert_eq!(any(&r, 1), want, "the nested collections and the typed link read back from the file");
    assert_eq!(r.get("Item", &1.into()).unwrap().unwrap().field("any"), Some(&FieldValue::Mixed(want.clone())));
    assert_eq!(any(&r, 2), Mixed::Value(Value::Null), "a mixed never set is null");
    // Erasing the linked object nulls the link deep inside.
    r.write(|r| r.erase("Item", &2.into())).unwrap();
    assert_eq!(any(&r, 1).at(&["l".into(), 0.into(), "deep".into()]), Some(&Mixed::Value(Value::Null)));
    let json = kinds_schema().to_json();
    assert!(json.contains(r#""type":"mixed""#), "{json}");
    assert_eq!(Schema::from_json(&json).unwrap(), kinds_schema());
}

#[test]
fn mixed_property_added_to_an_existing_file_reads_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.realm");
    {
        let r = Realm::open(RealmConfig::new(&path, schema())).unwrap();
        r.write(|r| r.create("Item", 1, &[("name", "old".into())])).unwrap();
        r.close();
    }
    let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
    assert_eq!(any(&r, 1), Mixed::Value(Value::Null));
    assert_eq!(name_of(&r, 1).as_deref(), Some("old"));
}

#[test]
fn mixed_nesting_deeper_than_the_limit_is_refused_and_the_deepest_allowed_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.realm");
    let depth = driftsync::mixed::MAX_DEPTH;
    {
        let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
        let pk: PrimaryKey = 1.into();
        r.write(|r| {
            r.create("Item", 1, &[])?;
            r.mixed_set("Item", &pk, "any", &[], MixedInput::List)?;
            // Each list holds the next one at index 0: the innermost is at `depth`.
            let mut at = Vec::new();
            for _ in 1..depth {
                r.mixed_insert("Item", &pk, "any", &at, 0, MixedInput::List)?;
                at.push(MixedKey::Index(0));
            }
            Ok(())
        })
        .unwrap();
        let at = vec![MixedKey::Index(0); depth - 1];
        let too_deep = r.write(|r| r.mixed_insert("Item", &pk, "any", &at, 0, MixedInput::Dictionary));
        assert!(matches!(too_deep, Err(Error::InvalidArgument(_))), "{too_deep:?}");
        r.write(|r| r.mixed_insert("Item", &pk, "any", &at, 0, "a value fits")).unwrap();
        r.close();
    }
    let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
    let deepest = any(&r, 1);
    let at = vec![MixedKey::Index(0); depth];
    assert_eq!(deepest.at(&at), Some(&text("a value fits")));
}
