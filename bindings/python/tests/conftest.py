"""Fixtures: temporary realm paths, schemas, and the reference server as a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

import driftsync

ADMIN_TOKEN = "admin-secret"

# The schema the server and the clients share (as the Rust end-to-end tests' common::schema()).
SCHEMA_JSON = {
    "classes": [
        {
            "name": "Item",
            "primaryKey": "id",
            "properties": [
                {"name": "id", "type": "int"},
                {"name": "name", "type": "string"},
                {"name": "count", "type": "int"},
                {"name": "tags", "type": "string", "list": True},
                {"name": "next", "type": "link", "optional": True, "target": "Item"},
            ],
        },
        {
            "name": "Person",
            "primaryKey": "name",
            "properties": [
                {"name": "name", "type": "string"},
                {"name": "items", "type": "link", "list": True, "target": "Item"},
                {"name": "age", "type": "int", "optional": True},
            ],
        },
    ]
}


def schema_with_extra_class() -> dict:
    s = json.loads(json.dumps(SCHEMA_JSON))
    s["classes"].append(
        {"name": "Note", "primaryKey": "id", "properties": [{"name": "id", "type": "int"}, {"name": "text", "type": "string"}]}
    )
    return s


def breaking_schema() -> dict:
    s = json.loads(json.dumps(SCHEMA_JSON))
    s["classes"][0]["properties"][2] = {"name": "count", "type": "string"}
    return s


APP_TOML = """
admin_token = "{admin}"
is_recovery_mode_disabled = false
client_max_offline_days = 30
schema_file = "schema.json"

[users.alice]
token = "alice-token"
role = "editor"

[users.bob]
token = "bob-token"
role = "editor"

[roles.editor]
realms = ["*"]
read = ["*"]
write = ["*"]

[roles.editor2]
realms = ["*"]
read = ["*"]
write = ["*"]

[roles.reader]
realms = ["*"]
read = ["*"]
write = []
"""


def repo_root() -> Path:
    for d in Path(__file__).resolve().parents:
        if (d / "Cargo.toml").is_file() and (d / "server").is_dir():
            return d
    raise RuntimeError("cannot find the driftsync repository above the tests")


def cargo_artifact(env_var: str, build_args: List[str], relative: str) -> Path:
    """A binary named by `env_var`, else built with `cargo build BUILD_ARGS` (debug profile)."""
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    root = repo_root()
    subprocess.run(["cargo", "build", "-q", *build_args], cwd=root, check=True)
    meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=root, check=True, capture_output=True).stdout)
    return Path(meta["target_directory"]) / "debug" / relative


@pytest.fixture(scope="session")
def server_bin() -> Path:
    """The reference server binary (DRIFTSYNC_SERVER_BIN, else built with cargo)."""
    return cargo_artifact("DRIFTSYNC_SERVER_BIN", ["-p", "driftsync-server"], "driftsync-server")


class ServerProcess:
    """A running `driftsync-server serve` child process."""

    def __init__(self, binary: Path, workdir: Path, config: Optional[Path] = None, tls_dir: Optional[Path] = None) -> None:
        """Serves `config` (default: the tests' app.toml and schema, written into `workdir`).
        With `tls_dir` (holding server.pem and server.key) the default config speaks wss://."""
        self.binary = binary
        self.workdir = workdir
        if config is None:
            (workdir / "schema.json").write_text(json.dumps(SCHEMA_JSON))
            toml = APP_TOML.format(admin=ADMIN_TOKEN)
            if tls_dir is not None:
                toml += f'\n[tls]\ncert_chain_file = "{tls_dir / "server.pem"}"\nkey_file = "{tls_dir / "server.key"}"\n'
            config = workdir / "app.toml"
            config.write_text(toml)
        self.data = workdir / "data"
        self.log: List[str] = []
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(config), "--data", str(self.data), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = self._read_url()
        self.admin_url = self._read_admin_url()
        self._drain = threading.Thread(target=self._pump, daemon=True)
        self._drain.start()

    def _read_url(self) -> str:
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited early: {''.join(self.log)}")
            self.log.append(line)
            m = re.search(r"listening on (wss?://\S+)", line)
            if m:
                return m.group(1)
        raise RuntimeError("the server did not print its address")

    def _read_admin_url(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.log.append(line)
        m = re.search(r"admin on (wss?://\S+)", line)
        if not m:
            raise RuntimeError(f"the server did not print its admin address: {line!r}")
        return m.group(1)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)

    def admin(self, *args: str) -> str:
        """Runs `driftsync-server admin … ARGS` and returns its output."""
        r = subprocess.run(
            [str(self.binary), "admin", "--url", self.admin_url, "--admin-token", ADMIN_TOKEN, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if r.returncode != 0:
            raise RuntimeError(f"admin {' '.join(args)} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def apply_schema(self, schema: dict) -> str:
        f = self.workdir / f"schema-{time.monotonic_ns()}.json"
        f.write_text(json.dumps(schema))
        return self.admin("schema", "apply", str(f))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def server(server_bin: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh reference server on loopback (killed on teardown)."""
    d = tmp_path / "server"
    d.mkdir()
    s = ServerProcess(server_bin, d)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def test_pki_bin() -> Path:
    """examples/test_pki: makes a test CA and a server certificate (DRIFTSYNC_TEST_PKI, else built)."""
    return cargo_artifact("DRIFTSYNC_TEST_PKI", ["--example", "test_pki"], "examples/test_pki")


@pytest.fixture
def pki(test_pki_bin: Path, tmp_path: Path) -> Path:
    """A fresh test CA (ca.pem) and server certificate (server.pem, server.key) for localhost."""
    d = tmp_path / "pki"
    subprocess.run([str(test_pki_bin), str(d)], check=True)
    return d


@pytest.fixture
def tls_server(server_bin: Path, tmp_path: Path, pki: Path) -> Iterator[ServerProcess]:
    """A reference server speaking wss:// with the `pki` certificate."""
    d = tmp_path / "tls-server"
    d.mkdir()
    s = ServerProcess(server_bin, d, tls_dir=pki)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def schema() -> driftsync.Schema:
    return driftsync.Schema.of(SCHEMA_JSON)


@pytest.fixture
def local_schema() -> dict:
    return {
        "Dog": {
            "id": "int",
            "name": "string",
            "age": "int?",
            "weight": "double",
            "good": "bool",
            "photo": "binary?",
            "born": "timestamp?",
            "oid": "objectId?",
            "uid": "uuid?",
            "tags": "string[]",
            "owner": "Person?",
            "friends": "Dog[]",
        },
        "Person": {"__primary_key__": "name", "name": "string", "age": "int?"},
    }


@pytest.fixture
def realm(tmp_path: Path, local_schema: dict) -> Iterator[driftsync.Realm]:
    r = driftsync.open(tmp_path / "local.realm", schema=local_schema)
    try:
        yield r
    finally:
        r.close()


def eventually(what: str, f: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = f()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for: {what}")


def sync_all(r: driftsync.Realm, timeout: float = 30.0) -> None:
    """Waits until `r` uploaded everything and downloaded what the server has."""
    s = r.sync_session
    assert s is not None
    s.wait_for_upload(timeout=timeout)
    s.wait_for_download(timeout=timeout)


sys.modules.setdefault("driftsync_test_helpers", sys.modules[__name__])
