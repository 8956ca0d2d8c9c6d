"""End to end against the reference server (a subprocess): the sync session, and a client reset
for every cause × every mode with hooks, the manual handler (its backup opened from Python),
observers and the report; preview, progress, hook failures."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

import driftsync
from driftsync import ClientResetMode as Mode
from driftsync import ConnectionState, ResetCause, ResetDecision

from conftest import SCHEMA_JSON, ServerProcess, breaking_schema, eventually, schema_with_extra_class

pytestmark = pytest.mark.e2e
T = 30.0


def sync_all(r: driftsync.Realm) -> None:
    s = r.sync_session
    assert s is not None
    s.wait_for_upload(timeout=T)
    s.wait_for_download(timeout=T)


def name_of(r: driftsync.Realm, id: int) -> Optional[str]:
    o = r.get("Item", id)
    return None if o is None else o.name


@dataclass
class Seen:
    """What the callbacks of one client saw."""

    before: List[Tuple[int, bool]] = field(default_factory=list)  # (Item count, frozen)
    after: List[Tuple[Optional[str], Optional[str], bool]] = field(default_factory=list)
    manual: List[driftsync.ManualReset] = field(default_factory=list)
    backup_items: List[dict] = field(default_factory=list)
    changes: List[driftsync.Changes] = field(default_factory=list)
    errors: List[driftsync.SyncErrorInfo] = field(default_factory=list)
    progress: List[Tuple[int, int]] = field(default_factory=list)


def client(server: ServerProcess, path: Path, mode: Mode, seen: Seen, schema: Any = SCHEMA_JSON, user: str = "alice", start_paused: bool = False, **kw: Any) -> driftsync.Realm:
    def before(b: driftsync.Realm) -> None:
        seen.before.append((b.count("Item"), b.is_frozen))

    def after(b: driftsync.Realm, live: driftsync.Realm, did_recover: bool) -> None:
        seen.after.append((name_of(b, 2), name_of(live, 2), did_recover))

    def manual(m: driftsync.ManualReset) -> None:
        # The backup is a complete realm: open it from Python (without sync) right here.
        with driftsync.open(m.backup_path, schema=schema) as b:
            seen.backup_items.extend(b.dump("Item"))
        seen.manual.append(m)

    cfg = driftsync.SyncConfig(
        server.url,
        f"{user}-token",
        client_reset_mode=mode,
        before_reset=kw.pop("before_reset", before),
        after_reset=kw.pop("after_reset", after),
        manual_reset=kw.pop("manual_reset", manual),
        on_download_progress=lambda a, b: seen.progress.append((a, b)),
        backup_dir=str(path.parent / "backups"),
        start_paused=start_paused,
        **kw,
    )
    return driftsync.open(path, schema=schema, sync=cfg)


# -- sync session ------------------------------------------------------------------------------
def test_sync_session_roundtrip(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    a = client(server, tmp_path / "a.realm", Mode.RECOVER_OR_DISCARD_UNSYNCED_CHANGES, seen)
    b = client(server, tmp_path / "b.realm", Mode.RECOVER_OR_DISCARD_UNSYNCED_CHANGES, Seen(), user="bob")
    seen_b: List[driftsync.Changes] = []
    tok_b = b.observe(seen_b.append)
    s = a.sync_session
    assert isinstance(s, driftsync.SyncSession)
    states: List[Tuple[ConnectionState, ConnectionState]] = []
    tok = s.on_state_change(lambda o, n: states.append((o, n)))
    eventually("connected", lambda: s.state == ConnectionState.CONNECTED)
    with a.write():
        a.create("Item", 1, name="from a", tags=["x"])
        a.create("Person", "ann", items=[1])
    sync_all(a)
    p = s.progress
    assert isinstance(p, driftsync.SyncProgress)
    assert p.uploadable >= 1 and p.upload_complete and p.uploaded == p.uploadable
    with tok_b:
        sync_all(b)
        eventually("b has the item", lambda: name_of(b, 1) == "from a")
        # Downloaded changes reach observers too.
        eventually("b's observer", lambda: any("Item" in c and 1 in c["Item"].inserted for c in seen_b))
    assert [i.primary_key for i in b.get("Person", "ann")["items"]] == [1]
    s.pause()
    assert s.is_paused
    eventually("disconnected", lambda: s.state == ConnectionState.DISCONNECTED)
    with a.write():
        a.get("Item", 1).name = "offline"
    with pytest.raises(driftsync.TimeoutError) as ei:
        s.wait_for_upload(timeout=0.2)
    assert ei.value.code == driftsync.Status.TIMEOUT
    s.resume()
    assert not s.is_paused
    sync_all(a)
    sync_all(b)
    assert name_of(b, 1) == "offline"
    assert (ConnectionState.CONNECTING, ConnectionState.CONNECTED) in states
    tok.close()
    assert s.last_error is None or isinstance(s.last_error, driftsync.SyncErrorInfo)
    a.close()
    with pytest.raises(driftsync.ClosedError):
        s.state
    b.close()


def test_local_realm_has_no_session(realm: driftsync.Realm) -> None:
    assert realm.sync_session is None
    assert realm.last_reset_report() is None
    with pytest.raises(driftsync.InvalidArgumentError):
        realm.preview_reset(ResetDecision.DISCARD)


def test_bad_token_reports_a_sync_error(server: ServerProcess, tmp_path: Path) -> None:
    errors: List[driftsync.SyncErrorInfo] = []
    cfg = driftsync.SyncConfig(server.url, "wrong-token", start_paused=True)
    with driftsync.open(tmp_path / "x.realm", schema=SCHEMA_JSON, sync=cfg) as r:
        s = r.sync_session
        assert s.is_paused
        with s.on_error(errors.append):
            s.resume()
            eventually("an error", lambda: errors)
        assert errors[0].server_code == driftsync.ServerErrorCode.BAD_TOKEN
        assert not errors[0].is_client_reset
        assert s.last_error is not None and s.last_error.server_code == driftsync.ServerErrorCode.BAD_TOKEN


def test_start_paused_and_wait_on_closed(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    r = client(server, tmp_path / "p.realm", Mode.DISCARD_UNSYNCED_CHANGES, seen, start_paused=True)
    s = r.sync_session
    assert s.is_paused and s.state == ConnectionState.DISCONNECTED
    with r.write():
        r.create("Item", 1)
    out: List[BaseException] = []

    def waiter() -> None:
        try:
            s.wait_for_upload(timeout=T)
        except BaseException as e:
            out.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    s.resume()
    t.join()
    assert out == []
    r.close()


# -- the 7 × 4 matrix ----------------------------------------------------------------------------
CAUSES = ["server_restored", "sync_reenabled", "client_schema_ahead", "client_too_old", "breaking_schema_change", "role_changed", "recovery_disabled"]
EXPECTED_CAUSE = {
    "server_restored": ResetCause.SERVER_RESTORED,
    "recovery_disabled": ResetCause.SERVER_RESTORED,
    "sync_reenabled": ResetCause.SYNC_REENABLED,
    "client_schema_ahead": ResetCause.CLIENT_SCHEMA_AHEAD,
    "client_too_old": ResetCause.CLIENT_TOO_OLD,
    "breaking_schema_change": ResetCause.BREAKING_SCHEMA_CHANGE,
    "role_changed": ResetCause.ROLE_CHANGED,
}
R, D, M = ResetDecision.RECOVER, ResetDecision.DISCARD, ResetDecision.MANUAL
# cause → decision for (MANUAL, DISCARD, RECOVER, RECOVER_OR_DISCARD), as DESIGN's table says
MATRIX = {
    "server_restored": (M, D, R, R),
    "sync_reenabled": (M, D, R, R),
    "client_schema_ahead": (M, D, R, R),
    "client_too_old": (M, D, M, D),
    "breaking_schema_change": (M, M, M, M),
    "role_changed": (M, D, R, R),
    "recovery_disabled": (M, D, M, D),
}
MODES = [Mode.MANUAL, Mode.DISCARD_UNSYNCED_CHANGES, Mode.RECOVER_UNSYNCED_CHANGES, Mode.RECOVER_OR_DISCARD_UNSYNCED_CHANGES]
CASES = [pytest.param(c, m, MATRIX[c][i], id=f"{c}-{m.name.lower()}") for c in CAUSES for i, m in enumerate(MODES)]


def cause_reset(server: ServerProcess, cause: str) -> None:
    if cause == "server_restored":
        server.admin("restore", "early")
    elif cause == "sync_reenabled":
        server.admin("terminate")
        server.admin("enable")
    elif cause == "client_too_old":
        server.admin("clock", "advance", "31d")
    elif cause == "breaking_schema_change":
        server.apply_schema(breaking_schema())
    elif cause == "role_changed":
        server.admin("role", "assign", "alice", "editor2")
    elif cause == "recovery_disabled":
        # The flag lives in the server database: restore first, then switch recovery off.
        server.admin("restore", "early")
        server.admin("recovery", "off")
    elif cause != "client_schema_ahead":
        raise AssertionError(cause)


@pytest.mark.parametrize("cause,mode,expected", CASES)
def test_reset_matrix(server: ServerProcess, tmp_path: Path, cause: str, mode: Mode, expected: ResetDecision) -> None:
    server.admin("backup", "early")
    seen = Seen()
    path = tmp_path / "client.realm"
    schema: Any = SCHEMA_JSON
    r = client(server, path, mode, seen)
    with r.write():
        r.create("Item", 1, name="synced")
    sync_all(r)
    s = r.sync_session
    s.pause()
    eventually("paused", lambda: s.state == ConnectionState.DISCONNECTED)
    with r.write():
        r.get("Item", 1).name = "local edit"
        r.create("Item", 2, name="offline")
    if cause == "client_schema_ahead":
        # The app ships a class the server does not have yet.
        r.close()
        schema = schema_with_extra_class()
        r = client(server, path, mode, seen, schema=schema, start_paused=True)
        s = r.sync_session
    else:
        cause_reset(server, cause)
    tok = r.observe_class("Item", seen.changes.append)
    etok = s.on_error(seen.errors.append)
    s.resume()
    report = eventually("the reset report", r.last_reset_report, timeout=T)
    assert isinstance(report, driftsync.ResetReport)
    assert report.cause == EXPECTED_CAUSE[cause], report
    assert report.decision == expected, report
    assert report.mode == mode
    assert report.server_message
    assert report.action in (driftsync.ErrorAction.CLIENT_RESET, driftsync.ErrorAction.CLIENT_RESET_NO_RECOVERY)
    if cause in ("client_too_old", "recovery_disabled", "breaking_schema_change"):
        assert report.action == driftsync.ErrorAction.CLIENT_RESET_NO_RECOVERY
    assert any(e.is_client_reset and e.cause == EXPECTED_CAUSE[cause] for e in seen.errors), seen.errors

    if expected == R:
        eventually("reconnected", lambda: s.state == ConnectionState.CONNECTED)
        sync_all(r)
        assert name_of(r, 1) == "local edit" and name_of(r, 2) == "offline"
        assert report.recovered_changesets >= 1
        assert seen.before and seen.before[0] == (2, True)
        assert seen.after and seen.after[0][2] is True and seen.after[0][1] == "offline"
        assert not seen.manual
        # The recovered changes reach another client through the server.
        other = client(server, tmp_path / "other.realm", Mode.RECOVER_OR_DISCARD_UNSYNCED_CHANGES, Seen(), schema=schema, user="bob")
        sync_all(other)
        assert name_of(other, 2) == "offline" and name_of(other, 1) == "local edit"
        other.close()
    elif expected == D:
        eventually("reconnected", lambda: s.state == ConnectionState.CONNECTED)
        sync_all(r)
        assert name_of(r, 2) is None, "the discarded create is gone"
        assert any("Item[2]" in d.instruction for d in report.discarded), report.discarded
        assert any("local edit" in d.instruction for d in report.discarded), report.discarded
        assert all(isinstance(d, driftsync.DroppedChange) and d.reason for d in report.discarded)
        assert seen.after and seen.after[0] == ("offline", None, False)
        # Observers saw exactly what the reset changed: Item 2 erased.
        assert any(2 in c["Item"].erased for c in seen.changes if "Item" in c), seen.changes
    else:
        eventually("the manual handler", lambda: seen.manual)
        m = seen.manual[0]
        assert isinstance(m, driftsync.ManualReset)
        assert m.cause == EXPECTED_CAUSE[cause]
        assert Path(m.original_path) == path
        assert m.report is not None and m.report.decision == M
        assert m.message
        # The backup (opened from Python inside the handler) has the unsynced changes.
        names = {o["id"]: o["name"] for o in seen.backup_items}
        assert names.get(1) == "local edit" and names.get(2) == "offline", seen.backup_items
        assert report.backup_path is None or Path(report.backup_path) == Path(m.backup_path)
        assert s.is_paused
        assert not seen.after
        # Perform the reset as an app would: close, perform, reopen from the server's state.
        tok.close()
        etok.close()
        r.close()
        m.perform()
        assert not path.exists() or not driftsync.open(path, schema=schema).count("Item")
    tok.close()
    etok.close()
    r.close()


# -- hooks, report, preview --------------------------------------------------------------------
def prepare_restore(server: ServerProcess, tmp_path: Path, mode: Mode, seen: Seen, **kw: Any) -> driftsync.Realm:
    server.admin("backup", "early")
    r = client(server, tmp_path / "c.realm", mode, seen, **kw)
    with r.write():
        r.create("Item", 1, name="synced")
    sync_all(r)
    s = r.sync_session
    s.pause()
    eventually("paused", lambda: s.state == ConnectionState.DISCONNECTED)
    with r.write():
        r.get("Item", 1).name = "local edit"
        r.create("Item", 2, name="offline")
    server.admin("restore", "early")
    return r


def test_exception_in_before_hook_aborts_and_is_reported(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    reported: List[Tuple[str, BaseException]] = []
    driftsync.set_callback_error_handler(lambda where, e: reported.append((where, e)))
    try:
        class HookFailure(Exception):
            pass

        def before(b: driftsync.Realm) -> None:
            raise HookFailure("not today")

        r = prepare_restore(server, tmp_path, Mode.RECOVER_UNSYNCED_CHANGES, seen, before_reset=before)
        r.sync_session.resume()
        report = eventually("report", r.last_reset_report, timeout=T)
        # The automatic reset was aborted: it fell back to the manual handler.
        assert report.decision == ResetDecision.MANUAL
        assert report.before_hook_error == "HookFailure: not today"
        assert isinstance(report.before_hook_exception, HookFailure)
        eventually("manual handler", lambda: seen.manual)
        hx = r.sync_session.hook_exceptions
        assert hx and hx[0][0] == "before_reset" and isinstance(hx[0][1], HookFailure)
        assert reported and reported[0][0] == "before_reset"
        assert name_of(r, 2) == "offline", "nothing was reset"
        assert r.sync_session.manual_resets
        r.close()
    finally:
        driftsync.set_callback_error_handler(None)


def test_exception_in_after_hook_is_reported(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    driftsync.set_callback_error_handler(lambda where, e: None)
    try:
        def after(b: driftsync.Realm, live: driftsync.Realm, rec: bool) -> None:
            raise KeyError("after failed")

        r = prepare_restore(server, tmp_path, Mode.RECOVER_UNSYNCED_CHANGES, seen, after_reset=after)
        r.sync_session.resume()
        # The after hook runs once the reset is committed; its error joins the report then.
        report = eventually("after hook error in the report", lambda: (lambda p: p if p and p.after_hook_error else None)(r.last_reset_report()), timeout=T)
        assert report.decision == ResetDecision.RECOVER
        assert report.after_hook_error == "KeyError: 'after failed'"
        assert isinstance(report.after_hook_exception, KeyError)
        sync_all(r)
        assert name_of(r, 2) == "offline"
        r.close()
    finally:
        driftsync.set_callback_error_handler(None)


def test_after_hook_writes_to_live_realm_and_lent_handles_close(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    kept: List[driftsync.Realm] = []

    def after(b: driftsync.Realm, live: driftsync.Realm, rec: bool) -> None:
        kept.extend([b, live])
        with live.write():
            live.create("Item", 3, name=f"after hook saw {b.get('Item', 1).name}")

    r = prepare_restore(server, tmp_path, Mode.RECOVER_UNSYNCED_CHANGES, seen, after_reset=after)
    r.sync_session.resume()
    eventually("report", r.last_reset_report, timeout=T)
    eventually("item 3", lambda: name_of(r, 3))
    assert name_of(r, 3) == "after hook saw local edit"
    for k in kept:
        with pytest.raises(driftsync.ClosedError):
            k.count("Item")
    r.close()


def test_preview_and_progress(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    r = client(server, tmp_path / "c.realm", Mode.RECOVER_UNSYNCED_CHANGES, seen)
    with r.write():
        for i in range(20):
            r.create("Item", i, name=f"n{i}")
    sync_all(r)
    r.sync_session.pause()
    with r.write():
        r.create("Item", 100, name="local only")
        r.erase("Item", 0)
    seen.progress.clear()
    d = r.preview_reset(ResetDecision.DISCARD)
    assert isinstance(d, driftsync.ResetReport)
    assert d.decision == ResetDecision.DISCARD and d.cause == ResetCause.NONE
    assert any("Item[100]" in x.instruction for x in d.discarded), d.discarded
    assert d.server_message
    rec = r.preview_reset(ResetDecision.RECOVER)
    assert rec.decision == ResetDecision.RECOVER and rec.recovered_changesets >= 1
    # Nothing was applied.
    assert name_of(r, 100) == "local only" and r.get("Item", 0) is None
    assert seen.progress and seen.progress[-1][0] == seen.progress[-1][1]
    with pytest.raises(driftsync.InvalidArgumentError):
        r.preview_reset(ResetDecision.MANUAL)
    r.close()


def test_keep_backup_path_in_report(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    r = prepare_restore(server, tmp_path, Mode.DISCARD_UNSYNCED_CHANGES, seen, keep_backup=True)
    r.sync_session.resume()
    report = eventually("report", r.last_reset_report, timeout=T)
    assert report.decision == ResetDecision.DISCARD
    assert report.backup_path and Path(report.backup_path).exists()
    with driftsync.open(report.backup_path, schema=SCHEMA_JSON) as b:
        assert b.get("Item", 2).name == "offline"
    r.close()


def test_reset_timings_phases_add_up_to_the_total_with_a_summary_phase(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    r = prepare_restore(server, tmp_path, Mode.RECOVER_UNSYNCED_CHANGES, seen)
    r.sync_session.resume()
    # The final timings are stored just after the reset's commit: wait for them.
    def final_timings() -> Optional[driftsync.ResetTimings]:
        report = r.last_reset_report()
        return report.timings if report is not None and report.timings.commit_us > 0 else None

    t = eventually("the reset's final timings", final_timings, timeout=T)
    assert t.download_us + t.diff_us + t.replay_us + t.summary_us + t.commit_us == t.total_us, t
    assert t.summary_us > 0, t
    # The older millisecond phases lack the summary: with it they make the total within rounding.
    assert 0 <= t.total_us // 1000 - (t.download_ms + t.diff_ms + t.replay_ms + t.commit_ms) <= t.summary_us // 1000 + 1, t
    r.close()


def test_reset_report_says_what_the_fresh_copy_transferred(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    r = prepare_restore(server, tmp_path, Mode.DISCARD_UNSYNCED_CHANGES, seen)
    r.sync_session.resume()
    report = eventually("report", r.last_reset_report, timeout=T)
    # The restored server lacks what this client wrote after the backup: the fresh copy was
    # range-reconciled, messages travelled and at least the range of those objects differed.
    assert report.transferred_bytes > 0, report
    assert report.ranges_differed >= 1, report
    r.close()


def test_manual_reset_perform_needs_closed_handles(server: ServerProcess, tmp_path: Path) -> None:
    seen = Seen()
    r = prepare_restore(server, tmp_path, Mode.MANUAL, seen)
    r.sync_session.resume()
    eventually("manual handler", lambda: seen.manual)
    m = seen.manual[0]
    with pytest.raises(driftsync.BusyError):
        m.perform()
    path = Path(r.path)
    r.close()
    m.perform()
    m.perform()  # more than once is fine
    # The next open starts from the server's state (the restored backup: item 1 "synced"? no:
    # the backup was taken before anything was written).
    r2 = client(server, path, Mode.MANUAL, Seen())
    sync_all(r2)
    assert name_of(r2, 2) is None
    r2.close()
    m.close()
    with pytest.raises(driftsync.ClosedError):
        m.perform()


def test_reset_cause_names() -> None:
    assert ResetCause.SERVER_RESTORED.server_name == "server_restored"
    assert ResetCause.NONE.server_name == "none"
