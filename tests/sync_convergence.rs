//! Property test: 3–5 clients doing random creates, sets, erases, list edits, counter adds, set and dictionary edits, mixed values (scalars, nested lists and
//! dictionaries, a list inside a dictionary), embedded-object edits, with random
//! disconnections, converge to the server's state (checked against a new client that bootstraps
//! from the server). A fixed seed in CI; for a longer run:
//! `DRIFTSYNC_PROPTEST_CASES=200 DRIFTSYNC_PROPTEST_SEED=3 cargo test --release --test sync_convergence`.

mod common;
use common::*;
use driftsync::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

#[derive(Debug, Clone)]
enum Op {
    Create(i64, u8),
    SetName(i64, u8),
    SetCount(i64, i64),
    Erase(i64),
    ListInsert(i64, usize, u8),
    ListErase(i64, usize),
    ListMove(i64, usize, usize),
    ListSet(i64, usize, u8),
    Link(i64, i64),
    CounterAdd(i64, i64),
    CounterSet(i64, i64),
    SetAdd(i64, u8),
    SetRemove(i64, u8),
    SetLink(i64, i64),
    DictSet(i64, u8, u8),
    DictErase(i64, u8),
    MixedScalar(i64, i64),
    MixedListInsert(i64, usize, u8),
    MixedDictSet(i64, u8, u8),
    MixedDeepInsert(i64, u8),
    EmbeddedReplace(i64, u8),
    EmbeddedRemove(i64),
    EmbeddedField(i64, u8),
    EmbeddedInsert(i64, usize, u8),
    EmbeddedErase(i64, usize),
    EmbeddedListField(i64, usize, i64),
    EmbeddedNestedInsert(i64, usize, u8),
    Disconnect,
    Reconnect,
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..6i64;
    prop_oneof![
        3 => (id.clone(), any::<u8>()).prop_map(|(i, n)| Op::Create(i, n)),
        3 => (id.clone(), any::<u8>()).prop_map(|(i, n)| Op::SetName(i, n)),
        2 => (id.clone(), -5..5i64).prop_map(|(i, c)| Op::SetCount(i, c)),
        1 => id.clone().prop_map(Op::Erase),
        3 => (id.clone(), 0..4usize, any::<u8>()).prop_map(|(i, x, v)| Op::ListInsert(i, x, v)),
        1 => (id.clone(), 0..4usize).prop_map(|(i, x)| Op::ListErase(i, x)),
        1 => (id.clone(), 0..4usize, 0..4usize).prop_map(|(i, a, b)| Op::ListMove(i, a, b)),
        1 => (id.clone(), 0..4usize, any::<u8>()).prop_map(|(i, x, v)| Op::ListSet(i, x, v)),
        1 => (id.clone(), id.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        3 => (id.clone(), -5..5i64).prop_map(|(i, d)| Op::CounterAdd(i, d)),
        1 => (id.clone(), -5..5i64).prop_map(|(i, c)| Op::CounterSet(i, c)),
        2 => (id.clone(), 0..4u8).prop_map(|(i, v)| Op::SetAdd(i, v)),
        2 => (id.clone(), 0..4u8).prop_map(|(i, v)| Op::SetRemove(i, v)),
        1 => (id.clone(), id.clone()).prop_map(|(a, b)| Op::SetLink(a, b)),
        2 => (id.clone(), 0..3u8, any::<u8>()).prop_map(|(i, k, v)| Op::DictSet(i, k, v)),
        1 => (id.clone(), 0..3u8).prop_map(|(i, k)| Op::DictErase(i, k)),
        1 => (id.clone(), -5..5i64).prop_map(|(i, v)| Op::MixedScalar(i, v)),
        2 => (id.clone(), 0..3usize, any::<u8>()).prop_map(|(i, x, v)| Op::MixedListInsert(i, x, v)),
        2 => (id.clone(), 0..3u8, any::<u8>()).prop_map(|(i, k, v)| Op::MixedDictSet(i, k, v)),
        1 => (id, any::<u8>()).prop_map(|(i, v)| Op::MixedDeepInsert(i, v)),
        // Embedded objects live on fewer parents, so that clients touch the same ones.
        2 => (0..2i64, any::<u8>()).prop_map(|(i, v)| Op::EmbeddedReplace(i, v)),
        1 => (0..2i64).prop_map(Op::EmbeddedRemove),
        2 => (0..2i64, any::<u8>()).prop_map(|(i, v)| Op::EmbeddedField(i, v)),
        2 => (0..2i64, 0..3usize, any::<u8>()).prop_map(|(i, x, v)| Op::EmbeddedInsert(i, x, v)),
        1 => (0..2i64, 0..3usize).prop_map(|(i, x)| Op::EmbeddedErase(i, x)),
        2 => (0..2i64, 0..3usize, -5..5i64).prop_map(|(i, x, q)| Op::EmbeddedListField(i, x, q)),
        1 => (0..2i64, 0..3usize, any::<u8>()).prop_map(|(i, x, v)| Op::EmbeddedNestedInsert(i, x, v)),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Reconnect),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<(usize, Op)>)> {
    (3..=5usize).prop_flat_map(|n| (Just(n), prop::collection::vec((0..n, op()), 10..40)))
}

/// An index among the parts of `Item[i]` (`x` modulo their number), making a part first when
/// there is none: embedded ops then rarely fail, and clients conflict on the same objects. The
/// item itself is not made here (its parents exist from the start, see `run_scenario`; the
/// generic `Create` op re-creates erased ones).
fn part(r: &Realm, i: i64, x: usize) -> Result<usize> {
    let n = r.embedded_len("Item", &i.into(), "parts")?;
    if n == 0 {
        r.push_embedded("Item", &i.into(), "parts", &[("name", "first".into())])?;
        return Ok(0);
    }
    Ok(x % n)
}

/// Makes the address of `Item[i]` when missing.
fn address(r: &Realm, i: i64) -> Result<()> {
    if r.get_embedded("Item", &i.into(), "address")?.is_none() {
        r.set_embedded("Item", &i.into(), "address", &[("street", "first".into())])?;
    }
    Ok(())
}

/// Applies one op; ops that do not fit the current state (missing object, index out of range)
/// are skipped, as an app would.
fn apply(r: &Realm, op: &Op) {
    let s = session(r);
    match op {
        Op::Disconnect => s.pause(),
        Op::Reconnect => s.resume(),
        op => {
            let _ = r.write(|r| match op {
                Op::Create(i, n) => r.upsert("Item", *i, &[("name", format!("n{n}").into())]),
                Op::SetName(i, n) => r.set("Item", &(*i).into(), "name", format!("s{n}").into()),
                Op::SetCount(i, c) => r.set("Item", &(*i).into(), "count", (*c).into()),
                Op::Erase(i) => r.erase("Item", &(*i).into()),
                Op::ListInsert(i, x, v) => r.list_insert("Item", &(*i).into(), "tags", *x, format!("t{v}").into()),
                Op::ListErase(i, x) => r.list_erase("Item", &(*i).into(), "tags", *x),
                Op::ListMove(i, a, b) => r.list_move("Item", &(*i).into(), "tags", *a, *b),
                Op::ListSet(i, x, v) => r.list_set("Item", &(*i).into(), "tags", *x, format!("u{v}").into()),
                Op::Link(a, b) => r.set("Item", &(*a).into(), "next", Value::Link((*b).into())),
                Op::CounterAdd(i, d) => r.counter_add("Item", &(*i).into(), "hits", *d),
                Op::CounterSet(i, c) => r.set("Item", &(*i).into(), "hits", (*c).into()),
                Op::SetAdd(i, v) => r.set_add("Item", &(*i).into(), "labels", format!("e{v}").into()),
                Op::SetRemove(i, v) => r.set_remove("Item", &(*i).into(), "labels", format!("e{v}").into()),
                Op::SetLink(a, b) => r.set_add("Item", &(*a).into(), "friends", Value::Link((*b).into())),
                Op::DictSet(i, k, v) => r.dict_set("Item", &(*i).into(), "attrs", &format!("k{k}"), format!("v{v}").into()),
                Op::DictErase(i, k) => r.dict_erase("Item", &(*i).into(), "attrs", &format!("k{k}")),
                Op::MixedScalar(i, v) => r.set("Item", &(*i).into(), "any", (*v).into()),
                Op::MixedListInsert(i, x, v) => {
                    let pk = (*i).into();
                    if !matches!(r.get_mixed("Item", &pk, "any")?, Mixed::List(_)) {
                        r.mixed_set("Item", &pk, "any", &[], MixedInput::List)?;
                    }
                    r.mixed_insert("Item", &pk, "any", &[], *x, format!("m{v}"))
                }
                Op::MixedDictSet(i, k, v) => {
                    let pk = (*i).into();
                    if !matches!(r.get_mixed("Item", &pk, "any")?, Mixed::Dict(_)) {
                        r.mixed_set("Item", &pk, "any", &[], MixedInput::Dictionary)?;
                    }
                    r.mixed_set("Item", &pk, "any", &[format!("k{k}").as_str().into()], i64::from(*v))
                }
                // A list inside a dictionary: {"l": [...]}, created where missing.
                Op::MixedDeepInsert(i, v) => {
                    let pk = (*i).into();
                    let l: MixedKey = "l".into();
                    match r.get_mixed("Item", &pk, "any")? {
                        Mixed::Dict(d) if d.iter().any(|(k, v)| k == "l" && matches!(v, Mixed::List(_))) => {}
                        Mixed::Dict(_) => r.mixed_set("Item", &pk, "any", std::slice::from_ref(&l), MixedInput::List)?,
                        _ => {
                            r.mixed_set("Item", &pk, "any", &[], MixedInput::Dictionary)?;
                            r.mixed_set("Item", &pk, "any", std::slice::from_ref(&l), MixedInput::List)?;
                        }
                    }
                    r.mixed_insert("Item", &pk, "any", &[l], 0, format!("d{v}"))
                }
                Op::EmbeddedReplace(i, v) => r.set_embedded("Item", &(*i).into(), "address", &[("street", format!("r{v}").into())]),
                Op::EmbeddedRemove(i) => r.remove_embedded("Item", &(*i).into(), "address"),
                Op::EmbeddedField(i, v) => {
                    address(r, *i)?;
                    r.set_embedded_value("Item", &(*i).into(), "address.city", format!("c{v}").into())
                }
                Op::EmbeddedInsert(i, x, v) => {
                    let x = (*x).min(r.embedded_len("Item", &(*i).into(), "parts")?);
                    r.insert_embedded("Item", &(*i).into(), "parts", x, &[("name", format!("p{v}").into())])
                }
                Op::EmbeddedErase(i, x) => r.remove_embedded("Item", &(*i).into(), &format!("parts[{}]", part(r, *i, *x)?)),
                Op::EmbeddedListField(i, x, q) => {
                    r.set_embedded_value("Item", &(*i).into(), &format!("parts[{}].qty", part(r, *i, *x)?), (*q).into())
                }
                Op::EmbeddedNestedInsert(i, x, v) => r.push_embedded(
                    "Item",
                    &(*i).into(),
                    &format!("parts[{}].subparts", part(r, *i, *x)?),
                    &[("name", format!("s{v}").into())],
                ),
                Op::Disconnect | Op::Reconnect => Ok(()),
            });
        }
    }
}

fn run_scenario(n: usize, ops: &[(usize, Op)]) -> Result<(), TestCaseError> {
    let ts = start_kinds_server();
    let clients: Vec<Realm> = (0..n)
        .map(|i| open_kinds_client(&ts, &format!("c{i}.realm"), if i % 2 == 0 { "alice" } else { "bob" }, ClientResetConfig::default()))
        .collect();
    // Items 0 and 1, the parents of the embedded ops, exist everywhere from the start.
    clients[0].write(|r| (0..2).try_for_each(|i| r.upsert("Item", i, &[]))).expect("the embedded ops' parents");
    for c in clients.iter().chain(&clients[..1]) {
        sync_all(c);
    }
    for (c, op) in ops {
        apply(&clients[*c], op);
    }
    for c in &clients {
        session(c).resume();
    }
    // Two rounds: everyone uploads, then everyone downloads everything.
    for _ in 0..2 {
        for c in &clients {
            sync_all(c);
        }
    }
    let fresh = open_kinds_client(&ts, "fresh.realm", "alice", ClientResetConfig::default());
    sync_all(&fresh);
    let want = dump(&fresh);
    for (i, c) in clients.iter().enumerate() {
        prop_assert_eq!(&dump(c), &want, "client {} differs from the server state", i);
    }
    Ok(())
}

#[test]
fn random_concurrent_clients_converge_to_the_server_state() {
    let cases = std::env::var("DRIFTSYNC_PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let seed = std::env::var("DRIFTSYNC_PROPTEST_SEED").ok().and_then(|s| s.parse::<u8>().ok()).unwrap_or(7);
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner.run(&scenario(), |(n, ops)| run_scenario(n, &ops)).expect("convergence");
}

/// Item 1 with a tag, and item 0, on three synced clients.
fn three_clients_with_item(ts: &TestServer) -> [Realm; 3] {
    let clients = ["a", "b", "c"].map(|n| open_kinds_client(ts, &format!("{n}.realm"), "alice", ClientResetConfig::default()));
    clients[0].write(|r| r.upsert("Item", 0, &[])).expect("item 0");
    clients[0].write(|r| r.upsert("Item", 1, &[("name", "one".into())])).expect("item");
    clients[0].write(|r| r.list_insert("Item", &1.into(), "tags", 0, "first".into())).expect("tag");
    for c in clients.iter().chain(&clients[..1]) {
        sync_all(c);
    }
    clients
}

/// Every client, after two rounds of sync, has the state a new client bootstraps from the server.
fn assert_all_equal_the_server(ts: &TestServer, clients: &[Realm]) {
    for _ in 0..2 {
        for c in clients {
            sync_all(c);
        }
    }
    let fresh = open_kinds_client(ts, "fresh.realm", "alice", ClientResetConfig::default());
    sync_all(&fresh);
    let want = dump(&fresh);
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(dump(c), want, "client {i} differs from the server state");
    }
}

/// A erases item 1 while B, offline, makes `change` to it; C re-creates it (an upsert) offline,
/// before it saw the erase or after it downloaded it. On the server the item is erased when B's
/// change comes; returns the clients once B and then C are back online.
fn recreate_after_erase(ts: &TestServer, c_saw_the_erase: bool, change: impl FnOnce(&Realm) -> Result<()>) -> [Realm; 3] {
    let [a, b, c] = three_clients_with_item(ts);
    offline(&b);
    if !c_saw_the_erase {
        offline(&c);
    }
    a.write(|r| r.erase("Item", &1.into())).unwrap();
    sync_all(&a);
    if c_saw_the_erase {
        sync_all(&c);
        offline(&c);
    }
    b.write(change).unwrap();
    online(&b);
    c.write(|r| r.upsert("Item", 1, &[("name", "again".into())])).unwrap();
    online(&c);
    [a, b, c]
}

fn insert_a_tag(r: &Realm) -> Result<()> {
    r.list_insert("Item", &1.into(), "tags", 0, "from b".into())
}

/// The server drops B's list insert (the item is erased by then). C re-created the item before
/// it saw the erase: it must not keep B's insert when it integrates the erase and the insert in
/// one download.
#[test]
fn convergence_recreated_object_does_not_keep_an_insert_the_server_dropped() {
    let ts = start_kinds_server();
    let clients = recreate_after_erase(&ts, false, insert_a_tag);
    assert_all_equal_the_server(&ts, &clients);
}

/// As above, but C downloaded the erase before it created the item again, and B's insert comes in
/// a later download: the item C created is not on the server when the insert is applied there.
#[test]
fn convergence_object_created_after_a_downloaded_erase_does_not_keep_an_insert_the_server_dropped() {
    let ts = start_kinds_server();
    let clients = recreate_after_erase(&ts, true, insert_a_tag);
    assert_all_equal_the_server(&ts, &clients);
}

/// A and C create the same item concurrently (A's create comes first on the server), and B
/// changes it after A's create: the server has the item then, so C keeps B's change too.
#[test]
fn convergence_concurrently_created_object_keeps_a_change_made_after_the_first_create() {
    let ts = start_kinds_server();
    let [a, b, c] = three_clients_with_item(&ts);
    offline(&c);
    a.write(|r| r.upsert("Item", 2, &[("name", "from a".into())])).unwrap();
    sync_all(&a);
    sync_all(&b);
    b.write(|r| r.list_insert("Item", &2.into(), "tags", 0, "from b".into())).unwrap();
    sync_all(&b);
    c.write(|r| r.upsert("Item", 2, &[("count", 7.into())])).unwrap();
    online(&c);
    let tags = c.get("Item", &2.into()).unwrap().and_then(|o| o.list("tags").map(<[Value]>::to_vec));
    assert_eq!(tags, Some(strings(&["from b"])), "C keeps B's insert");
    assert_all_equal_the_server(&ts, &[a, b, c]);
}

/// The local creations a file notes (for the rule above) live in a table that a file from before
/// it gets when it is opened; synced away, the note is forgotten.
#[test]
fn convergence_a_file_from_before_local_creations_gets_their_table_when_opened() {
    let ts = start_kinds_server();
    let path = ts.path("old.realm");
    let r = open_kinds_client(&ts, "old.realm", "alice", ClientResetConfig::default());
    r.write(|r| r.upsert("Item", 1, &[])).unwrap();
    sync_all(&r);
    drop(r);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE ds_local_creations; DROP INDEX ds_history_by_server_version;")
        .unwrap();
    let noted = || -> Vec<i64> {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn.prepare("SELECT version FROM ds_local_creations").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let r = open_kinds_client(&ts, "old.realm", "alice", ClientResetConfig::default());
    offline(&r);
    r.write(|r| r.upsert("Item", 2, &[])).unwrap();
    assert_eq!(noted(), vec![r.last_local_version().unwrap() as i64], "the creation of item 2 is noted");
    online(&r);
    // Another client's change downloaded past the acknowledgement lets it go.
    let other = open_kinds_client(&ts, "other.realm", "alice", ClientResetConfig::default());
    sync_all(&other);
    other.write(|r| r.set("Item", &1.into(), "name", "x".into())).unwrap();
    sync_all(&other);
    sync_all(&r);
    assert_eq!(noted(), Vec::<i64>::new(), "forgotten once synced");
    // Forgetting reads the server versions from the index the open added, never a history row
    // (whose changeset's overflow pages come before `server_version`).
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN DELETE FROM ds_local_creations WHERE version IN (SELECT version FROM ds_history WHERE server_version <= 5)",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|step| step.contains("COVERING INDEX ds_history_by_server_version")),
        "the forgetting query reads the history index: {plan:?}"
    );
}

/// As in the first case, B sets a link to the item instead: on the server the item is erased
/// then, so the link is null (rule 6); C, which re-created the item, must null it too.
#[test]
fn convergence_link_to_a_recreated_object_is_null_as_on_the_server() {
    let ts = start_kinds_server();
    let clients = recreate_after_erase(&ts, false, |r| r.set("Item", &0.into(), "next", Value::Link(1.into())));
    let next = clients[2].get("Item", &0.into()).unwrap().and_then(|o| o.value("next").cloned());
    assert_eq!(next, Some(Value::Null), "the link C downloaded is null");
    assert_all_equal_the_server(&ts, &clients);
}
