//! Issue 2, point 3: transactions (one writer, Busy after a timeout, readers, frozen snapshots),
//! every object and list operation, and iteration in primary-key order.

use driftsync::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn schema() -> Schema {
    Schema::new(vec![
        ClassSchema::new(
            "All",
            "id",
            vec![
                Property::new("id", ScalarType::Int),
                Property::new("b", ScalarType::Bool),
                Property::new("i", ScalarType::Int),
                Property::new("d", ScalarType::Double),
                Property::new("s", ScalarType::String),
                Property::new("bin", ScalarType::Binary),
                Property::new("ts", ScalarType::Timestamp),
                Property::new("oid", ScalarType::ObjectId),
                Property::new("uid", ScalarType::Uuid),
                Property::new("opt", ScalarType::String).optional(),
                Property::link("link", "Str"),
                Property::new("ints", ScalarType::Int).list(),
                Property::new("maybe", ScalarType::String).list().optional(),
                Property::link_list("links", "Str"),
            ],
        ),
        ClassSchema::new("Str", "k", vec![Property::new("k", ScalarType::String), Property::new("n", ScalarType::Int)]),
        ClassSchema::new("Oid", "k", vec![Property::new("k", ScalarType::ObjectId)]),
        ClassSchema::new("Uid", "k", vec![Property::new("k", ScalarType::Uuid)]),
    ])
    .unwrap()
}

fn open(path: &Path, timeout: Duration) -> Realm {
    let mut cfg = RealmConfig::new(path, schema());
    cfg.write_timeout = timeout;
    Realm::open(cfg).unwrap()
}

fn k(s: &str) -> PrimaryKey {
    PrimaryKey::from(s)
}

// ---- one writer ---------------------------------------------------------------------------

#[test]
fn second_writer_thread_waits_then_gets_busy_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_millis(300));
    realm.begin_write().unwrap();
    realm.create("Str", "held", &[]).unwrap();
    let r2 = Realm::open({
        let mut c = RealmConfig::new(dir.path().join("a.realm"), schema());
        c.write_timeout = Duration::from_millis(300);
        c
    })
    .unwrap();
    let waited = std::thread::spawn(move || {
        let t = Instant::now();
        let err = r2.begin_write().unwrap_err();
        (err, t.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(waited.0.code(), ErrorCode::Busy, "{}", waited.0);
    assert!(waited.1 >= Duration::from_millis(280), "returned after {:?}, before the timeout", waited.1);
    assert!(waited.1 < Duration::from_secs(5));
    realm.commit().unwrap();
    assert!(realm.exists("Str", &k("held")).unwrap(), "the first writer was not disturbed");
}

#[test]
fn second_writer_thread_waits_and_proceeds_when_the_first_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = open(&path, Duration::from_secs(10));
    realm.begin_write().unwrap();
    let (tx, rx) = mpsc::channel();
    let p2 = path.clone();
    let h = std::thread::spawn(move || {
        let r2 = open(&p2, Duration::from_secs(10));
        tx.send(()).unwrap();
        let t = Instant::now();
        r2.write(|r| {
            // The first writer's object is visible: this transaction began after its commit.
            assert!(r.exists("Str", &k("first"))?);
            r.create("Str", "second", &[])
        })
        .unwrap();
        t.elapsed()
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    realm.create("Str", "first", &[]).unwrap();
    realm.commit().unwrap();
    let waited = h.join().unwrap();
    assert!(waited >= Duration::from_millis(150), "the second writer did not wait ({waited:?})");
    assert_eq!(realm.count("Str").unwrap(), 2);
}

/// Helper mode: when run by `second_writer_process_...` with DS_TXN_HELPER set, hold a write
/// transaction open until stdin closes.
#[test]
fn helper_hold_write_transaction() {
    let Ok(path) = std::env::var("DS_TXN_HELPER") else { return };
    let realm = open(Path::new(&path), Duration::from_secs(5));
    realm.begin_write().unwrap();
    realm.create("Str", "from-child", &[]).unwrap();
    println!("HOLDING");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if line.trim() == "commit" {
        realm.commit().unwrap();
    }
    println!("DONE");
}

fn spawn_holder(path: &Path) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_hold_write_transaction", "--nocapture", "--test-threads=1"])
        .env("DS_TXN_HELPER", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "helper exited early");
        if line.contains("HOLDING") {
            break;
        }
    }
    (child, out)
}

#[test]
fn second_writer_process_waits_then_gets_busy_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    drop(open(&path, Duration::from_secs(1)));
    let (mut child, _out) = spawn_holder(&path);
    let realm = open(&path, Duration::from_millis(400));
    let t = Instant::now();
    let err = realm.begin_write().unwrap_err();
    let waited = t.elapsed();
    assert_eq!(err.code(), ErrorCode::Busy, "{err}");
    assert!(waited >= Duration::from_millis(350), "gave up after {waited:?}, before the timeout");
    // Readers are not blocked by the other process's writer, and do not see its changes.
    assert_eq!(realm.count("Str").unwrap(), 0);
    // The other process commits: now this one can write and sees the child's object.
    use std::io::Write;
    writeln!(child.stdin.as_mut().unwrap(), "commit").unwrap();
    assert!(child.wait().unwrap().success());
    realm.write(|r| r.create("Str", "parent", &[])).unwrap();
    assert!(realm.exists("Str", &k("from-child")).unwrap());
    assert_eq!(realm.count("Str").unwrap(), 2);
}

#[test]
fn second_writer_process_waits_and_proceeds_when_the_other_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    drop(open(&path, Duration::from_secs(1)));
    let (mut child, _out) = spawn_holder(&path);
    let realm = open(&path, Duration::from_secs(10));
    let stdin = child.stdin.take().unwrap();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(stdin); // the child rolls back and exits
    });
    let t = Instant::now();
    realm.begin_write().unwrap();
    assert!(t.elapsed() >= Duration::from_millis(250), "did not wait for the other process");
    realm.create("Str", "parent", &[]).unwrap();
    realm.commit().unwrap();
    closer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!realm.exists("Str", &k("from-child")).unwrap(), "the child's transaction was rolled back");
    assert!(realm.exists("Str", &k("parent")).unwrap());
}

#[test]
fn readers_run_while_a_writer_is_open_and_see_only_committed_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = open(&path, Duration::from_secs(1));
    realm.write(|r| r.create("Str", "a", &[("n", 1.into())])).unwrap();
    realm.begin_write().unwrap();
    realm.set("Str", &k("a"), "n", 2.into()).unwrap();
    realm.create("Str", "b", &[]).unwrap();
    // The writing thread sees its own changes.
    assert_eq!(realm.get_value("Str", &k("a"), "n").unwrap(), Value::Int(2));
    // Many readers on other threads see the last commit, without waiting for the writer.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || {
                let r = open(&p, Duration::from_secs(1));
                let t = Instant::now();
                for _ in 0..20 {
                    assert_eq!(r.get_value("Str", &k("a"), "n").unwrap(), Value::Int(1));
                    assert_eq!(r.count("Str").unwrap(), 1);
                    assert!(!r.exists("Str", &k("b")).unwrap());
                }
                t.elapsed()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() < Duration::from_secs(2), "readers were blocked by the writer");
    }
    realm.commit().unwrap();
    let r = std::thread::spawn(move || {
        let r = open(&path, Duration::from_secs(1));
        (r.get_value("Str", &k("a"), "n").unwrap(), r.count("Str").unwrap())
    })
    .join()
    .unwrap();
    assert_eq!(r, (Value::Int(2), 2));
}

#[test]
fn frozen_snapshot_is_isolated_while_a_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.realm");
    let realm = open(&path, Duration::from_secs(5));
    realm
        .write(|r| {
            for i in 0..100 {
                r.create("Str", format!("k{i:03}"), &[("n", Value::Int(i))])?;
            }
            Ok(())
        })
        .unwrap();
    let frozen = realm.freeze().unwrap();
    assert!(frozen.is_frozen());
    let p2 = path.clone();
    let writer = std::thread::spawn(move || {
        let r = open(&p2, Duration::from_secs(5));
        for round in 0..20 {
            r.write(|r| {
                r.create("Str", format!("new{round}"), &[])?;
                r.set("Str", &PrimaryKey::from(format!("k{round:03}")), "n", Value::Int(-1))?;
                r.erase("Str", &PrimaryKey::from(format!("k{:03}", 99 - round)))
            })
            .unwrap();
        }
    });
    let mut checks = 0;
    while !writer.is_finished() || checks < 5 {
        assert_eq!(frozen.count("Str").unwrap(), 100);
        let mut sum = 0;
        let mut n = 0;
        frozen
            .for_each("Str", |o| {
                sum += o.value("n").and_then(Value::as_int).unwrap();
                n += 1;
                true
            })
            .unwrap();
        assert_eq!((n, sum), (100, (0..100).sum::<i64>()), "the snapshot changed");
        checks += 1;
    }
    writer.join().unwrap();
    assert_eq!(frozen.get_value("Str", &k("k000"), "n").unwrap(), Value::Int(0));
    assert!(frozen.exists("Str", &k("k099")).unwrap());
    assert!(!frozen.exists("Str", &k("new0")).unwrap());
    // The live realm sees everything.
    assert_eq!(realm.count("Str").unwrap(), 100);
    assert_eq!(realm.get_value("Str", &k("k000"), "n").unwrap(), Value::Int(-1));
    assert!(!realm.exists("Str", &k("k099")).unwrap());
    // A frozen snapshot refuses writes.
    assert_eq!(frozen.begin_write().unwrap_err().code(), ErrorCode::WriteOnFrozen);
}

// ---- object and list operations ----------------------------------------------------------

fn all_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("b", Value::Bool(true)),
        ("i", Value::Int(-42)),
        ("d", Value::Double(2.5)),
        ("s", Value::from("héllo")),
        ("bin", Value::Binary(vec![0, 1, 255])),
        ("ts", Value::Timestamp(Timestamp(-1_000_000_007))),
        ("oid", Value::ObjectId(ObjectId([9; 12]))),
        ("uid", Value::Uuid(Uuid([3; 16]))),
        ("opt", Value::from("x")),
        ("link", Value::Link(k("t"))),
    ]
}

#[test]
fn object_create_get_and_typed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    realm.write(|r| r.create("Str", "t", &[])).unwrap();
    realm.write(|r| r.create("All", 1, &all_fields())).unwrap();
    let o = realm.get("All", &1.into()).unwrap().unwrap();
    assert_eq!(o.class, "All");
    assert_eq!(o.pk, PrimaryKey::Int(1));
    assert_eq!(o.value("id"), Some(&Value::Int(1)));
    for (name, v) in all_fields() {
        assert_eq!(o.value(name), Some(&v), "{name}");
        assert_eq!(realm.get_value("All", &1.into(), name).unwrap(), v, "{name}");
    }
    assert_eq!(o.list("ints"), Some(&[][..]));
    // Defaults of a new object.
    realm.write(|r| r.create("All", 2, &[])).unwrap();
    let d = realm.get("All", &2.into()).unwrap().unwrap();
    assert_eq!(d.value("b"), Some(&Value::Bool(false)));
    assert_eq!(d.value("i"), Some(&Value::Int(0)));
    assert_eq!(d.value("s"), Some(&Value::from("")));
    assert_eq!(d.value("opt"), Some(&Value::Null));
    assert_eq!(d.value("link"), Some(&Value::Null));
    assert!(realm.get("All", &3.into()).unwrap().is_none());
    assert!(realm.exists("All", &2.into()).unwrap());
    assert!(!realm.exists("All", &3.into()).unwrap());
    assert_eq!(realm.count("All").unwrap(), 2);
}

#[test]
fn object_upsert_creates_then_sets_only_given_fields() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    realm.write(|r| r.upsert("Str", "a", &[("n", 1.into())])).unwrap();
    assert_eq!(realm.get_value("Str", &k("a"), "n").unwrap(), Value::Int(1));
    realm.write(|r| r.upsert("Str", "a", &[("n", 2.into())])).unwrap();
    assert_eq!(realm.get_value("Str", &k("a"), "n").unwrap(), Value::Int(2));
    realm.write(|r| r.upsert("Str", "a", &[])).unwrap();
    assert_eq!(realm.get_value("Str", &k("a"), "n").unwrap(), Value::Int(2), "fields not given keep their value");
    assert_eq!(realm.count("Str").unwrap(), 1);
}

#[test]
fn object_set_each_type_and_null() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    realm
        .write(|r| {
            r.create("Str", "t", &[])?;
            r.create("Str", "u", &[])?;
            r.create("All", 1, &[])
        })
        .unwrap();
    realm
        .write(|r| {
            for (name, v) in all_fields() {
                r.set("All", &1.into(), name, v)?;
            }
            Ok(())
        })
        .unwrap();
    for (name, v) in all_fields() {
        assert_eq!(realm.get_value("All", &1.into(), name).unwrap(), v, "{name}");
    }
    realm
        .write(|r| {
            r.set("All", &1.into(), "opt", Value::Null)?;
            r.set("All", &1.into(), "link", Value::Link(k("u")))?;
            r.set("All", &1.into(), "d", Value::Double(f64::NAN))
        })
        .unwrap();
    assert_eq!(realm.get_value("All", &1.into(), "opt").unwrap(), Value::Null);
    assert_eq!(realm.get_value("All", &1.into(), "link").unwrap(), Value::Link(k("u")));
    assert!(matches!(realm.get_value("All", &1.into(), "d").unwrap(), Value::Double(d) if d.is_nan()));
    realm.write(|r| r.set("All", &1.into(), "link", Value::Null)).unwrap();
    assert_eq!(realm.get_value("All", &1.into(), "link").unwrap(), Value::Null);
}

#[test]
fn object_erase_nulls_links_and_leaves_lists() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    realm
        .write(|r| {
            r.create("Str", "t", &[])?;
            r.create("Str", "u", &[])?;
            r.create("All", 1, &[("link", Value::Link(k("t")))])?;
            r.list_push("All", &1.into(), "links", Value::Link(k("t")))?;
            r.list_push("All", &1.into(), "links", Value::Link(k("u")))?;
            r.list_push("All", &1.into(), "links", Value::Link(k("t")))
        })
        .unwrap();
    realm.write(|r| r.erase("Str", &k("t"))).unwrap();
    assert!(!realm.exists("Str", &k("t")).unwrap());
    assert_eq!(realm.get_value("All", &1.into(), "link").unwrap(), Value::Null);
    assert_eq!(realm.get_list("All", &1.into(), "links").unwrap(), vec![Value::Link(k("u"))]);
    realm.write(|r| r.erase("All", &1.into())).unwrap();
    assert_eq!(realm.count("All").unwrap(), 0);
    // Erased then re-created: a fresh object.
    realm.write(|r| r.create("All", 1, &[])).unwrap();
    assert_eq!(realm.get_list("All", &1.into(), "links").unwrap(), Vec::<Value>::new());
}

#[test]
fn list_insert_set_erase_move_clear_push() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    let pk = PrimaryKey::Int(1);
    let ints = |r: &Realm| r.get_list("All", &pk, "ints").unwrap().iter().map(|v| v.as_int().unwrap()).collect::<Vec<_>>();
    realm.write(|r| r.create("All", 1, &[])).unwrap();
    realm
        .write(|r| {
            r.list_push("All", &pk, "ints", 1.into())?;
            r.list_push("All", &pk, "ints", 3.into())?;
            r.list_insert("All", &pk, "ints", 1, 2.into())?;
            r.list_insert("All", &pk, "ints", 0, 0.into())?;
            r.list_insert("All", &pk, "ints", 4, 4.into())
        })
        .unwrap();
    assert_eq!(ints(&realm), vec![0, 1, 2, 3, 4]);
    realm.write(|r| r.list_set("All", &pk, "ints", 2, 20.into())).unwrap();
    assert_eq!(ints(&realm), vec![0, 1, 20, 3, 4]);
    realm.write(|r| r.list_erase("All", &pk, "ints", 0)).unwrap();
    assert_eq!(ints(&realm), vec![1, 20, 3, 4]);
    realm.write(|r| r.list_move("All", &pk, "ints", 0, 3)).unwrap();
    assert_eq!(ints(&realm), vec![20, 3, 4, 1]);
    realm.write(|r| r.list_move("All", &pk, "ints", 3, 0)).unwrap();
    assert_eq!(ints(&realm), vec![1, 20, 3, 4]);
    realm.write(|r| r.list_move("All", &pk, "ints", 1, 2)).unwrap();
    assert_eq!(ints(&realm), vec![1, 3, 20, 4]);
    realm.write(|r| r.list_move("All", &pk, "ints", 2, 2)).unwrap();
    assert_eq!(ints(&realm), vec![1, 3, 20, 4]);
    // Optional elements.
    realm
        .write(|r| {
            r.list_push("All", &pk, "maybe", Value::Null)?;
            r.list_push("All", &pk, "maybe", "a".into())
        })
        .unwrap();
    assert_eq!(realm.get_list("All", &pk, "maybe").unwrap(), vec![Value::Null, "a".into()]);
    realm.write(|r| r.list_clear("All", &pk, "ints")).unwrap();
    assert_eq!(ints(&realm), Vec::<i64>::new());
    realm.write(|r| r.list_clear("All", &pk, "ints")).unwrap();
    // A cleared list is usable again.
    realm.write(|r| r.list_push("All", &pk, "ints", 7.into())).unwrap();
    assert_eq!(ints(&realm), vec![7]);
    // The object read as a whole agrees.
    let o = realm.get("All", &pk).unwrap().unwrap();
    assert_eq!(o.list("ints"), Some(&[Value::Int(7)][..]));
    // Index errors.
    let e = realm.write(|r| r.list_insert("All", &pk, "ints", 5, 1.into())).unwrap_err();
    assert_eq!(e, Error::IndexOutOfRange { index: 5, len: 1 });
    assert_eq!(realm.write(|r| r.list_set("All", &pk, "ints", 1, 1.into())).unwrap_err().code(), ErrorCode::IndexOutOfRange);
    assert_eq!(realm.write(|r| r.list_erase("All", &pk, "ints", 1)).unwrap_err().code(), ErrorCode::IndexOutOfRange);
    assert_eq!(realm.write(|r| r.list_move("All", &pk, "ints", 0, 1)).unwrap_err().code(), ErrorCode::IndexOutOfRange);
    assert_eq!(ints(&realm), vec![7]);
}

#[test]
fn list_ops_in_one_transaction_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    let pk = PrimaryKey::Int(1);
    realm
        .write(|r| {
            r.create("All", 1, &[])?;
            for i in 0..50 {
                r.list_insert("All", &pk, "ints", (i as usize) / 2, Value::Int(i))?;
            }
            for _ in 0..10 {
                r.list_move("All", &pk, "ints", 0, 49)?;
            }
            r.list_erase("All", &pk, "ints", 10)
        })
        .unwrap();
    let mut model: Vec<i64> = Vec::new();
    for i in 0..50 {
        model.insert((i as usize) / 2, i);
    }
    for _ in 0..10 {
        let x = model.remove(0);
        model.push(x);
    }
    model.remove(10);
    let got: Vec<i64> = realm.get_list("All", &pk, "ints").unwrap().iter().map(|v| v.as_int().unwrap()).collect();
    assert_eq!(got, model);
}

// ---- primary-key order --------------------------------------------------------------------

fn shuffled<T>(mut v: Vec<T>) -> Vec<T> {
    let n = v.len();
    for i in 0..n {
        let j = (i * 7919 + 13) % n;
        v.swap(i, j);
    }
    v
}

fn order_of(realm: &Realm, class: &str) -> Vec<PrimaryKey> {
    let mut out = Vec::new();
    realm
        .for_each(class, |o| {
            out.push(o.pk);
            true
        })
        .unwrap();
    out
}

fn check_order(realm: &Realm, class: &str, keys: Vec<PrimaryKey>) {
    realm
        .write(|r| {
            for key in shuffled(keys.clone()) {
                r.create(class, key, &[])?;
            }
            Ok(())
        })
        .unwrap();
    let mut sorted = keys;
    sorted.sort();
    assert_eq!(order_of(realm, class), sorted, "for_each order of {class}");
    // Paging with a cursor gives the same order.
    let mut paged = Vec::new();
    let mut after: Option<PrimaryKey> = None;
    loop {
        let page = realm.objects_page(class, after.as_ref(), 3).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|o| o.pk.clone());
        paged.extend(page.into_iter().map(|o| o.pk));
    }
    assert_eq!(paged, sorted, "objects_page order of {class}");
    // Stopping early works.
    let mut seen = 0;
    realm
        .for_each(class, |_| {
            seen += 1;
            seen < 2
        })
        .unwrap();
    assert_eq!(seen, 2);
}

#[test]
fn iteration_in_primary_key_order_int_including_negatives() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    let keys = [i64::MIN, -1_000_000, -256, -255, -2, -1, 0, 1, 2, 255, 256, 65_536, i64::MAX];
    check_order(&realm, "All", keys.iter().map(|&i| PrimaryKey::Int(i)).collect());
    let ints: Vec<i64> = order_of(&realm, "All").into_iter().map(|p| if let PrimaryKey::Int(i) = p { i } else { 0 }).collect();
    assert_eq!(ints, keys.to_vec());
}

#[test]
fn iteration_in_primary_key_order_string() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    let keys = ["", "a", "A", "aa", "ab", "b", "Z", "é", "ä", "a\u{0}b", "zz", "10", "9"];
    check_order(&realm, "Str", keys.iter().map(|s| PrimaryKey::from(*s)).collect());
}

#[test]
fn iteration_in_primary_key_order_object_id() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    let keys = (0..20u8).map(|i| {
        let mut b = [0u8; 12];
        b[0] = i.wrapping_mul(37);
        b[11] = 255 - i;
        PrimaryKey::ObjectId(ObjectId(b))
    });
    check_order(&realm, "Oid", keys.collect());
}

#[test]
fn iteration_in_primary_key_order_uuid() {
    let dir = tempfile::tempdir().unwrap();
    let realm = open(&dir.path().join("a.realm"), Duration::from_secs(1));
    let keys = (0..20u8).map(|i| {
        let mut b = [0x80u8; 16];
        b[0] = i.wrapping_mul(101);
        b[15] = i;
        PrimaryKey::Uuid(Uuid(b))
    });
    check_order(&realm, "Uid", keys.collect());
}
