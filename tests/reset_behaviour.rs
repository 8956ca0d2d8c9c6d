//! Client reset behaviour beyond the cause × mode matrix: hooks, observers and handles across an
//! automatic reset, exact recovery rules, changes the server lost, the report, preview, progress,
//! and the cycle guard.

mod common;
use common::*;
use driftsync::protocol::AdminCommand;
use driftsync::reset::{ResetDecision, ResetReport};
use driftsync::*;
use std::sync::{Arc, Mutex};

fn offline(r: &Realm) {
    let s = session(r);
    s.pause();
    eventually("disconnected", || s.state() == sync::ConnectionState::Disconnected);
}

fn reset_and_wait(ts: &TestServer, r: &Realm) -> ResetReport {
    let before = r.last_reset_report().unwrap().map(|rep| rep.completed_at_ms).unwrap_or(0);
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    session(r).resume();
    eventually("a new reset report", || r.last_reset_report().unwrap().is_some_and(|rep| rep.completed_at_ms > before));
    let rep = r.last_reset_report().unwrap().unwrap();
    if rep.decision != ResetDecision::Manual {
        eventually("connected", || session(r).state() == sync::ConnectionState::Connected);
        sync_all(r);
    }
    rep
}

#[test]
fn hooks_get_the_before_snapshot_and_the_live_realm_and_may_write() {
    let ts = TestServer::start();
    let before_seen = Arc::new(Mutex::new(None));
    let after_seen = Arc::new(Mutex::new(None));
    let (b2, a2) = (before_seen.clone(), after_seen.clone());
    let mut cfg = ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges);
    cfg.before = Some(Arc::new(move |before: &Realm| {
        assert!(before.is_frozen());
        *b2.lock().unwrap() = Some(name_of(before, 2));
        Ok(())
    }));
    cfg.after = Some(Arc::new(move |before: &Realm, live: &Realm, did_recover: bool| {
        *a2.lock().unwrap() = Some((name_of(before, 2), name_of(live, 2), did_recover, before.write(|_| Ok(())).is_err()));
        live.write(|r| r.create("Item", 99, &[("name", "written by the after hook".into())])).map_err(|e| e.to_string())
    }));
    let r = open_client(&ts.path("c.realm"), &ts.url(), "alice", cfg);
    sync_all(&r);
    offline(&r);
    item(&r, 2, "offline");
    let rep = reset_and_wait(&ts, &r);
    assert_eq!(rep.decision, ResetDecision::Recover);
    assert_eq!(*before_seen.lock().unwrap(), Some(Some("offline".to_string())));
    let (b, l, did, frozen_refused) = after_seen.lock().unwrap().clone().expect("after hook ran");
    assert_eq!((b.as_deref(), l.as_deref(), did, frozen_refused), (Some("offline"), Some("offline"), true, true));
    assert_eq!(name_of(&r, 99).as_deref(), Some("written by the after hook"));
}

#[test]
fn failing_before_hook_falls_back_to_the_manual_handler() {
    let ts = TestServer::start();
    let manual = Arc::new(Mutex::new(0));
    let m2 = manual.clone();
    let mut cfg = ClientResetConfig::new(ClientResetMode::RecoverOrDiscardUnsyncedChanges);
    cfg.before = Some(Arc::new(|_: &Realm| Err("the app refuses".to_string())));
    cfg.manual = Some(Arc::new(move |_m: &reset::ManualReset| *m2.lock().unwrap() += 1));
    let r = open_client(&ts.path("c.realm"), &ts.url(), "alice", cfg);
    sync_all(&r);
    offline(&r);
    item(&r, 2, "offline");
    let rep = reset_and_wait(&ts, &r);
    assert_eq!(rep.decision, ResetDecision::Manual);
    assert_eq!(rep.before_hook_error.as_deref(), Some("the app refuses"));
    eventually("manual handler", || *manual.lock().unwrap() == 1);
    assert_eq!(name_of(&r, 2).as_deref(), Some("offline"), "nothing was reset automatically");
}

#[test]
fn handles_snapshots_and_observers_survive_and_see_exact_changes() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges));
    let other = open_client(&ts.path("o.realm"), &ts.url(), "bob", ClientResetConfig::default());
    for i in 1..=3 {
        item(&a, i, &format!("n{i}"));
    }
    sync_all(&a);
    sync_all(&other);
    offline(&a);
    a.write(|r| {
        r.set("Item", &1.into(), "name", "local".into())?;
        r.create("Item", 10, &[])
    })
    .unwrap();
    // Meanwhile the server state moves on: item 2 changes, item 3 is erased.
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    other
        .write(|r| {
            r.set("Item", &2.into(), "count", 7.into())?;
            r.erase("Item", &3.into())
        })
        .unwrap();
    eventually("other resets and syncs", || other.last_reset_report().unwrap().is_some());
    sync_all(&other);
    let snapshot = a.freeze().unwrap();
    let seen = Arc::new(Mutex::new(ChangeSummary::default()));
    let s2 = seen.clone();
    let token = a.observe(ObserverScope::Realm, move |c| s2.lock().unwrap().merge(c)).unwrap();
    session(&a).resume();
    eventually("a's reset", || a.last_reset_report().unwrap().is_some());
    let c = seen.lock().unwrap().classes.get("Item").cloned().unwrap_or_default();
    assert_eq!(c.erased.iter().cloned().collect::<Vec<_>>(), vec![PrimaryKey::Int(3), PrimaryKey::Int(10)]);
    assert!(c.inserted.is_empty(), "{c:?}");
    let modified: Vec<_> = c.modified.iter().map(|(k, p)| (k.clone(), p.iter().map(String::from).collect::<Vec<_>>())).collect();
    assert_eq!(modified, vec![(PrimaryKey::Int(1), vec!["name".to_string()]), (PrimaryKey::Int(2), vec!["count".to_string()])]);
    // The snapshot still shows the world before; the handle is the same and still works.
    assert_eq!(name_of(&snapshot, 1).as_deref(), Some("local"));
    assert_eq!(name_of(&a, 1).as_deref(), Some("n1"));
    item(&a, 20, "after");
    drop(token);
}

#[test]
fn recovery_applies_the_rulebook_and_reports_what_it_dropped() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    let other = open_client(&ts.path("o.realm"), &ts.url(), "bob", ClientResetConfig::default());
    a.write(|r| {
        for i in 1..=4 {
            r.create("Item", i, &[("name", format!("n{i}").into())])?;
        }
        r.list_push("Item", &1.into(), "tags", "base".into())?;
        r.create("Person", "p", &[])
    })
    .unwrap();
    sync_all(&a);
    sync_all(&other);
    offline(&a);
    a.write(|r| {
        r.set("Item", &2.into(), "name", "edit of an object the server erased".into())?; // dropped (rule 1)
        r.erase("Item", &3.into())?; // applied
        r.set("Item", &1.into(), "name", "local wins".into())?; // rule 4
        r.list_push("Item", &1.into(), "tags", "local-tag".into())?; // rule 5
        r.set("Item", &1.into(), "next", Value::Link(4.into()))?; // rule 6: 4 is erased on the server
        r.list_push("Person", &"p".into(), "items", Value::Link(4.into()))?;
        r.create("Item", 5, &[("name", "local create".into())])
    })
    .unwrap();
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    eventually("other resets", || other.last_reset_report().unwrap().is_some());
    other
        .write(|r| {
            r.erase("Item", &2.into())?;
            r.erase("Item", &4.into())?;
            r.set("Item", &1.into(), "name", "server".into())?;
            r.list_push("Item", &1.into(), "tags", "server-tag".into())
        })
        .unwrap();
    sync_all(&other);
    session(&a).resume();
    eventually("a's reset", || a.last_reset_report().unwrap().is_some());
    let rep = a.last_reset_report().unwrap().unwrap();
    assert_eq!(rep.decision, ResetDecision::Recover);
    assert_eq!(name_of(&a, 2), None, "erase wins over the local edit");
    assert_eq!(name_of(&a, 3), None, "the local erase applies");
    assert_eq!(name_of(&a, 1).as_deref(), Some("local wins"));
    assert_eq!(name_of(&a, 5).as_deref(), Some("local create"));
    let tags = a.get_list("Item", &1.into(), "tags").unwrap();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(tags.contains(&"local-tag".into()) && tags.contains(&"server-tag".into()));
    assert_eq!(a.get_value("Item", &1.into(), "next").unwrap(), Value::Null);
    assert!(a.get_list("Person", &"p".into(), "items").unwrap().is_empty());
    let reasons: Vec<String> = rep.dropped.iter().map(|d| format!("{} :: {}", d.instruction, d.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("Item[2]") && r.contains("erased")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("next") && r.contains("null")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("Person[\"p\"].items")), "{reasons:?}");
    // The recovered changes, not the diff, are uploaded: the other client sees the same state.
    sync_all(&a);
    sync_all(&other);
    assert_eq!(dump(&a), dump(&other));
}

#[test]
fn acknowledged_changes_lost_in_a_restore_are_recovered() {
    let ts = TestServer::start();
    ts.admin(AdminCommand::Backup { name: "b".into() });
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    item(&a, 1, "acknowledged, then lost");
    sync_all(&a);
    assert_eq!(session(&a).progress().uploaded, a.last_local_version().unwrap(), "nothing unsynced");
    ts.admin(AdminCommand::Restore { name: "b".into() });
    eventually("reset after the restore", || a.last_reset_report().unwrap().is_some());
    sync_all(&a);
    assert_eq!(name_of(&a, 1).as_deref(), Some("acknowledged, then lost"));
    let other = open_client(&ts.path("o.realm"), &ts.url(), "bob", ClientResetConfig::default());
    sync_all(&other);
    assert_eq!(name_of(&other, 1).as_deref(), Some("acknowledged, then lost"), "and the server has it again");
}

#[test]
fn preview_reports_without_applying() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::default());
    let other = open_client(&ts.path("o.realm"), &ts.url(), "bob", ClientResetConfig::default());
    item(&a, 1, "one");
    sync_all(&a);
    offline(&a);
    item(&a, 2, "unsynced");
    item(&other, 3, "server side");
    sync_all(&other);
    let discard = reset::preview(&a, ResetDecision::Discard).unwrap();
    assert_eq!((discard.objects_inserted, discard.objects_erased), (1, 1), "{discard:?}");
    assert!(discard.discarded.iter().any(|d| d.instruction.contains("Item[2]")));
    let recover = reset::preview(&a, ResetDecision::Recover).unwrap();
    assert_eq!((recover.objects_inserted, recover.objects_erased), (1, 0), "{recover:?}");
    assert!(recover.recovered_changesets >= 1);
    assert_eq!(name_of(&a, 3), None, "nothing applied");
    assert_eq!(name_of(&a, 2).as_deref(), Some("unsynced"));
    assert!(a.last_reset_report().unwrap().is_none());
    assert!(!reset::fresh::fresh_path(a.path()).exists(), "the fresh copy is removed");
}

#[test]
fn fresh_copy_download_reports_progress() {
    let ts = TestServer::start();
    let seed = open_client(&ts.path("s.realm"), &ts.url(), "bob", ClientResetConfig::default());
    seed.write(|r| (0..12_000).try_for_each(|i| r.create("Item", i, &[]))).unwrap();
    sync_all(&seed);
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p2 = progress.clone();
    let mut cfg = ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges);
    cfg.on_download_progress = Some(Arc::new(move |got, total| p2.lock().unwrap().push((got, total))));
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", cfg);
    sync_all(&a);
    assert_eq!(a.count("Item").unwrap(), 12_000);
    let p = progress.lock().unwrap().clone();
    assert!(p.len() >= 2, "several chunks: {p:?}");
    assert_eq!(p.last(), Some(&(12_000, 12_000)));
    assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn realm_reset_twice_in_a_row_succeeds() {
    let ts = TestServer::start();
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    sync_all(&a);
    for round in 0..2 {
        offline(&a);
        item(&a, round, "offline");
        let rep = reset_and_wait(&ts, &a);
        assert_eq!(rep.decision, ResetDecision::Recover, "round {round}");
        eventually("pending record cleared", || reset::pending_reset(&a).unwrap().is_none());
    }
    assert_eq!(a.count("Item").unwrap(), 2);
}

#[test]
fn cycle_guard_downgrades_a_reset_before_the_previous_one_completed() {
    let ts = TestServer::start();
    let interrupt = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let i2 = interrupt.clone();
    let mut cfg = ClientResetConfig::new(ClientResetMode::RecoverOrDiscardUnsyncedChanges);
    // The first reset is cut off right after its commit: the app pauses sync from the after hook,
    // so neither its upload nor its download completes.
    cfg.after = Some(Arc::new(move |_: &Realm, live: &Realm, _| {
        if let Some(s) = live.sync_session().filter(|_| i2.swap(false, std::sync::atomic::Ordering::SeqCst)) {
            s.pause();
        }
        Ok(())
    }));
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", cfg);
    sync_all(&a);
    offline(&a);
    item(&a, 1, "offline");
    ts.admin(AdminCommand::Terminate);
    ts.admin(AdminCommand::Enable);
    session(&a).resume();
    eventually("first reset", || a.last_reset_report().unwrap().is_some());
    assert_eq!(a.last_reset_report().unwrap().unwrap().decision, ResetDecision::Recover);
    eventually("paused by the hook", || !interrupt.load(std::sync::atomic::Ordering::SeqCst) && session(&a).is_paused());
    eventually("disconnected", || session(&a).state() == sync::ConnectionState::Disconnected);
    let pending = reset::pending_reset(&a).unwrap().expect("the first reset has not completed");
    assert_eq!(pending.decision, ResetDecision::Recover);
    item(&a, 2, "second offline");
    let second = reset_and_wait(&ts, &a);
    assert_eq!(second.decision, ResetDecision::Discard, "previous Recover + RecoverOrDiscard => Discard");
    assert_eq!(name_of(&a, 2), None);
}

#[test]
fn lost_changes_are_recovered_even_when_others_wrote_after_the_restore() {
    let ts = TestServer::start();
    ts.admin(AdminCommand::Backup { name: "b".into() });
    let a = open_client(&ts.path("a.realm"), &ts.url(), "alice", ClientResetConfig::new(ClientResetMode::RecoverUnsyncedChanges));
    item(&a, 1, "lost one");
    item(&a, 2, "lost two");
    sync_all(&a);
    offline(&a);
    ts.admin(AdminCommand::Restore { name: "b".into() });
    // Another device writes first: the restored server's version numbers pass a's old ones.
    let other = open_client(&ts.path("o.realm"), &ts.url(), "bob", ClientResetConfig::default());
    for i in 10..14 {
        item(&other, i, "after the restore");
    }
    sync_all(&other);
    session(&a).resume();
    eventually("a's reset", || a.last_reset_report().unwrap().is_some());
    sync_all(&a);
    assert_eq!(name_of(&a, 1).as_deref(), Some("lost one"));
    assert_eq!(name_of(&a, 2).as_deref(), Some("lost two"));
    assert_eq!(a.count("Item").unwrap(), 6);
    sync_all(&other);
    assert_eq!(dump(&a), dump(&other));
}

#[test]
fn manual_reset_refuses_while_open_and_otherwise_runs_at_the_next_open() {
    let ts = TestServer::start();
    let seen: Arc<Mutex<Option<reset::ManualReset>>> = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let mut cfg = ClientResetConfig::new(ClientResetMode::Manual);
    cfg.manual = Some(Arc::new(move |m: &reset::ManualReset| *s2.lock().unwrap() = Some(m.clone())));
    let path = ts.path("m.realm");
    let r = open_client(&path, &ts.url(), "alice", cfg.clone());
    item(&r, 1, "synced");
    sync_all(&r);
    offline(&r);
    item(&r, 2, "unsynced");
    let rep = reset_and_wait(&ts, &r);
    assert_eq!(rep.decision, ResetDecision::Manual);
    eventually("manual handler", || seen.lock().unwrap().is_some());
    let manual = seen.lock().unwrap().clone().unwrap();
    let err = manual.perform().expect_err("handles are open");
    assert_eq!(err.code(), ErrorCode::Busy);
    assert!(err.to_string().contains("close every handle"), "{err}");
    // The app never performs it: it closes the realm, and the next open starts from the server.
    drop(r);
    let again = open_client(&path, &ts.url(), "alice", cfg);
    sync_all(&again);
    assert_eq!(name_of(&again, 1).as_deref(), Some("synced"));
    assert_eq!(name_of(&again, 2), None, "the unsynced change is only in the backup");
    let backup = Realm::open(RealmConfig::new(&manual.backup_path, schema())).unwrap();
    assert_eq!(name_of(&backup, 2).as_deref(), Some("unsynced"));
}

/// `ClientTooOld`: the clock advance expires the client files offline too long but spares the
/// ones the server counts as connected. A paused session that reports Disconnected must be
/// offline for the server too (the clean close waits for the server's answer), or a clock
/// advance right after the pause spares it and no reset ever comes (the old too_old_* flake).
#[test]
fn too_old_paused_session_is_offline_for_the_server_once_disconnected() {
    let ts = Arc::new(TestServer::start());
    let r = open_client(&ts.path("p.realm"), &ts.url(), "alice", ClientResetConfig::default());
    item(&r, 1, "synced");
    sync_all(&r);
    // Read on the sync thread right after the close, before the test thread could be slow.
    let counted: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(Vec::new()));
    let (c2, ts2) = (counted.clone(), ts.clone());
    let s = session(&r);
    let listener = s.on_state_change(move |_, new| {
        if new == sync::ConnectionState::Disconnected {
            c2.lock().unwrap().push(ts2.server.connected_clients());
        }
    });
    for round in 1..=20 {
        s.resume();
        eventually("connected", || s.state() == sync::ConnectionState::Connected && ts.server.connected_clients() == 1);
        offline(&r);
        assert_eq!(counted.lock().unwrap().len(), round, "one disconnection per pause");
    }
    s.remove_listener(listener);
    assert_eq!(*counted.lock().unwrap(), vec![0; 20], "connections the server still counted when the client was disconnected");
    // And so the clock advance right after the pause expires the file: the next bind resets.
    ts.admin(AdminCommand::AdvanceClock { seconds: 31 * 86_400 });
    s.resume();
    eventually("the reset report", || r.last_reset_report().unwrap().is_some());
    assert_eq!(r.last_reset_report().unwrap().unwrap().cause, Some(protocol::ResetCause::ClientTooOld));
}
