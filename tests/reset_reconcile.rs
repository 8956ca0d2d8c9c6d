//! Range reconciliation of the fresh copy (issue #14): a reset transfers only the records of key
//! ranges that differ, and gives exactly what a full copy gives.
//!
//! - The fresh copy made by reconciliation against a diverged local file equals the full copy,
//!   over random divergences (property test).
//! - A whole reset reconciled and a whole reset by full copy (a server that does not offer
//!   reconciliation) leave byte-identical realms; the report tells them apart.
//! - Nothing differing costs almost no transfer.

mod common;
use common::*;
use driftsync::protocol::{self, Bind, ClientMessage, ServerMessage};
use driftsync::reset::fresh;
use driftsync::sync::{TlsOptions, WsConn};
use driftsync::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

fn full_copy_server() -> TestServer {
    TestServer::start_with(|c| driftsync_server::AppConfig { reconcile: false, ..c })
}

fn realm_config(path: &Path, url: &str, user: &str, realm: &str, schema: Schema) -> RealmConfig {
    let mut s = SyncConfig::new(url, &format!("{user}-token"), realm);
    s.client_reset = ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges);
    RealmConfig::new(path, schema).with_sync(s)
}

/// Stored objects, raw: (class, primary-key bytes, record bytes).
type RawObjects<C> = Vec<(C, Vec<u8>, Vec<u8>)>;

/// What the transform reads from a fresh copy: objects, layouts, server version and salt.
type FreshContents = (RawObjects<String>, Vec<(String, String)>, i64, i64);

/// Every stored object of a realm file.
fn raw_objects(path: &Path) -> RawObjects<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT class, pk, data FROM ds_objects ORDER BY class, pk").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// The server state a fresh copy stands for, as the transform reads it: for a class the copy
/// holds as a delta over the local file (`fresh_delta`), the local objects minus the keys the
/// server lacks (keys without a record in `fresh_objects`), with the records it sent over them; for every
/// other class, its records. Layouts of the classes that have objects.
fn fresh_contents(path: &Path, local: Option<(&Path, &Schema)>) -> FreshContents {
    let conn = rusqlite::Connection::open(path).unwrap();
    let strings =
        |sql: &str| -> Vec<String> { conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect() };
    let delta: BTreeSet<String> = strings("SELECT class FROM fresh_delta").into_iter().collect();
    let mut objects: BTreeMap<(String, Vec<u8>), Vec<u8>> = BTreeMap::new();
    if let Some((local_path, schema)) = local {
        for (ci, pk, data) in raw_objects(local_path) {
            let class = &schema.classes[ci as usize].name;
            if delta.contains(class) {
                objects.insert((class.clone(), pk), data);
            }
        }
    } else {
        assert!(delta.is_empty(), "a full copy is no delta");
    }
    let mut erase = conn.prepare("SELECT class, pk FROM fresh_objects WHERE data IS NULL").unwrap();
    for row in erase.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).unwrap() {
        objects.remove(&row.unwrap());
    }
    let mut sent = conn.prepare("SELECT class, pk, data FROM fresh_objects WHERE data IS NOT NULL").unwrap();
    for row in sent.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))).unwrap() {
        let (class, pk, data) = row.unwrap();
        objects.insert((class, pk), data);
    }
    let with_objects: BTreeSet<&String> = objects.keys().map(|(c, _)| c).collect();
    let props = conn
        .prepare("SELECT class, props FROM fresh_props ORDER BY class")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(c, _)| with_objects.contains(c))
        .collect();
    let objects = objects.into_iter().map(|((c, k), d)| (c, k, d)).collect();
    let meta = |k: &str| conn.query_row("SELECT value FROM fresh_meta WHERE key = ?1", [k], |r| r.get::<_, i64>(0)).unwrap();
    (objects, props, meta("server_version"), meta("salt"))
}

/// Binds a new client file as a reset does and makes a fresh copy at `into`: reconciled against
/// the local file `local` when given, else a full copy. Returns the copy's transfer and ranges.
fn make_fresh_copy(url: &str, realm: &str, schema: &Schema, local: Option<&Path>, into: &Path) -> (u64, u64) {
    make_fresh_copy_in_windows(url, realm, schema, local, into, reconcile::WINDOW_OBJECTS)
}

/// `make_fresh_copy` with at most `window_objects` local objects per window.
fn make_fresh_copy_in_windows(
    url: &str,
    realm: &str,
    schema: &Schema,
    local: Option<&Path>,
    into: &Path,
    window_objects: usize,
) -> (u64, u64) {
    let mut conn = WsConn::open(url, Duration::from_secs(10), &TlsOptions::default()).unwrap();
    conn.send(&ClientMessage::Bind(Bind {
        protocol_version: protocol::PROTOCOL_VERSION,
        token: "alice-token".into(),
        realm: realm.into(),
        client_file_ident: None,
        server_version: 0,
        salt: 0,
        schema_json: schema.to_json(),
        completing_reset: true,
    }))
    .unwrap();
    let (epoch, offered) = match conn.recv_required(Duration::from_secs(10)).unwrap() {
        ServerMessage::BindOk { epoch, reconcile, .. } => (epoch, reconcile),
        other => panic!("expected BindOk, got {other:?}"),
    };
    assert!(offered, "the test server offers reconciliation");
    let local = local.map(|path| fresh::Local { path, schema, window_objects });
    let copy = fresh::download(&mut conn, into, epoch, local, &|_, _| {}).unwrap();
    conn.close();
    (copy.transferred_bytes, copy.ranges_differed)
}

#[derive(Debug, Clone)]
enum Op {
    Insert(i64),
    Erase(i64),
    Modify(i64),
}

fn apply(r: &Realm, ops: &[Op], tag: &str) {
    r.write(|r| {
        for op in ops {
            match op {
                Op::Insert(id) => {
                    if r.get("Item", &(*id).into())?.is_none() {
                        r.create("Item", *id, &[("name", format!("{tag} new {id}").into())])?;
                    }
                }
                Op::Erase(id) => {
                    if r.get("Item", &(*id).into())?.is_some() {
                        r.erase("Item", &(*id).into())?;
                    }
                }
                Op::Modify(id) => {
                    if r.get("Item", &(*id).into())?.is_some() {
                        r.set("Item", &(*id).into(), "name", format!("{tag} edit {id}").into())?;
                    }
                }
            }
        }
        Ok(())
    })
    .unwrap();
}

fn op_strategy(max_id: i64) -> impl Strategy<Value = Op> {
    prop_oneof![(0..max_id).prop_map(Op::Insert), (0..max_id).prop_map(Op::Erase), (0..max_id).prop_map(Op::Modify)]
}

/// A random divergence: the objects both sides had, then each side's own changes, and schema
/// additions on the server (a new class, or a new property that changes Item's layout).
#[derive(Debug, Clone)]
struct Divergence {
    base: i64,
    people: i64,
    server: Vec<Op>,
    local: Vec<Op>,
    server_adds_class: bool,
    server_adds_property: bool,
}

fn divergence() -> impl Strategy<Value = Divergence> {
    (
        prop_oneof![Just(0i64), 1i64..40, 40i64..400],
        prop_oneof![Just(0i64), 1i64..50],
        proptest::collection::vec(op_strategy(450), 0..40),
        proptest::collection::vec(op_strategy(450), 0..40),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(base, people, server, local, server_adds_class, server_adds_property)| Divergence {
            base,
            people,
            server,
            local,
            server_adds_class,
            server_adds_property,
        })
}

fn with_extra_item_property(schema: Schema) -> Schema {
    let mut classes = schema.classes.clone();
    classes[0].properties.push(Property::new("extra", ScalarType::Int).optional());
    Schema::new(classes).unwrap()
}

/// Plays one divergence on realm `name` of `ts`; compares the reconciled fresh copy with the full
/// copy.
fn check_divergence(ts: &TestServer, name: &str, d: &Divergence) {
    check_divergence_in_windows(ts, name, d, reconcile::WINDOW_OBJECTS);
}

/// `check_divergence` with at most `window_objects` local objects per window.
fn check_divergence_in_windows(ts: &TestServer, name: &str, d: &Divergence, window_objects: usize) {
    let url = ts.url();
    let local_path = ts.path(&format!("{name}-local.realm"));
    let seed = Realm::open(realm_config(&ts.path(&format!("{name}-seed.realm")), &url, "bob", name, schema())).unwrap();
    seed.write(|r| {
        (0..d.base).try_for_each(|i| r.create("Item", i, &[("name", format!("item {i}").into()), ("count", i.into())]))?;
        (0..d.people).try_for_each(|i| r.create("Person", format!("p{i}"), &[("age", i.into())]))
    })
    .unwrap();
    sync_all(&seed);
    let local = Realm::open(realm_config(&local_path, &url, "alice", name, schema())).unwrap();
    sync_all(&local);
    let s = session(&local);
    s.pause();
    eventually("paused", || s.state() == sync::ConnectionState::Disconnected);
    apply(&local, &d.local, "local");
    drop(seed);
    // The server's changes come from a client whose schema may add to the server's.
    let mut server_schema = if d.server_adds_class { schema_with_extra_class() } else { schema() };
    if d.server_adds_property {
        server_schema = with_extra_item_property(server_schema);
    }
    if d.server_adds_class || d.server_adds_property {
        ts.admin(protocol::AdminCommand::ApplySchema { schema_json: server_schema.to_json() });
    }
    let changer = Realm::open(realm_config(&ts.path(&format!("{name}-changer.realm")), &url, "bob", name, server_schema)).unwrap();
    sync_all(&changer);
    apply(&changer, &d.server, "server");
    if d.server_adds_class {
        changer.write(|r| (0..3).try_for_each(|i| r.create("Note", i, &[("text", "n".into())]))).unwrap();
    }
    sync_all(&changer);
    drop(changer);

    let (reconciled, full) = (ts.path(&format!("{name}-reconciled.fresh")), ts.path(&format!("{name}-full.fresh")));
    make_fresh_copy_in_windows(&url, name, &local.schema(), Some(&local_path), &reconciled, window_objects);
    make_fresh_copy(&url, name, &local.schema(), None, &full);
    let schema = local.schema();
    assert_eq!(fresh_contents(&reconciled, Some((&local_path, &schema))), fresh_contents(&full, None), "{d:?}");
    assert_new_keys_are_the_keys_the_local_file_lacks(&reconciled, &local_path, &schema, d);
}

/// A record of a delta class is flagged `new_key` (the transform then does not look for it in
/// the local file) exactly when the local file lacks its key.
fn assert_new_keys_are_the_keys_the_local_file_lacks(fresh: &Path, local_path: &Path, schema: &Schema, d: &Divergence) {
    let local: BTreeSet<(String, Vec<u8>)> =
        raw_objects(local_path).into_iter().map(|(ci, pk, _)| (schema.classes[ci as usize].name.clone(), pk)).collect();
    let conn = rusqlite::Connection::open(fresh).unwrap();
    let mut stmt = conn
        .prepare("SELECT o.class, o.pk, o.new_key FROM fresh_objects o JOIN fresh_delta d ON d.class = o.class WHERE o.data IS NOT NULL")
        .unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, bool>(2)?))).unwrap();
    for row in rows {
        let (class, pk, new_key) = row.unwrap();
        let lacks = !local.contains(&(class.clone(), pk.clone()));
        assert_eq!(new_key, lacks, "{class} {pk:?}: flagged new {new_key}, the local file lacks it: {lacks}; {d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 8, ..ProptestConfig::default() })]

    /// The reconciled fresh copy is exactly the full copy (objects byte for byte, layouts,
    /// server version), whatever diverged: inserts, erases and modifications on either side,
    /// a class or a property the server added, empty classes, either side empty.
    #[test]
    fn reconcile_fresh_copy_equals_full_copy(d in divergence()) {
        let ts = TestServer::start();
        check_divergence(&ts, "p", &d);
    }

    /// The same in small windows (memory flat in the number of objects: each side holds one
    /// window of a class at a time): the client's windows of 100 objects end inside the
    /// server's data, and the server's windows of 40 cannot hold a client window, so it answers
    /// those ranges by scans (`reconcile::stream_answer`) and the smaller ones from its window.
    #[test]
    fn reconcile_in_small_windows_equals_full_copy(d in divergence()) {
        let ts = TestServer::start_with(|c| driftsync_server::AppConfig { reconcile_window_objects: 40, ..c });
        check_divergence_in_windows(&ts, "w", &d, 100);
    }
}

/// Extremes the random cases may miss: the local side empty, the server side empty.
#[test]
fn reconcile_fresh_copy_with_one_side_empty() {
    let ts = TestServer::start();
    let everything_erased_on_server = Divergence {
        base: 300,
        people: 0,
        server: (0..300).map(Op::Erase).collect(),
        local: vec![Op::Modify(5)],
        server_adds_class: false,
        server_adds_property: false,
    };
    check_divergence(&ts, "server-empty", &everything_erased_on_server);
    let everything_erased_locally = Divergence {
        base: 300,
        people: 10,
        server: vec![Op::Insert(400)],
        local: (0..300).map(Op::Erase).collect(),
        server_adds_class: false,
        server_adds_property: false,
    };
    check_divergence(&ts, "local-empty", &everything_erased_locally);
}

/// Plays the same history against `ts`: 3,000 synced items, local and server changes while the
/// client is offline, then sync terminated and re-enabled. Returns the client's realm after the
/// reset and its report.
fn reset_scenario(ts: &TestServer, local_ops: &[Op], server_ops: &[Op]) -> (RawObjects<i64>, reset::ResetReport) {
    let url = ts.url();
    let seed = Realm::open(realm_config(&ts.path("seed.realm"), &url, "bob", "main", schema())).unwrap();
    seed.write(|r| (0..3_000).try_for_each(|i| r.create("Item", i, &[("name", format!("item {i}").into()), ("count", i.into())]))).unwrap();
    sync_all(&seed);
    let path = ts.path("client.realm");
    let client = Realm::open(realm_config(&path, &url, "alice", "main", schema())).unwrap();
    sync_all(&client);
    let s = session(&client);
    s.pause();
    eventually("paused", || s.state() == sync::ConnectionState::Disconnected);
    apply(&client, local_ops, "local");
    apply(&seed, server_ops, "server");
    sync_all(&seed);
    drop(seed);
    drop(s);
    drop(client);
    ts.admin(protocol::AdminCommand::Terminate);
    ts.admin(protocol::AdminCommand::Enable);
    let client = Realm::open(realm_config(&path, &url, "alice", "main", schema())).unwrap();
    eventually("the reset completes", || client.last_reset_report().unwrap().is_some());
    let report = client.last_reset_report().unwrap().unwrap();
    drop(client);
    (raw_objects(&path), report)
}

fn some_changes() -> (Vec<Op>, Vec<Op>) {
    let local = vec![Op::Modify(10), Op::Insert(5_000), Op::Erase(20), Op::Modify(2_999)];
    let server = (0..30).map(|i| Op::Modify(i * 97)).chain([Op::Erase(1_500), Op::Insert(6_000)]).collect();
    (local, server)
}

/// A reconciled reset and a full-copy reset (a server that does not offer reconciliation, as an
/// older server) leave byte-identical realms; the reconciled one transfers far less and reports
/// the ranges that differed, the full copy reports none.
#[test]
fn reconcile_reset_gives_the_same_realm_as_a_full_copy() {
    let (local, server) = some_changes();
    let reconciling = TestServer::start();
    let (reconciled, rep_r) = reset_scenario(&reconciling, &local, &server);
    let full = full_copy_server();
    let (copied, rep_f) = reset_scenario(&full, &local, &server);
    assert_eq!(reconciled.len(), copied.len());
    assert!(reconciled == copied, "the realms after the two resets differ");
    assert!(rep_r.ranges_differed > 0, "{rep_r:?}");
    assert_eq!(rep_f.ranges_differed, 0, "a full copy has no ranges: {rep_f:?}");
    let records: usize = copied.iter().map(|(_, k, d)| k.len() + d.len()).sum();
    assert!(rep_f.transferred_bytes as usize >= records, "a full copy transfers every record: {} < {records}", rep_f.transferred_bytes);
    assert!(
        rep_r.transferred_bytes * 5 < rep_f.transferred_bytes,
        "reconciled {} vs full {}",
        rep_r.transferred_bytes,
        rep_f.transferred_bytes
    );
}

/// When nothing differs only fingerprints travel.
#[test]
fn reconcile_nothing_differs_transfers_almost_nothing() {
    let ts = TestServer::start();
    let (objects, rep) = reset_scenario(&ts, &[], &[]);
    let records: usize = objects.iter().map(|(_, k, d)| k.len() + d.len()).sum();
    assert_eq!(rep.ranges_differed, 0, "{rep:?}");
    assert!(rep.transferred_bytes > 0);
    assert!((rep.transferred_bytes as usize) * 200 < records, "{} bytes for {records} bytes of records", rep.transferred_bytes);
}

/// A server from before range reconciliation sends a `BindOk` without the `reconcile` field: it
/// decodes as "not offered", so the client takes the full copy.
#[test]
fn reconcile_not_offered_by_an_older_server_bind_ok() {
    #[derive(serde::Serialize)]
    enum OlderServerMessage {
        BindOk { client_file_ident: u64, server_version: u64, salt: u64, epoch: u64, schema_json: String, new_file: bool },
    }
    let older = OlderServerMessage::BindOk {
        client_file_ident: 7,
        server_version: 3,
        salt: 4,
        epoch: 1,
        schema_json: schema().to_json(),
        new_file: true,
    };
    let bytes = rmp_serde::to_vec(&older).unwrap();
    match protocol::decode::<ServerMessage>(&bytes).unwrap() {
        ServerMessage::BindOk { client_file_ident, reconcile, .. } => {
            assert_eq!(client_file_ident, 7);
            assert!(!reconcile, "an older server does not offer reconciliation");
        }
        other => panic!("expected BindOk, got {other:?}"),
    }
}
