//! Issue 2, point 5: notifications. Exact inserts, erasures, modifications with property names,
//! list changes; realm, class and object scopes; token drop; empty commits notify nothing; an
//! observer may read and write.

use driftsync::*;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

fn schema() -> Schema {
    Schema::new(vec![
        ClassSchema::new(
            "Dog",
            "id",
            vec![
                Property::new("id", ScalarType::Int),
                Property::new("name", ScalarType::String),
                Property::new("age", ScalarType::Int),
                Property::link("owner", "Person"),
            ],
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

type Seen = Arc<Mutex<Vec<ChangeSummary>>>;

fn setup() -> (tempfile::TempDir, Realm) {
    let dir = tempfile::tempdir().unwrap();
    let realm = Realm::open(RealmConfig::new(dir.path().join("a.realm"), schema())).unwrap();
    (dir, realm)
}

fn watch(realm: &Realm, scope: ObserverScope) -> (Seen, NotificationToken) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let tok = realm.observe(scope, move |c| s2.lock().unwrap().push(c.clone())).unwrap();
    (seen, tok)
}

fn pks(v: &[i64]) -> BTreeSet<PrimaryKey> {
    v.iter().map(|&i| PrimaryKey::Int(i)).collect()
}

fn props(v: &[&str]) -> PropertyNames {
    v.iter().collect()
}

#[test]
fn notification_reports_inserts() {
    let (_d, realm) = setup();
    let (seen, _t) = watch(&realm, ObserverScope::Realm);
    let returned = realm.begin_write().and_then(|_| {
        realm.create("Dog", 1, &[])?;
        realm.create("Dog", 2, &[("name", "rex".into())])?;
        realm.set("Dog", &2.into(), "age", 3.into())?;
        realm.commit()
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let dogs = &seen[0].classes["Dog"];
    assert_eq!(dogs.inserted, pks(&[1, 2]));
    assert!(dogs.erased.is_empty());
    assert!(dogs.modified.is_empty(), "changes to objects inserted in the same commit are part of the insert");
    assert!(!seen[0].classes.contains_key("Person") || seen[0].classes["Person"].is_empty());
    assert_eq!(returned.unwrap(), seen[0], "commit returns what observers got");
}

#[test]
fn notification_reports_modifications_with_property_names() {
    let (_d, realm) = setup();
    realm.write(|r| (1..=3).try_for_each(|i| r.create("Dog", i, &[]))).unwrap();
    let (seen, _t) = watch(&realm, ObserverScope::Realm);
    realm
        .write(|r| {
            r.set("Dog", &1.into(), "name", "a".into())?;
            r.set("Dog", &1.into(), "age", 5.into())?;
            r.upsert("Dog", 2, &[("age", 7.into()), ("name", "".into())])?; // name unchanged
            r.set("Dog", &3.into(), "age", 0.into()) // same value: no change
        })
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let dogs = &seen[0].classes["Dog"];
    assert!(dogs.inserted.is_empty() && dogs.erased.is_empty());
    assert_eq!(dogs.modified.len(), 2, "{dogs:?}");
    assert_eq!(dogs.modified[&1.into()], props(&["name", "age"]));
    assert_eq!(dogs.modified[&2.into()], props(&["age"]));
}

#[test]
fn notification_reports_erasures_and_link_nulling() {
    let (_d, realm) = setup();
    realm
        .write(|r| {
            r.create("Person", "ann", &[])?;
            r.create("Dog", 1, &[("owner", Value::Link("ann".into()))])?;
            r.create("Dog", 2, &[])?;
            r.list_push("Person", &"ann".into(), "dogs", Value::Link(2.into()))
        })
        .unwrap();
    let (seen, _t) = watch(&realm, ObserverScope::Realm);
    realm.write(|r| r.erase("Dog", &2.into())).unwrap();
    realm.write(|r| r.erase("Person", &"ann".into())).unwrap();
    // Created and erased in one commit: no trace.
    realm
        .write(|r| {
            r.create("Dog", 9, &[])?;
            r.erase("Dog", &9.into())
        })
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].classes["Dog"].erased, pks(&[2]));
    assert_eq!(seen[0].classes["Person"].modified[&"ann".into()], props(&["dogs"]), "the erased dog left the list");
    assert_eq!(seen[1].classes["Person"].erased, ["ann".into()].into_iter().collect());
    assert_eq!(seen[1].classes["Dog"].modified[&1.into()], props(&["owner"]), "the link became null");
}

#[test]
fn notification_reports_list_changes() {
    let (_d, realm) = setup();
    let ann = PrimaryKey::from("ann");
    realm.write(|r| r.create("Person", "ann", &[])).unwrap();
    let (seen, _t) = watch(&realm, ObserverScope::Realm);
    realm.write(|r| r.list_push("Person", &ann, "tags", "a".into())).unwrap();
    realm.write(|r| r.list_insert("Person", &ann, "tags", 0, "b".into())).unwrap();
    realm.write(|r| r.list_set("Person", &ann, "tags", 0, "c".into())).unwrap();
    realm.write(|r| r.list_move("Person", &ann, "tags", 0, 1)).unwrap();
    realm.write(|r| r.list_erase("Person", &ann, "tags", 0)).unwrap();
    realm.write(|r| r.list_clear("Person", &ann, "tags")).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6, "one notification per list commit");
    for s in seen.iter() {
        assert_eq!(s.classes["Person"].modified[&ann], props(&["tags"]));
        assert!(s.classes["Person"].inserted.is_empty());
    }
}

#[test]
fn class_scope_sees_only_its_class() {
    let (_d, realm) = setup();
    let (dogs, _t1) = watch(&realm, ObserverScope::Class("Dog".into()));
    let (people, _t2) = watch(&realm, ObserverScope::Class("Person".into()));
    realm.write(|r| r.create("Dog", 1, &[])).unwrap();
    realm.write(|r| r.create("Person", "p", &[])).unwrap();
    realm
        .write(|r| {
            r.create("Dog", 2, &[])?;
            r.create("Person", "q", &[])
        })
        .unwrap();
    let dogs = dogs.lock().unwrap();
    let people = people.lock().unwrap();
    assert_eq!(dogs.len(), 2);
    assert_eq!(people.len(), 2);
    assert!(dogs.iter().all(|c| c.classes.keys().eq(["Dog"].iter())));
    assert!(people.iter().all(|c| c.classes.keys().eq(["Person"].iter())));
    assert_eq!(dogs[1].classes["Dog"].inserted, pks(&[2]));
    // An unknown class cannot be observed.
    assert_eq!(realm.observe(ObserverScope::Class("Cat".into()), |_| {}).err().map(|e| e.code()), Some(ErrorCode::UnknownClass));
}

#[test]
fn object_scope_sees_only_its_object() {
    let (_d, realm) = setup();
    realm.write(|r| (1..=2).try_for_each(|i| r.create("Dog", i, &[]))).unwrap();
    let (one, _t) = watch(&realm, ObserverScope::Object("Dog".into(), 1.into()));
    realm.write(|r| r.set("Dog", &2.into(), "age", 1.into())).unwrap();
    assert!(one.lock().unwrap().is_empty(), "another object's change");
    realm
        .write(|r| {
            r.set("Dog", &1.into(), "age", 1.into())?;
            r.set("Dog", &2.into(), "age", 2.into())
        })
        .unwrap();
    realm.write(|r| r.erase("Dog", &1.into())).unwrap();
    let one = one.lock().unwrap();
    assert_eq!(one.len(), 2);
    assert_eq!(one[0].classes["Dog"].modified.keys().cloned().collect::<Vec<_>>(), vec![PrimaryKey::Int(1)]);
    assert_eq!(one[1].classes["Dog"].erased, pks(&[1]));
    assert_eq!(
        realm.observe(ObserverScope::Object("Dog".into(), "x".into()), |_| {}).err().map(|e| e.code()),
        Some(ErrorCode::TypeMismatch)
    );
}

#[test]
fn dropping_the_token_unregisters() {
    let (_d, realm) = setup();
    let (seen, tok) = watch(&realm, ObserverScope::Realm);
    let (seen2, tok2) = watch(&realm, ObserverScope::Realm);
    realm.write(|r| r.create("Dog", 1, &[])).unwrap();
    drop(tok);
    tok2.unregister();
    realm.write(|r| r.create("Dog", 2, &[])).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(seen2.lock().unwrap().len(), 1);
}

#[test]
fn commit_that_changed_nothing_notifies_nothing() {
    let (_d, realm) = setup();
    realm.write(|r| r.create("Dog", 1, &[("name", "rex".into())])).unwrap();
    let (seen, _t) = watch(&realm, ObserverScope::Realm);
    realm.write(|_| Ok(())).unwrap();
    realm.write(|r| r.set("Dog", &1.into(), "name", "rex".into())).unwrap();
    realm.write(|r| r.upsert("Dog", 1, &[("name", "rex".into())])).unwrap();
    realm.write(|r| r.list_clear("Person", &"nobody".into(), "tags")).unwrap_err();
    realm.begin_write().unwrap();
    realm.set("Dog", &1.into(), "name", "max".into()).unwrap();
    realm.cancel().unwrap();
    let _ = realm.write(|r| {
        r.set("Dog", &1.into(), "name", "max".into())?;
        Err::<(), _>(Error::InvalidArgument("the app gave up".into()))
    });
    assert!(seen.lock().unwrap().is_empty(), "{:?}", seen.lock().unwrap());
    assert_eq!(realm.get_value("Dog", &1.into(), "name").unwrap(), Value::from("rex"));
}

#[test]
fn observer_reads_the_committed_state_from_its_callback() {
    let (_d, realm) = setup();
    let realm = Arc::new(realm);
    let r2 = realm.clone();
    let read = Arc::new(Mutex::new(None));
    let read2 = read.clone();
    let _t = realm
        .observe(ObserverScope::Class("Dog".into()), move |_| {
            *read2.lock().unwrap() = Some((r2.count("Dog").unwrap(), r2.is_in_write_transaction()));
        })
        .unwrap();
    realm.write(|r| r.create("Dog", 1, &[])).unwrap();
    assert_eq!(*read.lock().unwrap(), Some((1, false)), "observers run after the commit, outside the transaction");
}

#[test]
fn observer_can_write_from_its_callback() {
    let (_d, realm) = setup();
    let realm = Arc::new(realm);
    let r2 = Arc::downgrade(&realm);
    // Each new dog gets a Person named after it, written from inside the observer.
    let _t = realm
        .observe(ObserverScope::Class("Dog".into()), move |c| {
            let Some(realm) = r2.upgrade() else { return };
            for pk in &c.classes["Dog"].inserted {
                let name = format!("owner-of-{pk}");
                realm.write(|r| r.create("Person", name.as_str(), &[])).unwrap();
            }
        })
        .unwrap();
    let (all, _t2) = watch(&realm, ObserverScope::Realm);
    realm.write(|r| r.create("Dog", 1, &[])).unwrap();
    realm.write(|r| r.create("Dog", 2, &[])).unwrap();
    assert_eq!(realm.count("Person").unwrap(), 2);
    assert!(realm.exists("Person", &"owner-of-1".into()).unwrap());
    assert!(realm.exists("Person", &"owner-of-2".into()).unwrap());
    // The observer's own commits are notified too (4 commits in all).
    let all = all.lock().unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all.iter().filter(|c| c.classes.get("Person").is_some_and(|p| !p.inserted.is_empty())).count(), 2);
    drop(all);
    // The writer lock was released: a normal write still works.
    realm.write(|r| r.create("Dog", 3, &[])).unwrap();
    assert_eq!(realm.count("Person").unwrap(), 3);
}

#[test]
fn observers_see_commits_from_other_handles_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = Realm::open(RealmConfig::new(&path, schema())).unwrap();
    let (seen, _t) = watch(&realm, ObserverScope::Realm);
    std::thread::spawn(move || {
        let other = Realm::open(RealmConfig::new(&path, schema())).unwrap();
        other.write(|r| r.create("Dog", 5, &[])).unwrap();
    })
    .join()
    .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].classes["Dog"].inserted, pks(&[5]));
}
