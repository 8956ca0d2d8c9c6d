//! The reset transform works out the net effect before it writes (issue 13): each object is
//! written at most once, observers get exactly the net change (the transform's own summary), and
//! the report's phase timings cover the whole reset, commit included.

mod common;
use common::*;
use driftsync::protocol::AdminCommand;
use driftsync::reset::{ResetDecision, ResetReport};
use driftsync::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn offline(r: &Realm) {
    let s = session(r);
    s.pause();
    eventually("disconnected", || s.state() == sync::ConnectionState::Disconnected);
}

/// A reset config whose after hook hands over the report as stored after the commit and every
/// change summary observers received up to then (so only the reset's commit, after setup).
struct Watched {
    config: ClientResetConfig,
    done: Receiver<ResetReport>,
    seen: Arc<Mutex<Vec<ChangeSummary>>>,
}

fn watched(mode: ClientResetMode) -> Watched {
    let (tx, done) = channel();
    let tx = Mutex::new(tx);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut config = ClientResetConfig::new(mode);
    config.after = Some(Arc::new(move |_: &Realm, live: &Realm, _: bool| {
        let rep = live.last_reset_report().map_err(|e| e.to_string())?.ok_or("no report")?;
        tx.lock().unwrap().send(rep).map_err(|e| e.to_string())
    }));
    Watched { config, done, seen }
}

impl Watched {
    fn observe(&self, r: &Realm) -> NotificationToken {
        let seen = self.seen.clone();
        r.observe(ObserverScope::Realm, move |c| seen.lock().unwrap().push(c.clone())).unwrap()
    }

    /// Terminates and re-enables sync on the server, resumes the client, and waits for the
    /// after hook. Returns the report and the summaries observers got from the reset.
    fn reset(&self, ts: &TestServer, r: &Realm) -> (ResetReport, Vec<ChangeSummary>) {
        self.seen.lock().unwrap().clear();
        ts.admin(AdminCommand::Terminate);
        ts.admin(AdminCommand::Enable);
        session(r).resume();
        let rep = self.done.recv_timeout(T).expect("the reset completes");
        (rep, std::mem::take(&mut *self.seen.lock().unwrap()))
    }
}

fn ids(v: impl IntoIterator<Item = i64>) -> BTreeSet<PrimaryKey> {
    v.into_iter().map(PrimaryKey::from).collect()
}

/// 40 items, each linking to the next; a person listing items 0..6.
fn seed(r: &Realm) {
    r.write(|r| {
        for i in 0..40i64 {
            r.create("Item", i, &[("name", format!("item {i}").into()), ("count", Value::Int(i))])?;
        }
        for i in 0..39i64 {
            r.set("Item", &i.into(), "next", Value::Link((i + 1).into()))?;
        }
        r.create("Person", "p", &[])?;
        for i in 0..6i64 {
            r.list_push("Person", &"p".into(), "items", Value::Link(i.into()))?;
        }
        Ok(())
    })
    .unwrap();
}

/// Client a (watched, offline once seeded and synced) and client b (online), both with `seed`.
fn seeded_pair(ts: &TestServer, w: &Watched) -> (std::path::PathBuf, Realm, Realm) {
    let path = ts.path("a.realm");
    let a = open_client(&path, &ts.url(), "alice", w.config.clone());
    seed(&a);
    sync_all(&a);
    let b = open_client(&ts.path("b.realm"), &ts.url(), "bob", ClientResetConfig::default());
    sync_all(&b);
    offline(&a);
    (path, a, b)
}

/// Expects `Person[p].items` changed by `changes`.
fn person_items(expected: &mut ChangeSummary, changes: Changed<usize>) {
    expected.record_modify("Person", &"p".into(), "items");
    let person = expected.classes.get_mut("Person").expect("just recorded");
    person.collections.entry("p".into()).or_default().insert("items", CollectionChanges::List(changes));
}

/// What the other client does to items `ids`: new names.
fn rename_on_server(r: &Realm, ids: std::ops::Range<i64>) -> driftsync::Result<()> {
    ids.into_iter().try_for_each(|i| r.set("Item", &i.into(), "name", format!("server {i}").into()))
}

/// Logs every row written to `ds_objects` in the realm file (a REPLACE logs once: SQLite runs
/// no delete trigger for the row it replaces).
fn log_object_writes(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE test_writes(class INTEGER, pk BLOB);
         CREATE TRIGGER test_w_ins AFTER INSERT ON ds_objects BEGIN INSERT INTO test_writes VALUES(new.class, new.pk); END;
         CREATE TRIGGER test_w_upd AFTER UPDATE ON ds_objects BEGIN INSERT INTO test_writes VALUES(new.class, new.pk); END;
         CREATE TRIGGER test_w_del AFTER DELETE ON ds_objects BEGIN INSERT INTO test_writes VALUES(old.class, old.pk); END;",
    )
    .unwrap();
}

/// How many backlink rows the file has from items to item `target`.
fn backlinks_between_items_to(path: &std::path::Path, target: i64) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("SELECT count(*) FROM ds_backlinks WHERE tpk = ?1 AND sclass = tclass", [PrimaryKey::from(target).to_key_bytes()], |r| {
        r.get(0)
    })
    .unwrap()
}

/// (class, pk bytes) → how many times it was written since logging started.
fn object_writes(path: &std::path::Path) -> BTreeMap<(i64, Vec<u8>), u64> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut stmt = c.prepare("SELECT class, pk, count(*) FROM test_writes GROUP BY class, pk").unwrap();
    stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get::<_, i64>(2)? as u64))).unwrap().map(|r| r.unwrap()).collect()
}

/// The server and the client change the same objects; recovery applies the client's changes on
/// top of the server's. Before issue 13 the diff wrote such objects and the replay wrote them
/// again (items 0..10 here), and an erase's cascade rewrote the object linking to it.
#[test]
fn recover_writes_each_object_at_most_once_and_converges() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::RecoverUnsyncedChanges);
    let (path, a, b) = seeded_pair(&ts, &w);
    b.write(|r| {
        rename_on_server(r, 0..20)?;
        for i in 20..30i64 {
            r.erase("Item", &i.into())?;
        }
        Ok(())
    })
    .unwrap();
    sync_all(&b);
    a.write(|r| {
        for i in 0..10i64 {
            r.set("Item", &i.into(), "count", Value::Int(-i))?;
        }
        for i in 20..25i64 {
            r.set("Item", &i.into(), "count", Value::Int(-i))?;
        }
        r.create("Item", 100, &[("name", "new".into()), ("next", Value::Link(5.into()))])?;
        r.erase("Item", &6.into())?;
        r.list_push("Person", &"p".into(), "items", Value::Link(7.into()))
    })
    .unwrap();
    log_object_writes(&path);
    let (rep, _) = w.reset(&ts, &a);
    assert_eq!(rep.decision, ResetDecision::Recover);
    let writes = object_writes(&path);
    let twice: Vec<_> = writes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "objects written more than once by the reset: {twice:?}");
    // Items 0..10 (server name + client count), 5 (its link to the erased 6 nulled), 6, 19
    // (its link to the erased 20 nulled by the server), 20..30, 100 and the person changed.
    assert!(writes.len() >= 24, "the reset wrote what differs: {} objects", writes.len());

    sync_all(&a);
    eventually("b converged", || {
        sync_all(&b);
        dump(&a) == dump(&b)
    });
    assert_eq!(name_of(&a, 3).as_deref(), Some("server 3"));
    assert_eq!(a.get("Item", &3.into()).unwrap().unwrap().value("count"), Some(&Value::Int(-3)));
    assert!(a.get("Item", &6.into()).unwrap().is_none());
    assert_eq!(a.get("Item", &5.into()).unwrap().unwrap().value("next"), Some(&Value::Null));
    assert!(a.get("Item", &22.into()).unwrap().is_none(), "erase wins over the client's set");
}

/// Discard writes only what differs, each object once.
#[test]
fn discard_writes_each_object_at_most_once() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::DiscardUnsyncedChanges);
    let (path, a, b) = seeded_pair(&ts, &w);
    b.write(|r| (0..40i64).step_by(2).try_for_each(|i| r.erase("Item", &i.into()))).unwrap();
    sync_all(&b);
    a.write(|r| (0..10i64).try_for_each(|i| r.set("Item", &i.into(), "count", Value::Int(-i)))).unwrap();
    log_object_writes(&path);
    w.reset(&ts, &a);
    let writes = object_writes(&path);
    assert!(writes.values().all(|n| *n == 1), "{writes:?}");
    // 20 erased items, the 19 odd items whose link to an erased one became null... except
    // those whose next was odd: every odd item i links to i + 1, even, so all 20 odd ones but
    // item 39 (no next); the person's list.
    assert_eq!(writes.len(), 20 + 19 + 1);
}

/// Exact notifications of the erase cases: what the observers get is the net change, nothing
/// more (objects the diff restores and the replay erases again are not reported).
#[test]
fn erase_notifications_are_exact() {
    for (mode, server_erases) in [
        (ClientResetMode::DiscardUnsyncedChanges, true),
        (ClientResetMode::RecoverUnsyncedChanges, true),
        (ClientResetMode::DiscardUnsyncedChanges, false),
        (ClientResetMode::RecoverUnsyncedChanges, false),
    ] {
        let ts = TestServer::start();
        let w = watched(mode);
        let (_, a, b) = seeded_pair(&ts, &w);
        let erase_evens = |r: &Realm| r.write(|r| (0..40i64).step_by(2).try_for_each(|i| r.erase("Item", &i.into()))).unwrap();
        if server_erases {
            erase_evens(&b);
            sync_all(&b);
        } else {
            erase_evens(&a);
        }
        let _token = w.observe(&a);
        let (rep, seen) = w.reset(&ts, &a);
        let case = format!("{mode:?}, erased on the {}", if server_erases { "server" } else { "client" });
        let mut expected = ChangeSummary::default();
        if server_erases {
            for i in (0..40i64).step_by(2) {
                expected.record_erase("Item", &i.into());
            }
            for i in (1..39i64).step_by(2) {
                expected.record_modify("Item", &i.into(), "next");
            }
            // The person listed items 0..6: the erased 0, 2 and 4 left the list.
            person_items(&mut expected, Changed { deleted: vec![0, 2, 4], inserted: vec![], modified: vec![] });
        } else if mode == ClientResetMode::DiscardUnsyncedChanges {
            // The client's erases are thrown away: the server's objects come back.
            for i in (0..40i64).step_by(2) {
                expected.record_insert("Item", &i.into());
            }
            for i in (1..39i64).step_by(2) {
                expected.record_modify("Item", &i.into(), "next");
            }
            person_items(&mut expected, Changed { deleted: vec![], inserted: vec![0, 2, 4], modified: vec![] });
        }
        // Recovering the client's own erases changes nothing: no notification at all.
        let expected: Vec<ChangeSummary> = if expected.is_empty() { vec![] } else { vec![expected] };
        assert_eq!(seen, expected, "{case}");
        let erased = expected.first().and_then(|e| e.classes.get("Item")).map(|c| c.erased.clone()).unwrap_or_default();
        assert_eq!(erased.is_empty(), !server_erases, "{case}");
        if server_erases {
            assert_eq!(erased, ids((0..40).step_by(2)), "{case}");
        }
        assert_eq!(rep.objects_erased, if server_erases { 20 } else { 0 }, "{case}");
        assert_eq!(rep.objects_inserted, if !server_erases && mode == ClientResetMode::DiscardUnsyncedChanges { 20 } else { 0 }, "{case}");
    }
}

/// The report's phases are laps of one clock: their milliseconds add up to the total, and the
/// report read after the reset includes the commit (it used to be stored before the commit
/// finished) and the change summary (which used to run outside every timer).
#[test]
fn report_phases_add_up_to_the_total_and_include_the_commit() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::RecoverUnsyncedChanges);
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", w.config.clone());
    seed(&a);
    sync_all(&a);
    offline(&a);
    a.write(|r| (0..40i64).step_by(2).try_for_each(|i| r.erase("Item", &i.into()))).unwrap();
    let started = Instant::now();
    let (rep, _) = w.reset(&ts, &a);
    let wall_us = started.elapsed().as_micros() as u64;
    let t = rep.timings;
    assert_eq!(t.total_us(), t.download_us + t.diff_us + t.replay_us + t.summary_us + t.commit_us);
    assert_eq!(rep.download_ms + rep.diff_ms + rep.replay_ms + rep.summary_ms + rep.commit_ms, t.total_us() / 1000);
    for (phase, us) in
        [("download", t.download_us), ("diff", t.diff_us), ("replay", t.replay_us), ("summary", t.summary_us), ("commit", t.commit_us)]
    {
        assert!(us > 0, "{phase} was not timed: {t:?}");
    }
    assert!(t.total_us() <= wall_us, "the phases ({t:?}) cannot take longer than the reset ({wall_us} µs)");
    assert_eq!(a.last_reset_report().unwrap().unwrap().timings, t, "the stored report has the final timings");
}

/// Backlinks are written only for links that appear: objects the diff rewrites for other fields
/// get no backlink inserts. (The test empties the backlink table first, so that an insert of a
/// link that did not change shows up instead of being ignored as a duplicate.)
#[test]
fn backlinks_are_written_only_where_links_change() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::DiscardUnsyncedChanges);
    let (path, a, b) = seeded_pair(&ts, &w);
    b.write(|r| {
        rename_on_server(r, 0..10)?;
        r.set("Item", &20.into(), "next", Value::Link(30.into()))
    })
    .unwrap();
    sync_all(&b);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "DELETE FROM ds_backlinks;
         CREATE TABLE test_backlinks(tclass INTEGER, tpk BLOB, sclass INTEGER, spk BLOB);
         CREATE TRIGGER test_bl AFTER INSERT ON ds_backlinks BEGIN INSERT INTO test_backlinks VALUES(new.tclass, new.tpk, new.sclass, new.spk); END;",
    )
    .unwrap();
    let (rep, _) = w.reset(&ts, &a);
    assert_eq!(rep.objects_modified, 11);
    let inserted: Vec<(i64, Vec<u8>, i64, Vec<u8>)> = c
        .prepare("SELECT tclass, tpk, sclass, spk FROM test_backlinks")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let key = |i: i64| PrimaryKey::from(i).to_key_bytes();
    assert_eq!(inserted, vec![(0, key(30), 0, key(20))], "only the new link 20 → 30");
}

/// Links the reset restores get their backlinks, however many: 100 new items on the server link
/// to item 0, more than one batch of backlink rows (64) and a remainder. Erasing item 0 afterwards
/// nulls every one of those links, which it finds through the backlinks.
#[test]
fn backlinks_of_links_the_reset_restores_are_all_written() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::DiscardUnsyncedChanges);
    let (path, a, b) = seeded_pair(&ts, &w);
    b.write(|r| (100..200i64).try_for_each(|i| r.create("Item", i, &[("next", Value::Link(0.into()))]).map(|_| ()))).unwrap();
    sync_all(&b);
    let (rep, _) = w.reset(&ts, &a);
    assert_eq!(rep.objects_inserted, 100);
    assert_eq!(backlinks_between_items_to(&path, 0), 100, "one backlink per restored link from an item to item 0");
    a.write(|r| r.erase("Item", &0.into())).unwrap();
    for i in 100..200i64 {
        assert_eq!(a.get("Item", &i.into()).unwrap().unwrap().value("next"), Some(&Value::Null), "item {i}'s link to the erased item");
    }
}

/// Recovery replays an erase the client then undid (item 5 erased, created again, linked from
/// item 4 again): the replayed erase takes item 5's backlinks from the file, so the transform
/// must write the one item 4's restored link needs. Erasing item 5 afterwards nulls the link,
/// which it finds only through that backlink.
#[test]
fn backlinks_taken_by_a_replayed_erase_that_was_undone_are_written_again() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::RecoverUnsyncedChanges);
    let (path, a, b) = seeded_pair(&ts, &w);
    a.write(|r| {
        r.erase("Item", &5.into())?;
        r.create("Item", 5, &[("name", "again".into())])?;
        r.set("Item", &4.into(), "next", Value::Link(5.into()))
    })
    .unwrap();
    b.write(|r| rename_on_server(r, 4..5)).unwrap();
    sync_all(&b);
    let (rep, _) = w.reset(&ts, &a);
    assert_eq!(rep.decision, ResetDecision::Recover);
    let item = |i: i64| a.get("Item", &i.into()).unwrap().unwrap();
    assert_eq!(item(4).value("next"), Some(&Value::Link(5.into())), "the recovered link");
    assert_eq!(item(4).value("name"), Some(&Value::from("server 4")), "the server's change");
    let c = rusqlite::Connection::open(&path).unwrap();
    let key = |i: i64| PrimaryKey::from(i).to_key_bytes();
    let backlinks: i64 = c
        .query_row("SELECT count(*) FROM ds_backlinks WHERE tpk = ?1 AND spk = ?2 AND tclass = sclass", [key(5), key(4)], |r| r.get(0))
        .unwrap();
    assert_eq!(backlinks, 1, "item 4 → item 5 has its backlink");
    a.write(|r| r.erase("Item", &5.into())).unwrap();
    assert_eq!(item(4).value("next"), Some(&Value::Null), "erasing item 5 nulls the link to it");
}

/// 150 objects the client created and Discard throws away, each linking to item 0 (more than a
/// batch of the overlay's writes): each is erased, reported and notified once, and the
/// backlinks they were the source of go with them.
#[test]
fn erases_of_local_only_objects_are_exact_and_take_their_backlinks() {
    let ts = TestServer::start();
    let w = watched(ClientResetMode::DiscardUnsyncedChanges);
    let (path, a, _b) = seeded_pair(&ts, &w);
    a.write(|r| (100..250i64).try_for_each(|i| r.create("Item", i, &[("next", Value::Link(0.into()))]).map(|_| ()))).unwrap();
    let _token = w.observe(&a);
    let (rep, seen) = w.reset(&ts, &a);
    assert_eq!(rep.objects_erased, 150);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].classes["Item"].erased, ids(100..250));
    assert!(seen[0].classes["Item"].inserted.is_empty() && seen[0].classes["Item"].modified.is_empty(), "{seen:?}");
    for i in [100i64, 163, 164, 249] {
        assert!(a.get("Item", &i.into()).unwrap().is_none(), "item {i} is erased");
    }
    assert_eq!(backlinks_between_items_to(&path, 0), 0, "nothing links to item 0 after the reset (the seed's links point forward)");
    assert_eq!(a.get("Item", &99.into()).unwrap(), None);
    assert_eq!(a.get("Item", &1.into()).unwrap().unwrap().value("next"), Some(&Value::Link(2.into())), "the other items are untouched");
}
