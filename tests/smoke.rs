use driftsync::*;
use std::sync::{Arc, Mutex};

fn schema() -> Schema {
    Schema::new(vec![
        ClassSchema::new(
            "Dog",
            "id",
            vec![Property::new("id", ScalarType::Int), Property::new("name", ScalarType::String), Property::link("owner", "Person")],
        ),
        ClassSchema::new(
            "Person",
            "name",
            vec![
                Property::new("name", ScalarType::String),
                Property::new("tags", ScalarType::String).list(),
                Property::link_list("dogs", "Dog"),
            ],
        ),
    ])
    .unwrap()
}

#[test]
fn smoke_write_observe_read() {
    let dir = tempfile::tempdir().unwrap();
    let realm = Realm::open(RealmConfig::new(dir.path().join("a.realm"), schema())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let _tok = realm.observe(ObserverScope::Realm, move |c| s2.lock().unwrap().push(c.clone())).unwrap();
    realm
        .write(|r| {
            r.create("Person", "ann", &[])?;
            r.create("Dog", 1, &[("name", "rex".into()), ("owner", Value::Link("ann".into()))])?;
            r.list_push("Person", &"ann".into(), "tags", "a".into())?;
            r.list_push("Person", &"ann".into(), "tags", "c".into())?;
            r.list_insert("Person", &"ann".into(), "tags", 1, "b".into())?;
            r.list_push("Person", &"ann".into(), "dogs", Value::Link(1.into()))?;
            Ok(())
        })
        .unwrap();
    assert_eq!(realm.get_list("Person", &"ann".into(), "tags").unwrap(), vec![Value::from("a"), "b".into(), "c".into()]);
    let frozen = realm.freeze().unwrap();
    realm.write(|r| r.erase("Person", &"ann".into())).unwrap();
    assert_eq!(realm.get_value("Dog", &1.into(), "owner").unwrap(), Value::Null);
    assert_eq!(frozen.count("Person").unwrap(), 1);
    assert_eq!(realm.count("Person").unwrap(), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].classes["Person"].erased.contains(&"ann".into()));
    assert!(seen[1].classes["Dog"].modified[&1.into()].contains("owner"));
}
