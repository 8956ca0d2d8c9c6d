"""Resources and robustness: open/close cycles leave no file descriptors or memory behind,
handles released by the garbage collector, exceptions (even BaseException) in callbacks never
crash the interpreter, interpreter exit with live sync sessions and callbacks."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import driftsync

from conftest import SCHEMA_JSON, ServerProcess


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


@needs_proc
def test_thousand_open_close_cycles_leak_nothing(tmp_path: Path, local_schema: dict) -> None:
    path = tmp_path / "cycle.realm"
    schema = driftsync.Schema.of(local_schema)

    def cycle(i: int) -> None:
        with driftsync.open(path, schema=schema) as r:
            with r.write():
                r.upsert("Dog", i % 10, name=f"n{i}", tags=["a"])
            tok = r.observe(lambda c: None)
            r.get("Dog", i % 10).name
            list(r.objects("Dog"))
            with r.freeze() as f:
                f.count("Dog")
            tok.close()

    for i in range(50):  # warm up caches and allocator arenas
        cycle(i)
    gc.collect()
    fds, rss = fd_count(), rss_kib()
    for i in range(1000):
        cycle(i)
    gc.collect()
    assert fd_count() == fds, "file descriptors leaked"
    grown = rss_kib() - rss
    assert grown < 20 * 1024, f"memory grew by {grown} KiB over 1000 cycles"


@needs_proc
def test_gc_only_release_leaks_nothing(tmp_path: Path, local_schema: dict) -> None:
    path = tmp_path / "gc.realm"
    schema = driftsync.Schema.of(local_schema)
    driftsync.open(path, schema=schema).close()
    gc.collect()
    fds = fd_count()
    for i in range(300):
        r = driftsync.open(path, schema=schema)
        r.observe(lambda c: None)  # token dropped at once
        r.freeze()  # frozen handle dropped at once
        it = r.objects("Dog")
        del r, it
    gc.collect()
    assert fd_count() == fds


@needs_proc
def test_synced_open_close_cycles(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "s.realm"
    cfg = driftsync.Config(path, SCHEMA_JSON, sync=driftsync.SyncConfig(server.url, "alice-token", before_reset=lambda b: None, manual_reset=lambda m: None))
    from driftsync._handles import live_registrations

    def cycle() -> None:
        with cfg.open() as r:
            r.sync_session.wait_for_download(timeout=30)

    for _ in range(5):
        cycle()
    gc.collect()
    fds, regs = fd_count(), live_registrations()
    for _ in range(40):
        cycle()
    gc.collect()
    assert fd_count() == fds
    assert live_registrations() == regs, "hook user_data released when the realms closed"


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout)


def test_exceptions_in_callbacks_do_not_crash_the_interpreter(tmp_path: Path) -> None:
    r = run_python(
        f"""
        import driftsync, sys
        r = driftsync.open({str(tmp_path / 'x.realm')!r}, schema={{"A": {{"id": "int"}}}})
        toks = [r.observe(lambda c: 1 / 0), r.observe(lambda c: (_ for _ in ()).throw(SystemExit(3))),
                r.observe(lambda c: (_ for _ in ()).throw(KeyboardInterrupt())),
                r.observe(lambda c: sys.exit("no"))]
        for i in range(5):
            with r.write():
                r.create("A", i)
        assert r.count("A") == 5
        assert all(len(t.exceptions) == 5 for t in toks), [len(t.exceptions) for t in toks]
        print("survived")
        """
    )
    assert r.returncode == 0, r.stderr
    assert "survived" in r.stdout
    assert "ZeroDivisionError" in r.stderr  # reported, not swallowed


def test_exit_with_live_session_and_callbacks(server: ServerProcess, tmp_path: Path) -> None:
    r = run_python(
        f"""
        import driftsync
        cfg = driftsync.SyncConfig({server.url!r}, "alice-token", before_reset=lambda b: None,
                                   after_reset=lambda b, l, d: None, manual_reset=lambda m: None)
        r = driftsync.open({str(tmp_path / 'e.realm')!r}, schema={SCHEMA_JSON!r}, sync=cfg)
        t1 = r.sync_session.on_state_change(lambda o, n: None)
        t2 = r.observe(lambda c: None)
        with r.write():
            r.create("Item", 1, name="x")
        r.sync_session.wait_for_upload(timeout=30)
        print("exiting")
        # no close: the interpreter exits with the session, tokens and hooks alive
        """
    )
    assert r.returncode == 0, r.stderr
    assert "exiting" in r.stdout


def test_pip_installed_import_outside_source_tree() -> None:
    r = subprocess.run([sys.executable, "-c", "import driftsync; print(driftsync.__version__)"], cwd="/", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == driftsync.__version__
