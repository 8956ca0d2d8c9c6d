"""Embedded objects (issue 15) through the Python binding: local use by path and as views, bad
input, and the merge rules across two clients through the reference server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import driftsync

from conftest import SCHEMA_JSON, ServerProcess, eventually, sync_all



def embedded_schema() -> dict:
    """The shared schema plus `Item.address` (one embedded Address) and `Item.parts` (a list of
    embedded Parts)."""
    s = json.loads(json.dumps(SCHEMA_JSON))
    s["classes"][0]["properties"] += [
        {"name": "address", "type": "object", "optional": True, "target": "Address"},
        {"name": "parts", "type": "object", "list": True, "target": "Part"},
    ]
    s["classes"] += [
        {"name": "Address", "embedded": True, "properties": [
            {"name": "street", "type": "string"}, {"name": "city", "type": "string", "optional": True}]},
        {"name": "Part", "embedded": True, "properties": [{"name": "name", "type": "string"}, {"name": "qty", "type": "int"}]},
    ]
    return s



def test_embedded_objects_read_and_write_as_views_and_by_path(tmp_path: Path) -> None:
    schema = driftsync.Schema.of(embedded_schema())
    assert schema["Address"].embedded and schema["Address"].primary_key == ""
    short = driftsync.Schema.of({"Shop": {"id": "int", "address": "Addr?"}, "Addr": {"__embedded__": True, "street": "string"}})
    assert short["Addr"].embedded
    with driftsync.open(tmp_path / "e.realm", schema=schema) as r:
        assert r.schema["Address"].embedded, "the flag survives the library's schema JSON"
        seen: List[driftsync.Changes] = []
        with r.write():
            item = r.create("Item", 1, name="one")
            item.address = {"street": "Main"}
            item.parts.append(name="bolt", qty=1)
            item.parts.insert(0, name="washer", qty=3)
        assert isinstance(item.address, driftsync.EmbeddedObject)
        assert item.address.street == "Main" and item.address.city is None
        assert [p.name for p in item.parts] == ["washer", "bolt"]
        with r.observe(seen.append):
            with r.write():
                item.address.city = "Springfield"
                item.set_embedded_value("parts[1].qty", 5)
        assert item.embedded_value("address.city") == "Springfield"
        assert item.parts[1].qty == 5
        assert any(sorted(c["Item"].modified.get(1, [])) == ["address", "parts"] for c in seen if "Item" in c), seen
        assert item.to_dict()["address"] == {"street": "Main", "city": "Springfield"}
        assert item.to_dict()["parts"] == [{"name": "washer", "qty": 3}, {"name": "bolt", "qty": 5}]
        with r.write():
            del item.parts[0]
            item.address = None
        assert item.address is None
        assert [p.name for p in item.parts] == ["bolt"]
        with r.write():
            item.erase()
        assert r.count("Address") == 0


def test_embedded_bad_input_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    bad = embedded_schema()
    bad["classes"][2]["primaryKey"] = "street"
    with pytest.raises(driftsync.InvalidSchemaError):
        driftsync.Schema.from_json(json.dumps(bad))
    with driftsync.open(tmp_path / "e.realm", schema=embedded_schema()) as r:
        with r.write():
            item = r.create("Item", 1)
            item.address = {"street": "Main"}
            item.parts.append(name="bolt", qty=1)
        before = item.to_dict()
        with r.write():
            with pytest.raises(driftsync.InvalidArgumentError):
                r.create("Address", 1, street="x")
            with pytest.raises(driftsync.TypeMismatchError):
                item.address.street = 5
            with pytest.raises(driftsync.TypeMismatchError):
                item.parts.append(qty="many")
            with pytest.raises(driftsync.TypeMismatchError):
                r._set_value("Item", 1, "address", 1)  # a plain link write to an embedded property
            with pytest.raises(driftsync.IndexOutOfRangeError):
                item.set_embedded_value("parts[4].qty", 1)
            with pytest.raises(driftsync.UnknownPropertyError):
                item.set_embedded_value("address.zip", "1")
        assert item.to_dict() == before


@pytest.mark.e2e
def test_embedded_merge_across_two_clients(server: ServerProcess, tmp_path: Path) -> None:
    server.apply_schema(embedded_schema())
    a = driftsync.open(tmp_path / "a.realm", schema=embedded_schema(), sync=driftsync.SyncConfig(server.url, "alice-token"))
    b = driftsync.open(tmp_path / "b.realm", schema=embedded_schema(), sync=driftsync.SyncConfig(server.url, "bob-token"))
    try:
        with a.write():
            item = a.create("Item", 1, name="one")
            item.address = {"street": "Main"}
            a.create("Item", 2, name="two").parts.append(name="bolt", qty=1)
        sync_all(a)
        sync_all(b)
        for r in (a, b):
            r.sync_session.pause()
        with a.write():
            a.get("Item", 1).address.street = "A street"   # rule 4: the later one wins
            a.get("Item", 2).erase()                         # erased with its embedded objects
        with b.write():
            b.get("Item", 1).address.street = "B street"
            b.get("Item", 2).parts[0].qty = 9                # dropped: its parent is erased
        for r in (a, b, a):
            r.sync_session.resume()
            sync_all(r)
        eventually("converged", lambda: a.get("Item", 1).address.street == "B street" == b.get("Item", 1).address.street)
        assert not a.exists("Item", 2) and not b.exists("Item", 2)
    finally:
        a.close()
        b.close()
