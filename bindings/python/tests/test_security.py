"""wss:// end to end: a test CA (examples/test_pki) and a server speaking TLS with its
certificate; the client trusts that CA through `SyncConfig.trusted_ca_pem`. Without it the
session fails once, not retryable; cleartext to a host that is not loopback is refused at open."""

from __future__ import annotations

from pathlib import Path

import pytest

import driftsync

from conftest import SCHEMA_JSON, ServerProcess, eventually

pytestmark = pytest.mark.e2e
T = 30.0


def open_tls(server: ServerProcess, path: Path, ca_pem: str | None, user: str = "alice") -> driftsync.Realm:
    cfg = driftsync.SyncConfig(server.url, f"{user}-token", trusted_ca_pem=[ca_pem] if ca_pem else [])
    return driftsync.open(path, schema=SCHEMA_JSON, sync=cfg)


def test_security_wss_sync_with_a_test_ca(tls_server: ServerProcess, pki: Path, tmp_path: Path) -> None:
    assert tls_server.url.startswith("wss://")
    ca = (pki / "ca.pem").read_text()
    with open_tls(tls_server, tmp_path / "a.realm", ca) as a, open_tls(tls_server, tmp_path / "b.realm", ca, "bob") as b:
        with a.write():
            a.create("Item", 1, name="over tls", count=0)
        a.sync_session.wait_for_upload(timeout=T)
        b.sync_session.wait_for_download(timeout=T)
        assert b.get("Item", 1).name == "over tls"


def test_security_wss_without_the_ca_fails_without_retrying(tls_server: ServerProcess, tmp_path: Path) -> None:
    with open_tls(tls_server, tmp_path / "a.realm", None) as a:
        s = a.sync_session
        err = eventually("the TLS failure", lambda: s.last_error if s.is_paused else None)
        assert not err.is_retryable
        assert err.action == driftsync.ErrorAction.FATAL
        assert "certificate" in err.message


def test_security_cleartext_to_a_host_that_is_not_loopback_is_refused(tmp_path: Path) -> None:
    cfg = driftsync.SyncConfig("ws://203.0.113.7:9", "t", start_paused=True)
    with pytest.raises(driftsync.InvalidArgumentError, match="cleartext"):
        driftsync.open(tmp_path / "a.realm", schema=SCHEMA_JSON, sync=cfg)
    cfg = driftsync.SyncConfig("ws://203.0.113.7:9", "t", start_paused=True, allow_cleartext=True)
    driftsync.open(tmp_path / "a.realm", schema=SCHEMA_JSON, sync=cfg).close()
    with pytest.raises(driftsync.InvalidArgumentError):
        driftsync.open(tmp_path / "b.realm", schema=SCHEMA_JSON, sync=driftsync.SyncConfig("wss://localhost:1", "t", trusted_ca_pem=["junk"]))
