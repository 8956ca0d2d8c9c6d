"""Realm's data kinds beyond scalars and lists (issue 15) through the Python binding: local use,
bad input, and a merge across two clients through the reference server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import driftsync
from driftsync import Status

from conftest import SCHEMA_JSON, ServerProcess, eventually

T = 30.0


def kinds_schema() -> dict:
    """The shared schema plus `Item.hits`, an optional counter (as the Rust tests' kinds_schema)."""
    s = json.loads(json.dumps(SCHEMA_JSON))
    s["classes"][0]["properties"].append({"name": "hits", "type": "int", "optional": True, "counter": True})
    return s


def sync_all(r: driftsync.Realm) -> None:
    s = r.sync_session
    assert s is not None
    s.wait_for_upload(timeout=T)
    s.wait_for_download(timeout=T)


# -- counter -----------------------------------------------------------------------------------
def test_counter_increment_reads_back_and_notifies(tmp_path: Path) -> None:
    schema = driftsync.Schema.of({"Page": {"id": "int", "title": "string", "visits": "counter", "likes": "counter?"}})
    assert schema["Page"].prop("visits") == driftsync.Property("visits", "int", counter=True)
    assert schema["Page"].prop("likes").optional and schema["Page"].prop("likes").counter
    with driftsync.open(tmp_path / "c.realm", schema=schema) as r:
        assert r.schema["Page"].prop("visits").counter, "the counter flag survives the library's schema JSON"
        seen: List[driftsync.Changes] = []
        with r.write():
            page = r.create("Page", 1, title="home")
        with r.observe(seen.append):
            with r.write():
                page.increment("visits", 5)
                page.increment("visits", -2)
                page.increment("likes")
        assert page.visits == 3
        assert page.likes == 1, "a null counter counts from 0"
        assert any(sorted(c["Page"].modified[1]) == ["likes", "visits"] for c in seen if "Page" in c)
        with r.write():
            page.visits = 10
            page.increment("visits")
        assert page.visits == 11


def test_counter_bad_input_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    bad = {"classes": [{"name": "A", "primaryKey": "id", "properties": [
        {"name": "id", "type": "int"}, {"name": "s", "type": "string", "counter": True}]}]}
    with pytest.raises(driftsync.InvalidSchemaError):
        driftsync.open(tmp_path / "bad.realm", schema=bad)
    with driftsync.open(tmp_path / "c.realm", schema={"Page": {"id": "int", "title": "string", "visits": "counter"}}) as r:
        with r.write():
            page = r.create("Page", 1, title="home", visits=2)
        with r.write():
            with pytest.raises(driftsync.TypeMismatchError) as ei:
                page.increment("title")
            assert ei.value.code == Status.TYPE_MISMATCH
            with pytest.raises(driftsync.TypeMismatchError):
                page.visits = "many"
            with pytest.raises(driftsync.ObjectNotFoundError):
                r.object("Page", 9).increment("visits")
        assert page.visits == 2


@pytest.mark.e2e
def test_counter_increments_on_two_clients_add_up(server: ServerProcess, tmp_path: Path) -> None:
    server.apply_schema(kinds_schema())
    a = driftsync.open(tmp_path / "a.realm", schema=kinds_schema(), sync=driftsync.SyncConfig(server.url, "alice-token"))
    b = driftsync.open(tmp_path / "b.realm", schema=kinds_schema(), sync=driftsync.SyncConfig(server.url, "bob-token"))
    try:
        with a.write():
            a.create("Item", 1, name="one", hits=10)
        sync_all(a)
        sync_all(b)
        for r in (a, b):
            r.sync_session.pause()
        with a.write():
            a.get("Item", 1).increment("hits", 3)
        with b.write():
            b.get("Item", 1).increment("hits", 4)
        for r in (a, b, a):
            r.sync_session.resume()
            sync_all(r)
        eventually("both have 17", lambda: a.get("Item", 1).hits == 17 and b.get("Item", 1).hits == 17)
    finally:
        a.close()
        b.close()
