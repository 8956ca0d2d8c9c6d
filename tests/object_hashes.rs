//! Per-object hashes stored with the records (issue #14): every row of `ds_objects` carries
//! `hash` = `reconcile::object_hash(pk, data)`, so a reset's range fingerprints are a scan of
//! hashes. These tests recompute every hash from its record after every kind of write (local
//! writes of each kind, a download integrated, a reset, the server's own file) and check that a
//! file from before the column, or a row an older library wrote without a hash, is hashed when
//! the file is opened.

mod common;
use common::*;
use driftsync::protocol::AdminCommand;
use driftsync::reconcile::object_hash;
use driftsync::*;
use std::path::{Path, PathBuf};

/// A stored object row: class, primary-key bytes, record bytes, stored hash.
type Row = (i64, Vec<u8>, Vec<u8>, Option<i64>);

/// Rows of `ds_objects` whose stored hash is missing or is not the hash of their record, and
/// how many rows there are.
fn wrong_hashes(path: &Path) -> (Vec<String>, usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT class, pk, data, hash FROM ds_objects").unwrap();
    let rows: Vec<Row> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect();
    let wrong = rows
        .iter()
        .filter(|(_, pk, data, hash)| *hash != Some(object_hash(pk, data) as i64))
        .map(|(class, pk, _, hash)| format!("class {class} pk {pk:?}: stored {hash:?}"))
        .collect();
    (wrong, rows.len())
}

#[track_caller]
fn assert_hashes_kept(path: &Path, after: &str) {
    let (wrong, rows) = wrong_hashes(path);
    assert!(rows > 0, "after {after}: the file has objects");
    assert!(wrong.is_empty(), "after {after}: {} of {rows} stored hashes differ from the recomputed ones: {wrong:?}", wrong.len());
}

/// The server's file of realm `main` (under the test server's data directory).
fn server_realm_file(ts: &TestServer) -> PathBuf {
    fn find(dir: &Path) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()? {
            let p = entry.ok()?.path();
            if p.is_dir() {
                if let Some(f) = find(&p) {
                    return Some(f);
                }
            } else if p.file_name().is_some_and(|n| n == "main.realm") {
                return Some(p);
            }
        }
        None
    }
    find(&ts.dir.path().join("server")).expect("the server's realm file")
}

#[test]
fn hashes_equal_recomputed_hashes_after_every_kind_of_write() {
    let ts = start_kinds_server();
    let reset = ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges);
    let r = open_kinds_client(&ts, "a.realm", "alice", reset.clone());
    let path = ts.path("a.realm");
    let one: PrimaryKey = 1.into();
    let step = |what: &str, f: &dyn Fn(&Realm) -> Result<()>| {
        r.write(|r| f(r)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_hashes_kept(&path, what);
    };
    step("create", &|r| {
        r.create("Item", 1, &[("name", "one".into())])?;
        r.create("Item", 2, &[("name", "two".into())])?;
        r.create("Item", 3, &[])?;
        r.create("Person", "p", &[])
    });
    step("set", &|r| r.set("Item", &one, "name", "uno".into()));
    step("set of a link", &|r| r.set("Item", &one, "next", Value::Link(2.into())));
    step("list insert", &|r| {
        r.list_insert("Item", &one, "tags", 0, "a".into())?;
        r.list_insert("Item", &one, "tags", 1, "b".into())?;
        r.list_insert("Item", &one, "tags", 2, "c".into())
    });
    step("list set", &|r| r.list_set("Item", &one, "tags", 0, "A".into()));
    step("list move", &|r| r.list_move("Item", &one, "tags", 0, 2));
    step("list erase", &|r| r.list_erase("Item", &one, "tags", 1));
    step("list clear", &|r| r.list_clear("Item", &one, "tags"));
    step("list of links insert", &|r| r.list_insert("Person", &"p".into(), "items", 0, Value::Link(3.into())));
    step("set add", &|r| r.set_add("Item", &one, "labels", "x".into()));
    step("set remove", &|r| r.set_remove("Item", &one, "labels", "x".into()));
    step("set of links add", &|r| r.set_add("Item", &one, "friends", Value::Link(3.into())));
    step("dictionary set", &|r| r.dict_set("Item", &one, "attrs", "k", "v".into()));
    step("dictionary erase", &|r| r.dict_erase("Item", &one, "attrs", "k"));
    step("counter add", &|r| r.counter_add("Item", &one, "hits", 5));
    step("mixed set of a scalar", &|r| r.mixed_set("Item", &one, "any", &[], 7i64));
    step("mixed nested collections", &|r| {
        r.mixed_set("Item", &one, "any", &[], MixedInput::Dictionary)?;
        r.mixed_set("Item", &one, "any", &["list".into()], MixedInput::List)?;
        r.mixed_insert("Item", &one, "any", &["list".into()], 0, "n")
    });
    step("mixed erase inside a nested collection", &|r| r.mixed_erase("Item", &one, "any", &["list".into(), 0usize.into()]));
    step("set of mixed add", &|r| r.set_add("Item", &one, "bag", 3i64.into()));
    // Erasing 3 removes it from the links that name it (rule 6): those objects are rewritten.
    step("erase of a link target", &|r| r.erase("Item", &3.into()));
    sync_all(&r);
    assert_hashes_kept(&server_realm_file(&ts), "the server integrated the uploads");

    // A download integrated: another client's writes.
    let other = open_kinds_client(&ts, "b.realm", "bob", ClientResetConfig::default());
    sync_all(&other);
    other
        .write(|o| {
            o.set("Item", &2.into(), "name", "from bob".into())?;
            o.counter_add("Item", &one, "hits", 2)?;
            o.create("Item", 10, &[("name", "ten".into())])
        })
        .unwrap();
    sync_all(&other);
    sync_all(&r);
    assert_eq!(name_of(&r, 10).as_deref(), Some("ten"), "the download was integrated");
    assert_hashes_kept(&path, "a download was integrated");
    assert_hashes_kept(&ts.path("b.realm"), "the other client's writes");

    // A reset: offline writes, sync terminated and re-enabled, the server changed meanwhile.
    let s = session(&r);
    s.pause();
    r.write(|r| {
        r.set("Item", &one, "name", "offline".into())?;
        r.create("Item", 20, &[])
    })
    .unwrap();
    other.write(|o| o.create("Item", 30, &[("name", "thirty".into())])).unwrap();
    sync_all(&other);
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    s.resume();
    eventually("the reset completes", || r.last_reset_report().unwrap().is_some());
    sync_all(&r);
    assert!(r.get("Item", &30.into()).unwrap().is_some() && r.get("Item", &20.into()).unwrap().is_none());
    assert_hashes_kept(&path, "a reset");
    assert_hashes_kept(&server_realm_file(&ts), "the server after the reset");
}

/// A closed realm file `name` in `dir` with 50 `Item`s.
fn realm_of_50_items(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let r = Realm::open(RealmConfig::new(&path, schema())).unwrap();
    r.write(|r| (0..50).try_for_each(|i| r.create("Item", i, &[("name", format!("item {i}").into())]))).unwrap();
    path
}

/// A realm file from before the hash column (the column dropped) gets it when opened, with every
/// hash right.
#[test]
fn hashes_of_a_file_from_before_them_are_added_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = realm_of_50_items(dir.path(), "old.realm");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("ALTER TABLE ds_objects DROP COLUMN hash;").unwrap();
    }
    let r = Realm::open(RealmConfig::new(&path, schema())).unwrap();
    assert_eq!(r.count("Item").unwrap(), 50);
    drop(r);
    assert_hashes_kept(&path, "opening a file from before the hash column");
    assert!(!has_unhashed_index(&path), "no index of unhashed rows is created");
}

/// Whether the file has the partial index of rows without a hash that files used to have.
fn has_unhashed_index(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'ds_objects_unhashed'", [], |r| r.get::<_, i64>(0)).unwrap() == 1
}

/// Sets the hash of the first `n` rows to NULL, as an older library's writes leave them.
fn null_first_hashes(path: &Path, n: usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let nulled =
        conn.execute("UPDATE ds_objects SET hash = NULL WHERE pk IN (SELECT pk FROM ds_objects ORDER BY pk LIMIT ?1)", [n as i64]).unwrap();
    assert_eq!(nulled, n);
    drop(conn);
    assert_eq!(wrong_hashes(path).0.len(), n, "{n} rows without a hash");
}

/// A file with the partial index `ds_objects_unhashed` (files had it before it was dropped: it
/// made every rewrite of a row a delete and an insert) gets the rows it lists hashed and loses
/// it when opened.
#[test]
fn hashes_of_a_file_with_the_old_unhashed_index_are_filled_and_the_index_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = realm_of_50_items(dir.path(), "indexed.realm");
    assert!(!has_unhashed_index(&path));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE INDEX ds_objects_unhashed ON ds_objects(class, pk) WHERE hash IS NULL;").unwrap();
    }
    null_first_hashes(&path, 3);
    let r = Realm::open(RealmConfig::new(&path, schema())).unwrap();
    assert_eq!(r.count("Item").unwrap(), 50);
    drop(r);
    assert_hashes_kept(&path, "opening a file with the old index and rows an older library wrote");
    assert!(!has_unhashed_index(&path), "opening drops the old index");
}

/// Rows an older library wrote into a current file (no hash) are read as the hash of their
/// record, and get one stored when they are next written.
#[test]
fn hashes_missing_from_rows_an_older_library_wrote_are_computed_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = realm_of_50_items(dir.path(), "current.realm");
    let fingerprint = |path: &Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        driftsync::reconcile::scan_fingerprint(&conn, "main", 0, &[], None).unwrap()
    };
    let hashed = fingerprint(&path);
    null_first_hashes(&path, 3);
    assert_eq!(fingerprint(&path), hashed, "a missing hash reads as the hash of the record");

    let r = Realm::open(RealmConfig::new(&path, schema())).unwrap();
    r.write(|r| (0..3).try_for_each(|i| r.set("Item", &PrimaryKey::Int(i), "count", Value::Int(7)))).unwrap();
    drop(r);
    assert_hashes_kept(&path, "writing the rows without a hash");
}
