//! Embedded objects (issue 15) end to end through the reference server: a merge test per rule
//! across two clients, a recovery and a discard client reset, bad input that gets a typed error
//! and changes nothing, notifications, and the schema/record/changeset formats.

mod common;
use common::*;
use driftsync::reset::ResetDecision;
use driftsync::*;
use std::sync::{Arc, Mutex, OnceLock};

/// Two synced clients of the kinds schema that both have `Item[1]` with an address (street
/// "Main", geo 1/2) and two parts ("bolt" 1, "nut" 2).
fn two_clients(ts: &TestServer, reset: ClientResetConfig) -> (Realm, Realm) {
    let a = open_kinds_client(ts, "a.realm", "alice", reset);
    let b = open_kinds_client(ts, "b.realm", "bob", ClientResetConfig::default());
    a.write(|r| {
        r.create("Item", 1, &[("name", "one".into())])?;
        furnish(r, 1)
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    (a, b)
}

fn furnish(r: &Realm, id: i64) -> Result<()> {
    let pk = id.into();
    r.set_embedded("Item", &pk, "address", &[("street", "Main".into())])?;
    r.set_embedded("Item", &pk, "address.geo", &[("lat", 1.0.into()), ("lon", 2.0.into())])?;
    r.push_embedded("Item", &pk, "parts", &[("name", "bolt".into()), ("qty", 1.into())])?;
    r.push_embedded("Item", &pk, "parts", &[("name", "nut".into()), ("qty", 2.into())])
}

fn street(r: &Realm, id: i64) -> Option<Value> {
    r.get_embedded("Item", &id.into(), "address").unwrap().and_then(|a| a.value("street").cloned())
}

fn part_names(r: &Realm, id: i64) -> Vec<String> {
    match r.get("Item", &id.into()).unwrap().and_then(|o| o.field("parts").cloned()) {
        Some(FieldValue::EmbeddedList(parts)) => {
            parts.iter().map(|p| p.value("name").and_then(Value::as_str).unwrap_or_default().to_string()).collect()
        }
        other => panic!("parts read as {other:?}"),
    }
}

fn standalone() -> (tempfile::TempDir, Realm) {
    let dir = tempfile::tempdir().unwrap();
    let r = Realm::open(RealmConfig::new(dir.path().join("e.realm"), kinds_schema())).unwrap();
    (dir, r)
}

// ---- local reads and writes ------------------------------------------------------------------

#[test]
fn embedded_objects_nest_and_read_back_by_path() {
    let (_dir, r) = standalone();
    r.write(|r| {
        r.create("Item", 1, &[])?;
        furnish(r, 1)?;
        r.set_embedded_value("Item", &1.into(), "address.geo.lat", 5.5.into())?;
        r.push_embedded("Item", &1.into(), "parts[1].subparts", &[("name", "thread".into())])?;
        r.insert_embedded("Item", &1.into(), "parts", 0, &[("name", "washer".into()), ("qty", 9.into())])
    })
    .unwrap();
    let pk: PrimaryKey = 1.into();
    assert_eq!(r.get_embedded_value("Item", &pk, "address.geo.lat").unwrap(), Value::Double(5.5));
    assert_eq!(r.get_embedded_value("Item", &pk, "address.street").unwrap(), Value::from("Main"));
    assert_eq!(r.get_embedded_value("Item", &pk, "address.city").unwrap(), Value::Null);
    assert_eq!(part_names(&r, 1), ["washer", "bolt", "nut"]);
    assert_eq!(r.embedded_len("Item", &pk, "parts").unwrap(), 3);
    assert_eq!(r.embedded_len("Item", &pk, "parts[2].subparts").unwrap(), 1);
    assert_eq!(r.get_embedded_value("Item", &pk, "parts[2].subparts[0].name").unwrap(), Value::from("thread"));
    r.write(|r| {
        r.remove_embedded("Item", &pk, "parts[0]")?;
        r.remove_embedded("Item", &pk, "address.geo")
    })
    .unwrap();
    assert_eq!(part_names(&r, 1), ["bolt", "nut"]);
    assert_eq!(r.get_embedded("Item", &pk, "address.geo").unwrap(), None);
    let object = r.get("Item", &pk).unwrap().unwrap();
    match object.field("address") {
        Some(FieldValue::Embedded(Some(a))) => assert_eq!(a.field("geo"), Some(&FieldValue::Embedded(None))),
        other => panic!("address read as {other:?}"),
    }
    assert_eq!(r.count("Address").unwrap(), 0, "embedded objects are not top-level objects");
    // They survive a reopen: they are stored in the parent's record.
    drop(object);
    let path = r.path().to_path_buf();
    r.close();
    drop(r);
    let again = Realm::open(RealmConfig::new(path, kinds_schema())).unwrap();
    assert_eq!(street(&again, 1), Some(Value::from("Main")));
    assert_eq!(part_names(&again, 1), ["bolt", "nut"]);
}

#[test]
fn embedded_bad_input_is_a_typed_error_and_changes_nothing() {
    let (_dir, r) = standalone();
    r.write(|r| {
        r.create("Item", 1, &[])?;
        furnish(r, 1)
    })
    .unwrap();
    let pk: PrimaryKey = 1.into();
    let before_version = r.last_local_version().unwrap();
    let before = dump(&r);
    // An embedded class given a primary key.
    let mut address = ClassSchema::embedded("Address", vec![Property::new("street", ScalarType::String)]);
    address.primary_key = "street".into();
    let with_pk = Schema::new(vec![address]);
    assert!(matches!(with_pk, Err(Error::InvalidSchema(ref m)) if m.contains("primary key")), "{with_pk:?}");
    let json = r#"{"classes":[{"name":"A","embedded":true,"primaryKey":"id","properties":[{"name":"id","type":"int"}]}]}"#;
    assert!(matches!(Schema::from_json(json), Err(Error::InvalidSchema(_))));
    // A mixed inside an embedded class (its typed links would have no backlinks).
    let with_mixed = Schema::new(vec![ClassSchema::embedded("E", vec![Property::mixed("m")])]);
    assert!(matches!(with_mixed, Err(Error::InvalidSchema(ref m)) if m.contains("mixed")), "{with_mixed:?}");
    // A set of embedded objects, a required single embedded object.
    let mut classes = embedded_classes();
    classes.push(ClassSchema::new("C", "id", vec![Property::new("id", ScalarType::Int), Property::link_set("s", "Part")]));
    assert!(matches!(Schema::new(classes), Err(Error::InvalidSchema(_))));
    // An embedded object created as a top-level object, or looked up by a primary key.
    let top = r.write(|r| r.create("Address", 1, &[("street", "x".into())]));
    assert!(matches!(top, Err(Error::InvalidArgument(_))), "{top:?}");
    assert!(matches!(r.get("Address", &1.into()), Err(Error::InvalidArgument(_))));
    // A normal link (or list of links) write to a property holding embedded objects.
    let link = r.write(|r| r.set("Item", &pk, "address", Value::Link(1.into())));
    assert!(matches!(link, Err(Error::TypeMismatch(_))), "{link:?}");
    let list_link = r.write(|r| r.list_insert("Item", &pk, "parts", 0, Value::Link(1.into())));
    assert!(matches!(list_link, Err(Error::TypeMismatch(_))), "{list_link:?}");
    assert!(matches!(r.get_list("Item", &pk, "parts"), Err(Error::TypeMismatch(_))));
    assert!(matches!(r.get_value("Item", &pk, "address"), Err(Error::TypeMismatch(_))));
    let create_link = r.write(|r| r.upsert("Item", 1, &[("address", Value::Link(1.into()))]));
    assert!(matches!(create_link, Err(Error::TypeMismatch(_))), "{create_link:?}");
    // Wrong value types in embedded fields.
    let wrong = r.write(|r| r.set_embedded_value("Item", &pk, "address.street", 5.into()));
    assert!(matches!(wrong, Err(Error::TypeMismatch(_))), "{wrong:?}");
    let wrong_new = r.write(|r| r.set_embedded("Item", &pk, "address", &[("street", true.into())]));
    assert!(matches!(wrong_new, Err(Error::TypeMismatch(_))), "{wrong_new:?}");
    let wrong_part = r.write(|r| r.push_embedded("Item", &pk, "parts", &[("qty", "many".into())]));
    assert!(matches!(wrong_part, Err(Error::TypeMismatch(_))), "{wrong_part:?}");
    let nested_as_value = r.write(|r| r.set_embedded_value("Item", &pk, "address.geo", Value::Null));
    assert!(matches!(nested_as_value, Err(Error::TypeMismatch(_))), "{nested_as_value:?}");
    // Paths that lead nowhere.
    let unknown = r.write(|r| r.set_embedded_value("Item", &pk, "address.zip", "1".into()));
    assert!(matches!(unknown, Err(Error::UnknownProperty { .. })), "{unknown:?}");
    let out_of_range = r.write(|r| r.set_embedded_value("Item", &pk, "parts[7].qty", 1.into()));
    assert!(matches!(out_of_range, Err(Error::IndexOutOfRange { index: 7, len: 2 })), "{out_of_range:?}");
    let not_embedded = r.write(|r| r.set_embedded("Item", &pk, "name", &[]));
    assert!(matches!(not_embedded, Err(Error::TypeMismatch(_))), "{not_embedded:?}");
    let bad_path = r.write(|r| r.set_embedded_value("Item", &pk, "parts[x].qty", 1.into()));
    assert!(matches!(bad_path, Err(Error::InvalidArgument(_))), "{bad_path:?}");
    // Nesting is bounded (every record stays readable): 64 levels of subparts, then no more.
    r.begin_write().unwrap();
    let mut path = "parts[0]".to_string();
    for _ in 1..64 {
        r.push_embedded("Item", &pk, &format!("{path}.subparts"), &[]).unwrap();
        path.push_str(".subparts[0]");
    }
    let too_deep = r.push_embedded("Item", &pk, &format!("{path}.subparts"), &[]);
    assert!(matches!(too_deep, Err(Error::InvalidArgument(ref m)) if m.contains("64")), "{too_deep:?}");
    r.cancel().unwrap();
    let missing_parent = r.write(|r| r.set_embedded("Item", &9.into(), "address", &[]));
    assert!(matches!(missing_parent, Err(Error::ObjectNotFound { .. })), "{missing_parent:?}");
    assert_eq!(dump(&r), before, "nothing changed");
    assert_eq!(r.last_local_version().unwrap(), before_version, "nothing was committed");
}

#[test]
fn embedded_change_inside_an_object_notifies_its_parent_property() {
    let (_dir, r) = standalone();
    r.write(|r| {
        r.create("Item", 1, &[])?;
        furnish(r, 1)
    })
    .unwrap();
    let seen: Arc<Mutex<Vec<ChangeSummary>>> = Arc::default();
    let s2 = seen.clone();
    let _token = r.observe(ObserverScope::Object("Item".into(), 1.into()), move |c| s2.lock().unwrap().push(c.clone())).unwrap();
    r.write(|r| r.set_embedded_value("Item", &1.into(), "address.geo.lon", 7.0.into())).unwrap();
    r.write(|r| r.set_embedded_value("Item", &1.into(), "parts[1].qty", 3.into())).unwrap();
    let seen = seen.lock().unwrap();
    let modified = |i: usize| seen[i].classes["Item"].modified[&1.into()].iter().map(String::from).collect::<Vec<_>>();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(modified(0), ["address"]);
    assert_eq!(modified(1), ["parts"]);
}

#[test]
fn embedded_schema_json_names_embedded_classes_and_schemas_without_them_keep_their_json() {
    let json = kinds_schema().to_json();
    assert!(json.contains(r#""embedded":true"#), "{json}");
    assert_eq!(Schema::from_json(&json).unwrap(), kinds_schema());
    assert!(!schema().to_json().contains("embedded"));
    // An embedded class needs no "primaryKey" in JSON.
    let s = Schema::from_json(
        r#"{"classes":[{"name":"P","primaryKey":"id","properties":[{"name":"id","type":"int"},{"name":"e","type":"object","target":"E","optional":true}]},
            {"name":"E","embedded":true,"properties":[{"name":"x","type":"int"}]}]}"#,
    )
    .unwrap();
    assert!(s.is_embedded("E"));
    // Turning a class embedded (or back) is a breaking schema change.
    let mut flipped = s.classes.clone();
    flipped[1].embedded = false;
    flipped[1].primary_key = "x".into();
    assert!(s.diff(&Schema::new(flipped).unwrap()).is_breaking());
}

#[test]
fn embedded_classes_added_to_an_existing_file_open_without_a_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.realm");
    {
        let old = Realm::open(RealmConfig::new(&path, schema())).unwrap();
        old.write(|r| r.create("Item", 1, &[("name", "kept".into())])).unwrap();
    }
    let r = Realm::open(RealmConfig::new(&path, kinds_schema())).unwrap();
    assert_eq!(name_of(&r, 1).as_deref(), Some("kept"));
    assert_eq!(r.get_embedded("Item", &1.into(), "address").unwrap(), None, "an old record reads the new property as null");
    assert_eq!(r.embedded_len("Item", &1.into(), "parts").unwrap(), 0);
    r.write(|r| furnish(r, 1)).unwrap();
    assert_eq!(street(&r, 1), Some(Value::from("Main")));
}

// ---- merge rules across two clients ------------------------------------------------------------

#[test]
fn embedded_objects_are_erased_with_their_parent() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    a.write(|r| r.erase("Item", &1.into())).unwrap();
    sync_all(&a);
    sync_all(&b);
    assert!(!b.exists("Item", &1.into()).unwrap());
    // A parent created again under the same key starts without the old embedded objects.
    b.write(|r| r.create("Item", 1, &[("name", "again".into())])).unwrap();
    sync_all(&b);
    sync_all(&a);
    for r in [&a, &b] {
        assert_eq!(r.get_embedded("Item", &1.into(), "address").unwrap(), None);
        assert_eq!(r.embedded_len("Item", &1.into(), "parts").unwrap(), 0);
    }
    assert_eq!(dump(&a), dump(&b));
}

/// Captures the library's log lines (the normal-sync drops are logged, not reported).
fn log_lines() -> &'static Mutex<Vec<String>> {
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            self.0.lock().unwrap().push(format!("{}: {}", r.target(), r.args()));
        }
        fn flush(&self) {}
    }
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    &CAPTURE
        .get_or_init(|| {
            let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
            log::set_logger(c).expect("the only logger of this test binary");
            log::set_max_level(log::LevelFilter::Info);
            c
        })
        .0
}

#[test]
fn embedded_change_under_a_parent_erased_on_the_server_is_dropped_and_logged() {
    let lines = log_lines();
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&b);
    a.write(|r| r.erase("Item", &1.into())).unwrap();
    sync_all(&a);
    b.write(|r| {
        r.set_embedded_value("Item", &1.into(), "address.street", "Elm".into())?;
        r.push_embedded("Item", &1.into(), "parts", &[("name", "gear".into())])
    })
    .unwrap();
    online(&b);
    sync_all(&a);
    assert!(!a.exists("Item", &1.into()).unwrap());
    assert!(!b.exists("Item", &1.into()).unwrap(), "the erase wins (rule 1): its embedded objects went with it");
    assert_eq!(dump(&a), dump(&b));
    let lines = lines.lock().unwrap();
    let dropped: Vec<&String> = lines.iter().filter(|l| l.contains("dropped by the merge rules")).collect();
    assert!(dropped.iter().any(|l| l.contains("Item[1].address.street") && l.contains("erased")), "{dropped:?}");
}

#[test]
fn embedded_concurrent_sets_of_one_field_follow_rule_4() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    a.write(|r| r.set_embedded_value("Item", &1.into(), "address.geo.lat", 10.0.into())).unwrap();
    b.write(|r| r.set_embedded_value("Item", &1.into(), "address.geo.lat", 20.0.into())).unwrap();
    a.write(|r| r.set_embedded_value("Item", &1.into(), "parts[0].qty", 5.into())).unwrap();
    b.write(|r| r.set_embedded_value("Item", &1.into(), "parts[1].qty", 6.into())).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    for r in [&a, &b] {
        assert_eq!(r.get_embedded_value("Item", &1.into(), "address.geo.lat").unwrap(), Value::Double(20.0), "B's set came later");
        assert_eq!(r.get_embedded_value("Item", &1.into(), "parts[0].qty").unwrap(), Value::Int(5), "other fields merge");
        assert_eq!(r.get_embedded_value("Item", &1.into(), "parts[1].qty").unwrap(), Value::Int(6));
    }
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn embedded_replacing_the_object_drops_changes_made_inside_the_old_one() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    // The replacement reaches the server first: the change inside the old object is dropped.
    offline(&a);
    offline(&b);
    a.write(|r| r.set_embedded("Item", &1.into(), "address", &[("street", "New".into())])).unwrap();
    b.write(|r| r.set_embedded_value("Item", &1.into(), "address.city", "Old town".into())).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    for r in [&a, &b] {
        let address = r.get_embedded("Item", &1.into(), "address").unwrap().unwrap();
        assert_eq!(address.value("street"), Some(&Value::from("New")));
        assert_eq!(address.value("city"), Some(&Value::Null), "the change inside the replaced object is gone");
        assert_eq!(address.field("geo"), Some(&FieldValue::Embedded(None)), "the old object's contents are gone");
    }
    assert_eq!(dump(&a), dump(&b));
    // The change inside reaches the server first, then the replacement: the replacement wins.
    offline(&a);
    offline(&b);
    a.write(|r| r.set_embedded_value("Item", &1.into(), "address.city", "Mid".into())).unwrap();
    b.write(|r| r.set_embedded("Item", &1.into(), "address", &[("street", "Newer".into())])).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    for r in [&a, &b] {
        assert_eq!(street(r, 1), Some(Value::from("Newer")));
        assert_eq!(r.get_embedded_value("Item", &1.into(), "address.city").unwrap(), Value::Null);
    }
    // Two concurrent replacements: the later in server order wins (rule 4), null included.
    offline(&a);
    offline(&b);
    a.write(|r| r.set_embedded("Item", &1.into(), "address", &[("street", "A".into())])).unwrap();
    b.write(|r| r.remove_embedded("Item", &1.into(), "address")).unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    assert_eq!(a.get_embedded("Item", &1.into(), "address").unwrap(), None);
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn embedded_list_keeps_concurrent_inserts_and_drops_changes_to_erased_elements() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    offline(&a);
    offline(&b);
    a.write(|r| {
        r.insert_embedded("Item", &1.into(), "parts", 1, &[("name", "a-mid".into())])?;
        r.remove_embedded("Item", &1.into(), "parts[0]")
    })
    .unwrap();
    b.write(|r| {
        r.push_embedded("Item", &1.into(), "parts", &[("name", "b-end".into())])?;
        r.set_embedded_value("Item", &1.into(), "parts[0].qty", 99.into())?;
        r.push_embedded("Item", &1.into(), "parts[0].subparts", &[("name", "b-sub".into())])
    })
    .unwrap();
    online(&a);
    online(&b);
    sync_all(&a);
    for r in [&a, &b] {
        assert_eq!(part_names(r, 1), ["a-mid", "nut", "b-end"], "both inserts survive; the erased bolt stays erased");
    }
    assert_eq!(dump(&a), dump(&b));
}

// ---- client reset --------------------------------------------------------------------------

#[test]
fn embedded_recovery_keeps_local_changes_and_reports_changes_under_erased_parents() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    a.write(|r| {
        r.create("Item", 2, &[])?;
        furnish(r, 2)
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    a.write(|r| {
        r.set_embedded_value("Item", &1.into(), "address.street", "Recovered".into())?;
        r.push_embedded("Item", &1.into(), "parts", &[("name", "a-new".into())])?;
        r.set_embedded_value("Item", &2.into(), "parts[0].qty", 42.into())
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| {
        b.write(|r| {
            r.set_embedded_value("Item", &1.into(), "address.city", "Server city".into())?;
            r.erase("Item", &2.into())
        })
        .unwrap();
    });
    assert_eq!(rep.decision, ResetDecision::Recover);
    for r in [&a, &b] {
        assert_eq!(street(r, 1), Some(Value::from("Recovered")), "the local change is recovered and uploaded");
        assert_eq!(r.get_embedded_value("Item", &1.into(), "address.city").unwrap(), Value::from("Server city"));
        assert_eq!(part_names(r, 1), ["bolt", "nut", "a-new"]);
        assert!(!r.exists("Item", &2.into()).unwrap());
    }
    let reasons: Vec<String> = rep.dropped.iter().map(|d| format!("{} :: {}", d.instruction, d.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("Item[2].parts.qty") && r.contains("erased")), "{reasons:?}");
    assert_eq!(dump(&a), dump(&b));
}

#[test]
fn embedded_discard_takes_the_server_state_and_reports_what_it_threw_away() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    offline(&a);
    a.write(|r| {
        r.set_embedded_value("Item", &1.into(), "address.street", "Local".into())?;
        r.remove_embedded("Item", &1.into(), "parts[0]")
    })
    .unwrap();
    let rep = reset_while_other_writes(&ts, &a, &b, |b| {
        b.write(|r| r.set_embedded("Item", &1.into(), "address", &[("street", "Server".into())])).unwrap();
    });
    assert_eq!(rep.decision, ResetDecision::Discard);
    assert_eq!(street(&a, 1), Some(Value::from("Server")));
    assert_eq!(part_names(&a, 1), ["bolt", "nut"], "the local erase is discarded");
    let discarded: Vec<&str> = rep.discarded.iter().map(|d| d.instruction.as_str()).collect();
    assert!(discarded.iter().any(|d| d.contains("address.street")), "{discarded:?}");
    assert_eq!(dump(&a), dump(&b));
}
