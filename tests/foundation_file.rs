//! Issue 2, point 1: the realm file. Format version recorded; newer-format, foreign and corrupt
//! files give typed errors and are never modified.

use driftsync::*;
use std::path::Path;

fn schema() -> Schema {
    Schema::new(vec![ClassSchema::new("Item", "id", vec![Property::new("id", ScalarType::Int), Property::new("name", ScalarType::String)])])
        .unwrap()
}

/// Creates a realm with a few objects and closes it (the WAL is checkpointed on close).
fn make_realm(path: &Path) {
    let realm = Realm::open(RealmConfig::new(path, schema())).unwrap();
    realm
        .write(|r| {
            for i in 0..50 {
                r.create("Item", i, &[("name", Value::from(format!("item {i}")))])?;
            }
            Ok(())
        })
        .unwrap();
    drop(realm);
}

/// Opens the file, expects `code`, and checks the file is byte-identical afterwards.
fn open_fails_untouched(path: &Path, code: ErrorCode) -> Error {
    let before = std::fs::read(path).unwrap();
    let err = Realm::open(RealmConfig::new(path, schema())).unwrap_err();
    assert_eq!(err.code(), code, "unexpected error: {err}");
    let after = std::fs::read(path).unwrap();
    assert!(before == after, "the file was modified by a failed open ({err})");
    // A second attempt behaves the same (nothing was half-initialised).
    let again = Realm::open(RealmConfig::new(path, schema())).unwrap_err();
    assert_eq!(again.code(), code);
    assert!(std::fs::read(path).unwrap() == before);
    err
}

#[test]
fn file_format_version_is_recorded_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    make_realm(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn.query_row("SELECT value FROM ds_meta WHERE key = 'format_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(v, driftsync::store::FILE_FORMAT_VERSION);
    assert_eq!(v, 1);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal", "a realm is a WAL-mode SQLite database");
}

#[test]
fn newer_format_file_gives_format_too_new_and_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.realm");
    make_realm(&path);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE ds_meta SET value = 2 WHERE key = 'format_version'", []).unwrap();
    }
    let err = open_fails_untouched(&path, ErrorCode::FileFormatTooNew);
    assert_eq!(err, Error::FileFormatTooNew { found: 2, supported: 1 });
}

#[test]
fn random_bytes_file_gives_not_realm_and_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.realm");
    let bytes: Vec<u8> = (0..16384u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    open_fails_untouched(&path, ErrorCode::FileNotRealm);
    // A short text file too.
    std::fs::write(&path, b"hello, I am not a database\n").unwrap();
    open_fails_untouched(&path, ErrorCode::FileNotRealm);
}

#[test]
fn foreign_sqlite_database_gives_not_realm_and_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE people(name TEXT, age INT); INSERT INTO people VALUES('ann', 33);").unwrap();
    }
    open_fails_untouched(&path, ErrorCode::FileNotRealm);
    // Even one that has a table called ds_meta, but no format version in it.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE ds_meta(key TEXT PRIMARY KEY, value ANY);").unwrap();
    }
    open_fails_untouched(&path, ErrorCode::FileNotRealm);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM people", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn corrupt_realm_file_gives_file_corrupt_and_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // 1. The first page damaged after the SQLite header magic.
    let path = dir.path().join("c1.realm");
    make_realm(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[16..200] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    open_fails_untouched(&path, ErrorCode::FileCorrupt);

    // 2. Every page but the first overwritten with garbage (the tables are unreadable).
    let path = dir.path().join("c2.realm");
    make_realm(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    for (i, b) in bytes[page..].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    open_fails_untouched(&path, ErrorCode::FileCorrupt);

    // 3. A realm whose stored schema is not valid.
    let path = dir.path().join("c3.realm");
    make_realm(&path);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE ds_meta SET value = '{not json' WHERE key = 'schema'", []).unwrap();
    }
    open_fails_untouched(&path, ErrorCode::FileCorrupt);
}

#[test]
fn realm_reopens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    make_realm(&path);
    let realm = Realm::open(RealmConfig::new(&path, schema())).unwrap();
    assert_eq!(realm.count("Item").unwrap(), 50);
    assert_eq!(realm.get_value("Item", &7.into(), "name").unwrap(), Value::from("item 7"));
}
