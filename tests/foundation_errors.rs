//! Issue 2, point 6: one error type with a stable code per kind. Each kind is produced by a wrong
//! call, and the realm is unchanged afterwards.

use driftsync::*;
use std::path::Path;
use std::time::Duration;

fn schema() -> Schema {
    Schema::new(vec![
        ClassSchema::new(
            "Dog",
            "id",
            vec![
                Property::new("id", ScalarType::Int),
                Property::new("name", ScalarType::String),
                Property::new("age", ScalarType::Int).optional(),
                Property::link("owner", "Person"),
                Property::new("tags", ScalarType::String).list(),
            ],
        ),
        ClassSchema::new("Person", "name", vec![Property::new("name", ScalarType::String)]),
    ])
    .unwrap()
}

type WrongCall = Box<dyn Fn(&Realm) -> Result<()>>;

fn open(path: &Path) -> Realm {
    let mut cfg = RealmConfig::new(path, schema());
    cfg.write_timeout = Duration::from_millis(200);
    Realm::open(cfg).unwrap()
}

fn setup() -> (tempfile::TempDir, Realm) {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"));
    realm
        .write(|r| {
            r.create("Person", "ann", &[])?;
            r.create("Dog", 1, &[("name", "rex".into()), ("owner", Value::Link("ann".into()))])?;
            r.list_push("Dog", &1.into(), "tags", "a".into())
        })
        .unwrap();
    (dir, realm)
}

/// Everything in the realm, as read.
fn dump(realm: &Realm) -> Vec<Object> {
    let mut out = Vec::new();
    for class in ["Dog", "Person"] {
        realm
            .for_each(class, |o| {
                out.push(o);
                true
            })
            .unwrap();
    }
    out
}

/// Runs `wrong` inside a write transaction after a valid change, expects `code`, commits what
/// remains, and checks that only the valid change landed: the wrong call changed nothing.
fn wrong_in_txn(code: ErrorCode, wrong: impl FnOnce(&Realm) -> Result<()>) {
    let (_d, realm) = setup();
    let before = dump(&realm);
    realm.begin_write().unwrap();
    let err = wrong(&realm).unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    assert!(realm.is_in_write_transaction(), "the transaction is still usable");
    realm.commit().unwrap();
    assert_eq!(dump(&realm), before, "a wrong call ({err}) changed the realm");
}

#[test]
fn error_codes_are_stable() {
    let codes = [
        (ErrorCode::InvalidArgument, 1),
        (ErrorCode::InvalidSchema, 2),
        (ErrorCode::UnknownClass, 3),
        (ErrorCode::UnknownProperty, 4),
        (ErrorCode::TypeMismatch, 5),
        (ErrorCode::ObjectNotFound, 6),
        (ErrorCode::DuplicatePrimaryKey, 7),
        (ErrorCode::NotInWriteTransaction, 8),
        (ErrorCode::WriteOnFrozen, 9),
        (ErrorCode::BreakingSchemaChange, 10),
        (ErrorCode::FileNotRealm, 11),
        (ErrorCode::FileFormatTooNew, 12),
        (ErrorCode::FileCorrupt, 13),
        (ErrorCode::FileIo, 14),
        (ErrorCode::Busy, 15),
        (ErrorCode::Closed, 16),
        (ErrorCode::IndexOutOfRange, 17),
        (ErrorCode::AlreadyInWriteTransaction, 18),
    ];
    for (c, n) in codes {
        assert_eq!(c as i32, n, "{c:?}");
    }
}

#[test]
fn error_unknown_class() {
    wrong_in_txn(ErrorCode::UnknownClass, |r| r.create("Cat", 1, &[]));
    wrong_in_txn(ErrorCode::UnknownClass, |r| r.set("Cat", &1.into(), "x", 1.into()));
    wrong_in_txn(ErrorCode::UnknownClass, |r| r.erase("Cat", &1.into()));
    wrong_in_txn(ErrorCode::UnknownClass, |r| r.list_push("Cat", &1.into(), "x", 1.into()));
    let (_d, realm) = setup();
    assert_eq!(realm.get("Cat", &1.into()).unwrap_err().code(), ErrorCode::UnknownClass);
    assert_eq!(realm.count("Cat").unwrap_err().code(), ErrorCode::UnknownClass);
    assert_eq!(realm.for_each("Cat", |_| true).unwrap_err().code(), ErrorCode::UnknownClass);
}

#[test]
fn error_unknown_property() {
    wrong_in_txn(ErrorCode::UnknownProperty, |r| r.set("Dog", &1.into(), "color", "red".into()));
    wrong_in_txn(ErrorCode::UnknownProperty, |r| r.create("Dog", 2, &[("name", "ok".into()), ("color", "red".into())]));
    wrong_in_txn(ErrorCode::UnknownProperty, |r| r.list_push("Dog", &1.into(), "colors", "red".into()));
    let (_d, realm) = setup();
    let err = realm.get_value("Dog", &1.into(), "color").unwrap_err();
    assert_eq!(err, Error::UnknownProperty { class: "Dog".into(), property: "color".into() });
}

#[test]
fn error_type_mismatch() {
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.set("Dog", &1.into(), "name", 5.into()));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.set("Dog", &1.into(), "name", Value::Null));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.create("Dog", "one", &[]));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.create("Dog", 2, &[("name", "ok".into()), ("age", "old".into())]));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.list_push("Dog", &1.into(), "tags", 1.into()));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.list_push("Dog", &1.into(), "name", "x".into()));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.set("Dog", &1.into(), "tags", "x".into()));
    wrong_in_txn(ErrorCode::TypeMismatch, |r| r.set("Dog", &1.into(), "owner", Value::Link(5.into())));
    let (_d, realm) = setup();
    assert_eq!(realm.get_value("Dog", &1.into(), "tags").unwrap_err().code(), ErrorCode::TypeMismatch);
    assert_eq!(realm.get_list("Dog", &1.into(), "name").unwrap_err().code(), ErrorCode::TypeMismatch);
}

#[test]
fn error_object_not_found() {
    wrong_in_txn(ErrorCode::ObjectNotFound, |r| r.set("Dog", &9.into(), "name", "x".into()));
    wrong_in_txn(ErrorCode::ObjectNotFound, |r| r.erase("Dog", &9.into()));
    wrong_in_txn(ErrorCode::ObjectNotFound, |r| r.list_push("Dog", &9.into(), "tags", "x".into()));
    wrong_in_txn(ErrorCode::ObjectNotFound, |r| r.set("Dog", &1.into(), "owner", Value::Link("bob".into())));
    wrong_in_txn(ErrorCode::ObjectNotFound, |r| r.create("Dog", 2, &[("owner", Value::Link("bob".into()))]));
    let (_d, realm) = setup();
    assert_eq!(realm.get_value("Dog", &9.into(), "name").unwrap_err().code(), ErrorCode::ObjectNotFound);
}

#[test]
fn error_duplicate_primary_key_on_create() {
    wrong_in_txn(ErrorCode::DuplicatePrimaryKey, |r| r.create("Dog", 1, &[("name", "other".into())]));
    wrong_in_txn(ErrorCode::DuplicatePrimaryKey, |r| r.create("Person", "ann", &[]));
    // Also against an object created earlier in the same transaction.
    let (_d, realm) = setup();
    realm.begin_write().unwrap();
    realm.create("Dog", 2, &[("name", "first".into())]).unwrap();
    let err = realm.create("Dog", 2, &[("name", "second".into())]).unwrap_err();
    assert_eq!(err, Error::DuplicatePrimaryKey { class: "Dog".into(), pk: "2".into() });
    realm.commit().unwrap();
    assert_eq!(realm.get_value("Dog", &2.into(), "name").unwrap(), Value::from("first"));
}

#[test]
fn error_invalid_argument_changing_a_primary_key() {
    wrong_in_txn(ErrorCode::InvalidArgument, |r| r.set("Dog", &1.into(), "id", 2.into()));
    wrong_in_txn(ErrorCode::InvalidArgument, |r| r.create("Dog", 2, &[("id", 3.into())]));
}

#[test]
fn error_index_out_of_range() {
    wrong_in_txn(ErrorCode::IndexOutOfRange, |r| r.list_insert("Dog", &1.into(), "tags", 2, "x".into()));
    wrong_in_txn(ErrorCode::IndexOutOfRange, |r| r.list_set("Dog", &1.into(), "tags", 1, "x".into()));
    wrong_in_txn(ErrorCode::IndexOutOfRange, |r| r.list_erase("Dog", &1.into(), "tags", 5));
    wrong_in_txn(ErrorCode::IndexOutOfRange, |r| r.list_move("Dog", &1.into(), "tags", 0, 1));
}

#[test]
fn error_already_in_write_transaction() {
    wrong_in_txn(ErrorCode::AlreadyInWriteTransaction, |r| r.begin_write());
}

#[test]
fn error_write_outside_a_transaction() {
    let (_d, realm) = setup();
    let before = dump(&realm);
    let calls: Vec<WrongCall> = vec![
        Box::new(|r| r.create("Dog", 2, &[])),
        Box::new(|r| r.upsert("Dog", 1, &[("name", "x".into())])),
        Box::new(|r| r.set("Dog", &1.into(), "name", "x".into())),
        Box::new(|r| r.erase("Dog", &1.into())),
        Box::new(|r| r.list_push("Dog", &1.into(), "tags", "x".into())),
        Box::new(|r| r.list_clear("Dog", &1.into(), "tags")),
        Box::new(|r| r.commit().map(|_| ())),
        Box::new(|r| r.cancel()),
    ];
    for call in &calls {
        assert_eq!(call(&realm).unwrap_err().code(), ErrorCode::NotInWriteTransaction);
    }
    // A transaction is owned by its thread: another thread cannot write into it.
    realm.begin_write().unwrap();
    let path = realm.path().to_path_buf();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(realm.set("Dog", &1.into(), "name", "x".into()).unwrap_err().code(), ErrorCode::NotInWriteTransaction);
            assert_eq!(realm.commit().unwrap_err().code(), ErrorCode::NotInWriteTransaction);
        });
    });
    realm.cancel().unwrap();
    drop(path);
    assert_eq!(dump(&realm), before);
}

#[test]
fn error_write_on_frozen_snapshot() {
    let (_d, realm) = setup();
    let before = dump(&realm);
    let frozen = realm.freeze().unwrap();
    assert_eq!(frozen.begin_write().unwrap_err().code(), ErrorCode::WriteOnFrozen);
    assert_eq!(frozen.write(|r| r.create("Dog", 2, &[])).unwrap_err().code(), ErrorCode::WriteOnFrozen);
    assert_eq!(frozen.set("Dog", &1.into(), "name", "x".into()).unwrap_err().code(), ErrorCode::WriteOnFrozen);
    assert_eq!(frozen.list_push("Dog", &1.into(), "tags", "x".into()).unwrap_err().code(), ErrorCode::WriteOnFrozen);
    assert_eq!(frozen.erase("Dog", &1.into()).unwrap_err().code(), ErrorCode::WriteOnFrozen);
    assert_eq!(dump(&realm), before);
    assert_eq!(dump(&frozen), before);
}

#[test]
fn error_breaking_schema_change() {
    let (d, realm) = setup();
    let before = dump(&realm);
    let other = Schema::new(vec![ClassSchema::new("Dog", "id", vec![Property::new("id", ScalarType::String)])]).unwrap();
    let err = Realm::open(RealmConfig::new(d.path().join("a.realm"), other)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::BreakingSchemaChange);
    assert_eq!(dump(&realm), before);
}

#[test]
fn error_invalid_schema() {
    assert_eq!(Schema::new(vec![ClassSchema::new("A", "x", vec![])]).unwrap_err().code(), ErrorCode::InvalidSchema);
}

#[test]
fn error_file_kinds() {
    let dir = tempfile::tempdir().unwrap();
    // Not a realm.
    let p = dir.path().join("text.realm");
    std::fs::write(&p, b"just text, long enough to not look like an empty file at all...........").unwrap();
    assert_eq!(Realm::open(RealmConfig::new(&p, schema())).unwrap_err().code(), ErrorCode::FileNotRealm);
    // Too new.
    let p = dir.path().join("new.realm");
    drop(open(&p));
    rusqlite::Connection::open(&p).unwrap().execute("UPDATE ds_meta SET value = 99 WHERE key = 'format_version'", []).unwrap();
    assert_eq!(Realm::open(RealmConfig::new(&p, schema())).unwrap_err().code(), ErrorCode::FileFormatTooNew);
    // Corrupt.
    let p = dir.path().join("bad.realm");
    drop(open(&p));
    let mut b = std::fs::read(&p).unwrap();
    b[16..100].fill(0xEE);
    std::fs::write(&p, &b).unwrap();
    assert_eq!(Realm::open(RealmConfig::new(&p, schema())).unwrap_err().code(), ErrorCode::FileCorrupt);
    // I/O: a directory that does not exist, and a path that is a directory.
    let p = dir.path().join("no/such/dir/a.realm");
    assert_eq!(Realm::open(RealmConfig::new(&p, schema())).unwrap_err().code(), ErrorCode::FileIo);
    assert!(!p.exists());
    let p = dir.path().join("isadir");
    std::fs::create_dir(&p).unwrap();
    assert_eq!(Realm::open(RealmConfig::new(&p, schema())).unwrap_err().code(), ErrorCode::FileIo);
}

#[test]
fn error_busy() {
    let (d, realm) = setup();
    let before = dump(&realm);
    realm.begin_write().unwrap();
    let path = d.path().join("a.realm");
    let err = std::thread::spawn(move || open(&path).begin_write().unwrap_err()).join().unwrap();
    assert_eq!(err.code(), ErrorCode::Busy);
    realm.commit().unwrap();
    assert_eq!(dump(&realm), before);
}

#[test]
fn error_closed() {
    let (d, realm) = setup();
    let other = open(&d.path().join("a.realm"));
    let before = dump(&other);
    realm.close();
    assert!(realm.is_closed());
    assert_eq!(realm.count("Dog").unwrap_err().code(), ErrorCode::Closed);
    assert_eq!(realm.begin_write().unwrap_err().code(), ErrorCode::Closed);
    assert_eq!(realm.write(|r| r.create("Dog", 5, &[])).unwrap_err().code(), ErrorCode::Closed);
    realm.close(); // twice is fine
    assert_eq!(dump(&other), before, "other handles stay open and unchanged");
}

#[test]
fn closing_inside_a_transaction_rolls_it_back() {
    let (d, realm) = setup();
    let other = open(&d.path().join("a.realm"));
    let before = dump(&other);
    realm.begin_write().unwrap();
    realm.create("Dog", 5, &[]).unwrap();
    realm.close();
    assert_eq!(dump(&other), before);
    other.write(|r| r.create("Dog", 6, &[])).unwrap();
}

#[test]
fn failed_write_closure_rolls_back_everything() {
    let (_d, realm) = setup();
    let before = dump(&realm);
    let err = realm
        .write(|r| {
            r.create("Dog", 2, &[])?;
            r.set("Dog", &1.into(), "name", "changed".into())?;
            r.list_push("Dog", &1.into(), "tags", "b".into())?;
            r.erase("Person", &"ann".into())?;
            r.create("Dog", 1, &[])
        })
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DuplicatePrimaryKey);
    assert_eq!(dump(&realm), before);
    assert!(!realm.is_in_write_transaction());
}

// ---- no panic on any input; a failing call changes nothing --------------------------------

mod random_calls {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(Value::Int),
            any::<f64>().prop_map(Value::Double),
            "[a-c]{0,2}".prop_map(Value::String),
            proptest::collection::vec(any::<u8>(), 0..3).prop_map(Value::Binary),
            Just(Value::Link("ann".into())),
            Just(Value::Link("bob".into())),
            (-2i64..3).prop_map(|i| Value::Link(i.into())),
        ]
    }

    fn pk() -> impl Strategy<Value = PrimaryKey> {
        prop_oneof![(-2i64..4).prop_map(PrimaryKey::Int), prop_oneof![Just("ann"), Just("bob"), Just("")].prop_map(PrimaryKey::from)]
    }

    #[derive(Debug, Clone)]
    enum Call {
        Create(&'static str, PrimaryKey, &'static str, Value),
        Upsert(&'static str, PrimaryKey, &'static str, Value),
        Set(&'static str, PrimaryKey, &'static str, Value),
        Erase(&'static str, PrimaryKey),
        Insert(&'static str, PrimaryKey, &'static str, usize, Value),
        ListSet(&'static str, PrimaryKey, &'static str, usize, Value),
        ListErase(&'static str, PrimaryKey, &'static str, usize),
        Move(&'static str, PrimaryKey, &'static str, usize, usize),
        Clear(&'static str, PrimaryKey, &'static str),
        Read(&'static str, PrimaryKey, &'static str),
    }

    fn call() -> impl Strategy<Value = Call> {
        let class = prop_oneof![Just("Dog"), Just("Person"), Just("Cat")];
        let prop = prop_oneof![Just("id"), Just("name"), Just("age"), Just("owner"), Just("tags"), Just("nope")];
        prop_oneof![
            (class.clone(), pk(), prop.clone(), value()).prop_map(|(c, k, p, v)| Call::Create(c, k, p, v)),
            (class.clone(), pk(), prop.clone(), value()).prop_map(|(c, k, p, v)| Call::Upsert(c, k, p, v)),
            (class.clone(), pk(), prop.clone(), value()).prop_map(|(c, k, p, v)| Call::Set(c, k, p, v)),
            (class.clone(), pk()).prop_map(|(c, k)| Call::Erase(c, k)),
            (class.clone(), pk(), prop.clone(), 0usize..4, value()).prop_map(|(c, k, p, i, v)| Call::Insert(c, k, p, i, v)),
            (class.clone(), pk(), prop.clone(), 0usize..4, value()).prop_map(|(c, k, p, i, v)| Call::ListSet(c, k, p, i, v)),
            (class.clone(), pk(), prop.clone(), 0usize..4).prop_map(|(c, k, p, i)| Call::ListErase(c, k, p, i)),
            (class.clone(), pk(), prop.clone(), 0usize..4, 0usize..4).prop_map(|(c, k, p, a, b)| Call::Move(c, k, p, a, b)),
            (class.clone(), pk(), prop.clone()).prop_map(|(c, k, p)| Call::Clear(c, k, p)),
            (class, pk(), prop).prop_map(|(c, k, p)| Call::Read(c, k, p)),
        ]
    }

    fn run(r: &Realm, c: &Call) -> Result<()> {
        match c.clone() {
            Call::Create(cl, k, p, v) => r.create(cl, k, &[(p, v)]),
            Call::Upsert(cl, k, p, v) => r.upsert(cl, k, &[(p, v)]),
            Call::Set(cl, k, p, v) => r.set(cl, &k, p, v),
            Call::Erase(cl, k) => r.erase(cl, &k),
            Call::Insert(cl, k, p, i, v) => r.list_insert(cl, &k, p, i, v),
            Call::ListSet(cl, k, p, i, v) => r.list_set(cl, &k, p, i, v),
            Call::ListErase(cl, k, p, i) => r.list_erase(cl, &k, p, i),
            Call::Move(cl, k, p, a, b) => r.list_move(cl, &k, p, a, b),
            Call::Clear(cl, k, p) => r.list_clear(cl, &k, p),
            Call::Read(cl, k, p) => r.get_value(cl, &k, p).and_then(|_| r.get_list(cl, &k, p)).map(|_| ()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Random calls, mostly wrong: none panics, and every one that fails leaves the realm
        /// (as seen inside the open transaction) exactly as it was.
        #[test]
        fn random_calls_never_panic_and_failures_change_nothing(calls in proptest::collection::vec(call(), 1..40)) {
            let (_d, realm) = setup();
            realm.begin_write().unwrap();
            for c in &calls {
                let before = dump(&realm);
                if let Err(e) = run(&realm, c) {
                    prop_assert_eq!(dump(&realm), before, "{:?} failed with {} but changed the realm", c, e);
                }
            }
            let inside = dump(&realm);
            realm.commit().unwrap();
            prop_assert_eq!(dump(&realm), inside);
        }
    }
}
