//! Issue 2, point 4: changesets and history. Recorded only with a sync configuration, one per
//! commit, in the same SQLite transaction as the data, MessagePack round-trip, every instruction
//! kind.

use driftsync::changeset::CHANGESET_FORMAT;
use driftsync::*;
use std::collections::BTreeSet;
use std::path::Path;

fn schema(extra: bool) -> Schema {
    let mut props = vec![
        Property::new("id", ScalarType::Int),
        Property::new("name", ScalarType::String),
        Property::new("tags", ScalarType::String).list(),
    ];
    if extra {
        props.push(Property::new("email", ScalarType::String).optional());
    }
    Schema::new(vec![ClassSchema::new("P", "id", props)]).unwrap()
}

fn synced(path: &Path, extra: bool) -> Realm {
    let mut sync = SyncConfig::new("ws://127.0.0.1:9", "token", "history-test");
    sync.start_paused = true;
    Realm::open(RealmConfig::new(path, schema(extra)).with_sync(sync)).unwrap()
}

fn kind(i: &Instruction) -> &'static str {
    match i {
        Instruction::AddClass { .. } => "AddClass",
        Instruction::AddProperty { .. } => "AddProperty",
        Instruction::CreateObject { .. } => "CreateObject",
        Instruction::EraseObject { .. } => "EraseObject",
        Instruction::Set { .. } => "Set",
        Instruction::ListInsert { .. } => "ListInsert",
        Instruction::ListSet { .. } => "ListSet",
        Instruction::ListErase { .. } => "ListErase",
        Instruction::ListMove { .. } => "ListMove",
        Instruction::ListClear { .. } => "ListClear",
        Instruction::CounterAdd { .. } => "CounterAdd",
        Instruction::SetAdd { .. } => "SetAdd",
        Instruction::SetRemove { .. } => "SetRemove",
        Instruction::DictSet { .. } => "DictSet",
        Instruction::DictErase { .. } => "DictErase",
        Instruction::MixedSet { .. } => "MixedSet",
        Instruction::NestedInsert { .. } => "NestedInsert",
        Instruction::NestedSet { .. } => "NestedSet",
        Instruction::NestedErase { .. } => "NestedErase",
        Instruction::EmbeddedSet { .. } => "EmbeddedSet",
        Instruction::EmbeddedReplace { .. } => "EmbeddedReplace",
        Instruction::EmbeddedInsert { .. } => "EmbeddedInsert",
        Instruction::EmbeddedErase { .. } => "EmbeddedErase",
    }
}

#[test]
fn realm_without_sync_keeps_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = Realm::open(RealmConfig::new(&path, schema(false))).unwrap();
    realm.write(|r| r.create("P", 1, &[("name", "a".into())])).unwrap();
    realm.write(|r| r.set("P", &1.into(), "name", "b".into())).unwrap();
    assert!(realm.history_since(0).unwrap().is_empty());
    assert_eq!(realm.last_local_version().unwrap(), 0);
    drop(realm);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM ds_history", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn synced_realm_records_one_changeset_per_commit() {
    let dir = tempfile::tempdir().unwrap();
    let realm = synced(&dir.path().join("a.realm"), false);
    let base = realm.last_local_version().unwrap();
    let start = realm.history_since(0).unwrap();
    // Creating the file recorded the schema.
    assert_eq!(start.len() as u64, base);
    assert!(start.iter().flat_map(|c| &c.instructions).any(|i| matches!(i, Instruction::AddClass { class } if class.name == "P")));
    for n in 0..3 {
        realm
            .write(|r| {
                r.create("P", n, &[("name", "x".into())])?;
                r.set("P", &n.into(), "name", "y".into())
            })
            .unwrap();
    }
    let h = realm.history_since(base).unwrap();
    assert_eq!(h.len(), 3, "one changeset per commit");
    for (i, cs) in h.iter().enumerate() {
        assert_eq!(cs.local_version, base + 1 + i as u64, "consecutive local versions");
        assert_eq!(cs.origin, realm.peer_id());
        assert_eq!(cs.format, CHANGESET_FORMAT);
        assert_eq!(cs.instructions.len(), 2);
        assert!(matches!(&cs.instructions[0], Instruction::CreateObject { pk, .. } if *pk == PrimaryKey::Int(i as i64)));
        assert!(matches!(&cs.instructions[1], Instruction::Set { prop, value, .. } if prop == "name" && *value == Value::from("y")));
    }
    assert_eq!(realm.last_local_version().unwrap(), base + 3);
    assert_eq!(realm.history_since(base + 2).unwrap().len(), 1);
}

#[test]
fn cancelled_or_failed_write_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let realm = synced(&dir.path().join("a.realm"), false);
    let base = realm.last_local_version().unwrap();
    realm.begin_write().unwrap();
    realm.create("P", 1, &[]).unwrap();
    realm.cancel().unwrap();
    let err = realm
        .write(|r| {
            r.create("P", 2, &[])?;
            r.set("P", &2.into(), "nope", 1.into())
        })
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownProperty);
    assert_eq!(realm.last_local_version().unwrap(), base);
    assert_eq!(realm.history_since(base).unwrap().len(), 0);
    assert_eq!(realm.count("P").unwrap(), 0);
}

#[test]
fn history_survives_reopen_and_is_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = synced(&path, false);
    realm.write(|r| r.create("P", 1, &[])).unwrap();
    let before = realm.history_since(0).unwrap();
    drop(realm);
    let realm = synced(&path, false);
    assert_eq!(realm.history_since(0).unwrap(), before);
    drop(realm);
    // The stored blobs are the MessagePack encoding.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn.prepare("SELECT version, changeset FROM ds_history ORDER BY version").unwrap();
    let rows: Vec<(i64, Vec<u8>)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), before.len());
    for ((v, blob), cs) in rows.iter().zip(&before) {
        assert_eq!(*v as u64, cs.local_version);
        assert_eq!(&Changeset::decode(blob).unwrap(), cs);
        // Any MessagePack reader can walk it (it is not a private format).
        rmp_serde::from_slice::<serde_json::Value>(blob).expect("a MessagePack document");
    }
}

#[test]
fn every_instruction_kind_is_recorded_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = synced(&path, false);
    realm
        .write(|r| {
            r.create("P", 1, &[("name", "a".into())])?;
            r.create("P", 2, &[])?;
            r.set("P", &1.into(), "name", "b".into())?;
            r.list_push("P", &1.into(), "tags", "t1".into())?;
            r.list_push("P", &1.into(), "tags", "t2".into())?;
            r.list_push("P", &1.into(), "tags", "t3".into())?;
            r.list_set("P", &1.into(), "tags", 0, "T1".into())?;
            r.list_move("P", &1.into(), "tags", 0, 2)?;
            r.list_erase("P", &1.into(), "tags", 0)?;
            r.list_clear("P", &1.into(), "tags")?;
            r.erase("P", &2.into())
        })
        .unwrap();
    drop(realm);
    let realm = synced(&path, true); // an additive migration: AddProperty
    let all = realm.history_since(0).unwrap();
    let kinds: BTreeSet<&str> = all.iter().flat_map(|c| &c.instructions).map(kind).collect();
    let expected: BTreeSet<&str> =
        ["AddClass", "AddProperty", "CreateObject", "EraseObject", "Set", "ListInsert", "ListSet", "ListErase", "ListMove", "ListClear"]
            .into_iter()
            .collect();
    assert_eq!(kinds, expected);
    for cs in &all {
        let bytes = cs.encode();
        assert!(!bytes.is_empty());
        assert_eq!(&Changeset::decode(&bytes).unwrap(), cs, "MessagePack round trip");
        for i in &cs.instructions {
            assert!(!i.describe().is_empty());
        }
    }
    // List instructions name elements by stable ids: the move's source is the element inserted
    // first, and the clear names exactly the elements visible at that point.
    let ins: Vec<&Instruction> = all.iter().flat_map(|c| &c.instructions).collect();
    let inserted: Vec<ElemId> =
        ins.iter().filter_map(|i| if let Instruction::ListInsert { id, .. } = i { Some(*id) } else { None }).collect();
    assert_eq!(inserted.len(), 3);
    assert!(ins.iter().any(|i| matches!(i, Instruction::ListMove { from, .. } if *from == inserted[0])));
    assert!(ins.iter().any(|i| matches!(i, Instruction::ListClear { ids, .. } if ids.len() == 2)));
}

#[test]
fn changeset_decoder_rejects_unknown_format_and_garbage() {
    let mut cs = Changeset::new(1, 7, vec![Instruction::EraseObject { class: "P".into(), pk: 1.into() }]);
    assert_eq!(Changeset::decode(&cs.encode()).unwrap(), cs);
    cs.format = CHANGESET_FORMAT + 1;
    assert_eq!(Changeset::decode(&cs.encode()).unwrap_err().code(), ErrorCode::Protocol);
    assert_eq!(Changeset::decode(b"\xff\x00garbage").unwrap_err().code(), ErrorCode::Protocol);
    assert_eq!(Changeset::decode(&[]).unwrap_err().code(), ErrorCode::Protocol);
}
