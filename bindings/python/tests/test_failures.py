"""Failures that reach the app at once (issue 11): waits raise the error that ends the session,
handlers on the SyncConfig see the first connection, progress counts offline changes, the
library's log reaches `logging`, a failing hook says what followed."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

import driftsync
from driftsync import ClientResetMode as Mode
from driftsync import ConnectionState, ServerErrorCode

from conftest import SCHEMA_JSON, ServerProcess, eventually

pytestmark = pytest.mark.e2e
T = 30.0
AT_ONCE = 1.0


def open_synced(server: ServerProcess, path: Path, token: str = "alice-token", **kw: Any) -> driftsync.Realm:
    return driftsync.open(path, schema=SCHEMA_JSON, sync=driftsync.SyncConfig(server.url, token, **kw))


def sync_all(r: driftsync.Realm) -> None:
    r.sync_session.wait_for_upload(timeout=T)
    r.sync_session.wait_for_download(timeout=T)


def go_offline(r: driftsync.Realm) -> None:
    r.sync_session.pause()
    eventually("disconnected", lambda: r.sync_session.state == ConnectionState.DISCONNECTED)


def in_thread(f: Any) -> Tuple[threading.Thread, List[Any]]:
    """Runs `f` on a thread; the list gets (exception or None, monotonic time it returned)."""
    out: List[Any] = []

    def run() -> None:
        try:
            f()
            out.append((None, time.monotonic()))
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            out.append((e, time.monotonic()))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_wait_without_timeout_on_a_wrong_token_raises_the_authentication_error_within_1s(server: ServerProcess, tmp_path: Path) -> None:
    r = open_synced(server, tmp_path / "a.realm", token="wrong-token")
    with r.write():
        r.create("Item", 1, name="pending")
    t, out = in_thread(lambda: r.sync_session.wait_for_upload())  # no timeout
    t.join(AT_ONCE)
    assert out, "wait_for_upload did not return within 1 s"
    e = out[0][0]
    assert isinstance(e, driftsync.AuthenticationError), repr(e)
    assert e.code == driftsync.Status.AUTHENTICATION
    assert isinstance(e, PermissionError)
    # A later wait raises at once too.
    with pytest.raises(driftsync.AuthenticationError):
        r.sync_session.wait_for_download()
    r.close()


def test_wait_for_download_pending_when_a_reset_goes_to_the_manual_handler_raises_the_reset_error(server: ServerProcess, tmp_path: Path) -> None:
    handled: List[float] = []
    r = open_synced(
        server, tmp_path / "m.realm", client_reset_mode=Mode.MANUAL, manual_reset=lambda m: handled.append(time.monotonic())
    )
    with r.write():
        r.create("Item", 1, name="synced")
    sync_all(r)
    go_offline(r)
    with r.write():
        r.create("Item", 2, name="offline")
    t, out = in_thread(lambda: r.sync_session.wait_for_download())  # pending while paused
    time.sleep(0.1)
    server.admin("terminate")
    server.admin("enable")
    r.sync_session.resume()
    t.join(T)
    assert out, "the pending wait never returned"
    e, returned = out[0]
    assert isinstance(e, driftsync.ClientResetError), repr(e)
    assert e.cause == "sync_reenabled"
    eventually("manual handler", lambda: handled)
    assert abs(returned - handled[0]) < AT_ONCE
    r.close()


def test_failed_automatic_reset_ends_the_waits(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "f.realm"
    r = open_synced(server, path, client_reset_mode=Mode.DISCARD_UNSYNCED_CHANGES)
    sync_all(r)
    go_offline(r)
    with r.write():
        r.create("Item", 1, name="offline")
    # A directory in the way of the fresh copy.
    (tmp_path / "f.realm.fresh" / "in-the-way").mkdir(parents=True)
    server.admin("terminate")
    server.admin("enable")
    r.sync_session.resume()
    with pytest.raises(driftsync.ClientResetError) as ei:
        r.sync_session.wait_for_upload(timeout=T)
    assert "automatic client reset failed" in str(ei.value)
    assert r.get("Item", 1).name == "offline"
    r.close()


def test_retryable_error_keeps_the_wait_waiting(server: ServerProcess, tmp_path: Path) -> None:
    url = server.url
    server.stop()  # the server is down: every connection fails, and is retried
    errors: List[driftsync.SyncErrorInfo] = []
    r = driftsync.open(tmp_path / "d.realm", schema=SCHEMA_JSON, sync=driftsync.SyncConfig(url, "alice-token", on_error=errors.append))
    with r.write():
        r.create("Item", 1, name="pending")
    with pytest.raises(driftsync.TimeoutError):
        r.sync_session.wait_for_upload(timeout=1.5)
    assert errors and all(e.is_retryable for e in errors)
    assert not r.sync_session.is_paused
    r.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "ws://", "ws://host:notaport", "127.0.0.1:9000"])
def test_unusable_url_fails_open(tmp_path: Path, url: str) -> None:
    with pytest.raises(driftsync.InvalidArgumentError):
        driftsync.open(tmp_path / "u.realm", schema=SCHEMA_JSON, sync=driftsync.SyncConfig(url, "t"))


def test_handlers_on_the_config_see_the_first_connection(server: ServerProcess, tmp_path: Path) -> None:
    errors: List[driftsync.SyncErrorInfo] = []
    states: List[Tuple[ConnectionState, ConnectionState]] = []
    cfg = driftsync.SyncConfig(server.url, "wrong-token", on_error=errors.append, on_connection_state=lambda o, n: states.append((o, n)))
    r = driftsync.open(tmp_path / "h.realm", schema=SCHEMA_JSON, sync=cfg)
    eventually("the error handler ran", lambda: errors)
    assert errors[0].server_code == ServerErrorCode.BAD_TOKEN
    assert not errors[0].is_retryable
    assert states[0] == (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING)
    r.close()


def test_progress_counts_local_changes_while_offline(server: ServerProcess, tmp_path: Path) -> None:
    r = open_synced(server, tmp_path / "p.realm", start_paused=True)
    base = r.sync_session.progress
    with r.write():
        r.create("Item", 1, name="a")
    with r.write():
        r.create("Item", 2, name="b")
    p = r.sync_session.progress
    assert p.uploadable == base.uploadable + 2
    assert not p.upload_complete
    r.sync_session.resume()
    r.sync_session.wait_for_upload(timeout=T)
    assert r.sync_session.progress.upload_complete
    r.close()


def test_library_log_lines_reach_python_logging(server: ServerProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="driftsync")
    r = open_synced(server, tmp_path / "log.realm", client_reset_mode=Mode.DISCARD_UNSYNCED_CHANGES)
    sync_all(r)
    go_offline(r)
    with r.write():
        r.create("Item", 1, name="offline")
    server.admin("terminate")
    server.admin("enable")
    r.sync_session.resume()
    eventually("reset", r.last_reset_report, timeout=T)
    sync_all(r)
    r.close()
    by_logger = {}
    for rec in caplog.records:
        by_logger.setdefault(rec.name, []).append(rec.getMessage())
    assert any("log.realm" in m for m in by_logger.get("driftsync.storage", [])), by_logger.keys()
    assert any(m.startswith("bound ") for m in by_logger.get("driftsync.sync", []))
    reset_lines = by_logger.get("driftsync.reset", [])
    for step in ("decide: Discard", "download: ", "diff: ", "replay: ", "commit: "):
        assert any(m.startswith(step) for m in reset_lines), (step, reset_lines)


def test_exception_in_before_hook_says_that_the_hook_failed_and_what_followed(server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    def before(b: driftsync.Realm) -> None:
        raise ValueError("not today")

    manual: List[Any] = []
    r = open_synced(server, tmp_path / "hook.realm", client_reset_mode=Mode.RECOVER_UNSYNCED_CHANGES, before_reset=before, manual_reset=manual.append)
    sync_all(r)
    go_offline(r)
    server.admin("terminate")
    server.admin("enable")
    r.sync_session.resume()
    eventually("manual handler", lambda: manual)
    err = capfd.readouterr().err
    assert "the before_reset hook failed: the automatic client reset was aborted and handed to the manual reset handler" in err, err
    assert "ValueError: not today" in err
    assert "(ignored)" not in err
    r.close()
