//! Notifications say which list indices, set elements and dictionary keys changed (issue 15),
//! for every producer of a change summary: local writes, a change that arrives by sync from
//! another client, and a client reset (recover and discard).

mod common;
use common::*;
use driftsync::*;
use std::sync::{Arc, Mutex};

/// Every change summary an observer of `scope` on `r` gets from now on.
fn record(r: &Realm, scope: ObserverScope) -> (Arc<Mutex<Vec<ChangeSummary>>>, NotificationToken) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let token = r.observe(scope, move |c: &ChangeSummary| s2.lock().unwrap().push(c.clone())).unwrap();
    (seen, token)
}

/// The changes inside `Item[id].prop`, from the one summary that has any.
fn changes_of(seen: &Mutex<Vec<ChangeSummary>>, id: i64, prop: &str) -> CollectionChanges {
    let seen = seen.lock().unwrap();
    let found: Vec<_> = seen.iter().filter_map(|s| s.classes.get("Item")?.collection(&id.into(), prop).cloned()).collect();
    assert_eq!(found.len(), 1, "expected one summary with changes in Item[{id}].{prop}: {seen:#?}");
    found.into_iter().next().unwrap()
}

fn list(deleted: &[usize], inserted: &[usize], modified: &[usize]) -> CollectionChanges {
    CollectionChanges::List(Changed { deleted: deleted.to_vec(), inserted: inserted.to_vec(), modified: modified.to_vec() })
}

fn keys(deleted: &[&str], inserted: &[&str], modified: &[&str]) -> CollectionChanges {
    let v = |k: &[&str]| k.iter().map(|s| s.to_string()).collect();
    CollectionChanges::Dictionary(Changed { deleted: v(deleted), inserted: v(inserted), modified: v(modified) })
}

fn elements(deleted: &[&str], inserted: &[&str]) -> CollectionChanges {
    let v = |k: &[&str]| k.iter().map(|s| Value::from(*s)).collect();
    CollectionChanges::Set(Changed { deleted: v(deleted), inserted: v(inserted), modified: Vec::new() })
}

fn local_realm(dir: &tempfile::TempDir) -> Realm {
    let r = Realm::open(RealmConfig::new(dir.path().join("n.realm"), kinds_schema())).unwrap();
    r.write(|r| r.create("Item", 1, &[])).unwrap();
    r
}

/// In one write transaction, `f` for each of `items`.
fn write_each<T: Copy>(r: &Realm, items: &[T], f: impl Fn(&Realm, T) -> Result<()>) {
    r.write(|r| items.iter().try_for_each(|&x| f(r, x))).unwrap();
}

fn push_tags(r: &Realm, id: i64, tags: &[&str]) {
    write_each(r, tags, |r, t| r.list_push("Item", &id.into(), "tags", t.into()));
}

fn set_attrs(r: &Realm, id: i64, entries: &[(&str, &str)]) {
    write_each(r, entries, |r, (k, v)| r.dict_set("Item", &id.into(), "attrs", k, v.into()));
}

fn add_labels(r: &Realm, id: i64, labels: &[&str]) {
    write_each(r, labels, |r, l| r.set_add("Item", &id.into(), "labels", l.into()));
}

fn tags(r: &Realm, id: i64) -> Vec<Value> {
    r.get_list("Item", &id.into(), "tags").unwrap()
}

// ---- local writes ----------------------------------------------------------------------------

#[test]
fn notify_list_local_writes_report_deleted_old_and_inserted_modified_new_indices() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    push_tags(&r, 1, &["a", "b", "c", "d"]);
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| {
        let pk = 1.into();
        r.list_erase("Item", &pk, "tags", 1)?; // a c d
        r.list_set("Item", &pk, "tags", 2, "D".into())?; // a c D
        r.list_insert("Item", &pk, "tags", 0, "z".into())?; // z a c D
        r.list_push("Item", &pk, "tags", "tmp".into())?;
        r.list_erase("Item", &pk, "tags", 4) // inserted and erased again: no trace
    })
    .unwrap();
    assert_eq!(tags(&r, 1), strings(&["z", "a", "c", "D"]));
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[1], &[0], &[3]));
    let modified = &seen.lock().unwrap()[0].classes["Item"].modified[&1.into()];
    assert!(modified.contains("tags"), "{modified:?}");
}

#[test]
fn notify_list_local_move_is_a_deletion_and_an_insertion_and_clear_deletes_every_index() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    push_tags(&r, 1, &["a", "b", "c"]);
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| r.list_move("Item", &1.into(), "tags", 0, 2)).unwrap();
    assert_eq!(tags(&r, 1), strings(&["b", "c", "a"]));
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[0], &[2], &[]));
    seen.lock().unwrap().clear();
    r.write(|r| r.list_clear("Item", &1.into(), "tags")).unwrap();
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[0, 1, 2], &[], &[]));
}

#[test]
fn notify_list_of_links_reports_the_index_an_erased_target_left() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    r.write(|r| {
        r.create("Item", 2, &[])?;
        r.create("Person", "ann", &[])?;
        for id in [1, 2, 1] {
            r.list_push("Person", &"ann".into(), "items", Value::Link(PrimaryKey::from(id)))?;
        }
        Ok(())
    })
    .unwrap();
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| r.erase("Item", &1.into())).unwrap();
    let seen = seen.lock().unwrap();
    let person = &seen[0].classes["Person"];
    assert_eq!(person.collection(&"ann".into(), "items"), Some(&list(&[0, 2], &[], &[])), "{person:?}");
}

#[test]
fn notify_list_of_an_object_inserted_in_the_same_commit_is_part_of_the_insertion() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| {
        r.create("Item", 5, &[])?;
        r.list_push("Item", &5.into(), "tags", "a".into())
    })
    .unwrap();
    let item = &seen.lock().unwrap()[0].classes["Item"];
    assert!(item.inserted.contains(&5.into()));
    assert!(item.collections.is_empty() && item.modified.is_empty(), "{item:?}");
}

#[test]
fn notify_dictionary_local_writes_report_inserted_modified_and_deleted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    set_attrs(&r, 1, &[("a", "1"), ("b", "2"), ("c", "3"), ("e", "5")]);
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| {
        let pk = 1.into();
        r.dict_set("Item", &pk, "attrs", "b", "20".into())?;
        r.dict_erase("Item", &pk, "attrs", "c")?;
        r.dict_set("Item", &pk, "attrs", "d", "4".into())?;
        r.dict_set("Item", &pk, "attrs", "a", "1".into())?; // the same value: no change
        r.dict_erase("Item", &pk, "attrs", "e")?;
        r.dict_set("Item", &pk, "attrs", "e", "50".into()) // erased and set again: modified
    })
    .unwrap();
    assert_eq!(changes_of(&seen, 1, "attrs"), keys(&["c"], &["d"], &["b", "e"]));
    seen.lock().unwrap().clear();
    r.write(|r| r.dict_clear("Item", &1.into(), "attrs")).unwrap();
    assert_eq!(changes_of(&seen, 1, "attrs"), keys(&["a", "b", "d", "e"], &[], &[]));
}

#[test]
fn notify_set_local_writes_report_the_elements_inserted_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    add_labels(&r, 1, &["a", "b"]);
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| {
        let pk = 1.into();
        r.set_remove("Item", &pk, "labels", "b".into())?;
        r.set_add("Item", &pk, "labels", "d".into())?;
        r.set_add("Item", &pk, "labels", "c".into())?;
        r.set_remove("Item", &pk, "labels", "a".into())?;
        r.set_add("Item", &pk, "labels", "a".into()) // removed and added again: no change
    })
    .unwrap();
    assert_eq!(changes_of(&seen, 1, "labels"), elements(&["b"], &["c", "d"]));
}

#[test]
fn notify_set_and_dictionary_detail_reaches_object_and_class_observers_only_for_their_scope() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    r.write(|r| r.create("Item", 2, &[])).unwrap();
    let (object, _t1) = record(&r, ObserverScope::Object("Item".into(), 2.into()));
    let (class, _t2) = record(&r, ObserverScope::Class("Item".into()));
    let (person, _t3) = record(&r, ObserverScope::Class("Person".into()));
    r.write(|r| {
        r.set_add("Item", &1.into(), "labels", "x".into())?;
        r.dict_set("Item", &2.into(), "attrs", "k", "v".into())
    })
    .unwrap();
    let object = object.lock().unwrap();
    let only = &object[0].classes["Item"];
    assert_eq!(only.collections.len(), 1, "{only:?}");
    assert_eq!(only.collection(&2.into(), "attrs"), Some(&keys(&[], &["k"], &[])));
    let class = class.lock().unwrap();
    let all = &class[0].classes["Item"];
    assert_eq!(all.collection(&1.into(), "labels"), Some(&elements(&[], &["x"])));
    assert_eq!(all.collection(&2.into(), "attrs"), Some(&keys(&[], &["k"], &[])));
    assert!(person.lock().unwrap().is_empty());
}

#[test]
fn notify_counter_names_the_property_and_nothing_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = local_realm(&dir);
    let (seen, _t) = record(&r, ObserverScope::Realm);
    r.write(|r| r.counter_add("Item", &1.into(), "hits", 3)).unwrap();
    let item = &seen.lock().unwrap()[0].classes["Item"];
    assert!(item.modified[&1.into()].contains("hits"));
    assert!(item.collections.is_empty(), "{item:?}");
}

// ---- a change from another client ------------------------------------------------------------

#[test]
fn notify_list_change_from_another_client_reports_exact_indices() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    push_tags(&a, 1, &["a", "b", "c", "d"]);
    sync_all(&a);
    sync_all(&b);
    let (seen, _t) = record(&b, ObserverScope::Object("Item".into(), 1.into()));
    a.write(|r| {
        let pk = 1.into();
        r.list_erase("Item", &pk, "tags", 1)?;
        r.list_set("Item", &pk, "tags", 2, "D".into())?;
        r.list_insert("Item", &pk, "tags", 0, "z".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    assert_eq!(tags(&b, 1), strings(&["z", "a", "c", "D"]));
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[1], &[0], &[3]));
}

#[test]
fn notify_list_rebased_download_reports_only_what_the_server_changed() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    push_tags(&a, 1, &["a", "b"]);
    sync_all(&a);
    sync_all(&b);
    offline(&b);
    push_tags(&b, 1, &["x"]); // b: a b x, not yet uploaded
    a.write(|r| r.list_insert("Item", &1.into(), "tags", 0, "y".into())).unwrap();
    sync_all(&a);
    let (seen, _t) = record(&b, ObserverScope::Realm);
    online(&b);
    assert_eq!(tags(&b, 1), strings(&["y", "a", "b", "x"]));
    // b's own x was already there: the download inserted y and nothing else.
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[], &[0], &[]));
}

#[test]
fn notify_dictionary_change_from_another_client_reports_exact_keys() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    set_attrs(&a, 1, &[("k1", "v1"), ("k2", "v2")]);
    sync_all(&a);
    sync_all(&b);
    let (seen, _t) = record(&b, ObserverScope::Class("Item".into()));
    a.write(|r| {
        let pk = 1.into();
        r.dict_set("Item", &pk, "attrs", "k1", "V1".into())?;
        r.dict_erase("Item", &pk, "attrs", "k2")?;
        r.dict_set("Item", &pk, "attrs", "k3", "v3".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    assert_eq!(changes_of(&seen, 1, "attrs"), keys(&["k2"], &["k3"], &["k1"]));
}

#[test]
fn notify_set_change_from_another_client_reports_exact_elements() {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::default());
    add_labels(&a, 1, &["a", "b"]);
    sync_all(&a);
    sync_all(&b);
    let (seen, _t) = record(&b, ObserverScope::Realm);
    a.write(|r| {
        let pk = 1.into();
        r.set_remove("Item", &pk, "labels", "a".into())?;
        r.set_add("Item", &pk, "labels", "c".into())
    })
    .unwrap();
    sync_all(&a);
    sync_all(&b);
    assert_eq!(changes_of(&seen, 1, "labels"), elements(&["a"], &["c"]));
}

// ---- client reset ----------------------------------------------------------------------------

/// `a` (resetting with `mode`) and `b` share `Item[1]` with `setup` applied; `a` goes offline
/// and makes `local` changes, `b` makes `remote` ones after the server terminated sync; `a`
/// resets. Returns what `a`'s observer saw.
fn reset_with(
    mode: ClientResetMode,
    setup: impl FnOnce(&Realm),
    local: impl FnOnce(&Realm),
    remote: impl FnOnce(&Realm),
) -> (Realm, Arc<Mutex<Vec<ChangeSummary>>>, TestServer) {
    let ts = start_kinds_server();
    let (a, b) = two_clients(&ts, ClientResetConfig::new(mode));
    setup(&a);
    sync_all(&a);
    sync_all(&b);
    offline(&a);
    local(&a);
    let (seen, token) = record(&a, ObserverScope::Realm);
    let report = reset_while_other_writes(&ts, &a, &b, remote);
    let expected =
        if mode == ClientResetMode::DiscardUnsyncedChanges { reset::ResetDecision::Discard } else { reset::ResetDecision::Recover };
    assert_eq!(report.decision, expected);
    assert_eq!(dump(&a), dump(&b));
    drop(token);
    (a, seen, ts)
}

/// Local: a B c x (from a b c). Remote: w b C (erase a, insert w, set c).
fn list_reset(mode: ClientResetMode) -> (Realm, Arc<Mutex<Vec<ChangeSummary>>>, TestServer) {
    reset_with(
        mode,
        |a| push_tags(a, 1, &["a", "b", "c"]),
        |a| {
            a.write(|r| {
                r.list_set("Item", &1.into(), "tags", 1, "B".into())?;
                r.list_push("Item", &1.into(), "tags", "x".into())
            })
            .unwrap()
        },
        |b| {
            b.write(|r| {
                r.list_erase("Item", &1.into(), "tags", 0)?;
                r.list_insert("Item", &1.into(), "tags", 0, "w".into())?;
                r.list_set("Item", &1.into(), "tags", 2, "C".into())
            })
            .unwrap()
        },
    )
}

#[test]
fn notify_list_reset_recover_reports_the_servers_changes_around_the_recovered_ones() {
    let (a, seen, _ts) = list_reset(ClientResetMode::RecoverUnsyncedChanges);
    assert_eq!(tags(&a, 1), strings(&["w", "B", "C", "x"]));
    // From a B c x: a deleted (0), w inserted (0), c became C (2).
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[0], &[0], &[2]));
}

#[test]
fn notify_list_reset_discard_reports_the_local_changes_undone() {
    let (a, seen, _ts) = list_reset(ClientResetMode::DiscardUnsyncedChanges);
    assert_eq!(tags(&a, 1), strings(&["w", "b", "C"]));
    // From a B c x: a and x deleted (0, 3), w inserted (0), B back to b (1), c to C (2).
    assert_eq!(changes_of(&seen, 1, "tags"), list(&[0, 3], &[0], &[1, 2]));
}

/// Local: k1=A1 k2 k3 k4 (from k1 k2 k3). Remote: k1 k3=B3 k5 (k2 erased).
fn dictionary_reset(mode: ClientResetMode) -> (Realm, Arc<Mutex<Vec<ChangeSummary>>>, TestServer) {
    reset_with(
        mode,
        |a| set_attrs(a, 1, &[("k1", "v1"), ("k2", "v2"), ("k3", "v3")]),
        |a| set_attrs(a, 1, &[("k1", "A1"), ("k4", "v4")]),
        |b| {
            b.write(|r| {
                r.dict_erase("Item", &1.into(), "attrs", "k2")?;
                r.dict_set("Item", &1.into(), "attrs", "k3", "B3".into())?;
                r.dict_set("Item", &1.into(), "attrs", "k5", "v5".into())
            })
            .unwrap()
        },
    )
}

#[test]
fn notify_dictionary_reset_recover_reports_the_servers_keys() {
    let (_a, seen, _ts) = dictionary_reset(ClientResetMode::RecoverUnsyncedChanges);
    assert_eq!(changes_of(&seen, 1, "attrs"), keys(&["k2"], &["k5"], &["k3"]));
}

#[test]
fn notify_dictionary_reset_discard_reports_the_local_keys_undone_too() {
    let (_a, seen, _ts) = dictionary_reset(ClientResetMode::DiscardUnsyncedChanges);
    assert_eq!(changes_of(&seen, 1, "attrs"), keys(&["k2", "k4"], &["k5"], &["k1", "k3"]));
}

/// Local: b c x (from a b c: x added, a removed). Remote: a c y (b removed, y added).
fn set_reset(mode: ClientResetMode) -> (Realm, Arc<Mutex<Vec<ChangeSummary>>>, TestServer) {
    reset_with(
        mode,
        |a| add_labels(a, 1, &["a", "b", "c"]),
        |a| {
            a.write(|r| {
                r.set_add("Item", &1.into(), "labels", "x".into())?;
                r.set_remove("Item", &1.into(), "labels", "a".into())
            })
            .unwrap()
        },
        |b| {
            b.write(|r| {
                r.set_remove("Item", &1.into(), "labels", "b".into())?;
                r.set_add("Item", &1.into(), "labels", "y".into())
            })
            .unwrap()
        },
    )
}

#[test]
fn notify_set_reset_recover_reports_the_servers_elements() {
    let (a, seen, _ts) = set_reset(ClientResetMode::RecoverUnsyncedChanges);
    assert_eq!(a.get_set("Item", &1.into(), "labels").unwrap(), strings(&["c", "x", "y"]));
    assert_eq!(changes_of(&seen, 1, "labels"), elements(&["b"], &["y"]));
}

#[test]
fn notify_set_reset_discard_reports_the_local_elements_undone_too() {
    let (a, seen, _ts) = set_reset(ClientResetMode::DiscardUnsyncedChanges);
    assert_eq!(a.get_set("Item", &1.into(), "labels").unwrap(), strings(&["a", "c", "y"]));
    assert_eq!(changes_of(&seen, 1, "labels"), elements(&["b", "x"], &["a", "y"]));
}
