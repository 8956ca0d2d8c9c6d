"""The `mixed` kind (issue 15) through the Python binding: values, links and nested collections,
bad input, and a merge across two clients through the reference server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import driftsync

from conftest import SCHEMA_JSON, ServerProcess, eventually, sync_all

SCHEMA = {"Box": {"id": "int", "any": "mixed", "bag": "mixed{}"}, "Tag": {"name": "string", "__primary_key__": "name"}}


def test_mixed_values_links_and_nested_collections(tmp_path: Path) -> None:
    schema = driftsync.Schema.of(SCHEMA)
    assert schema["Box"].prop("any").type == "mixed" and schema["Box"].prop("bag").set
    with driftsync.open(tmp_path / "m.realm", schema=schema) as r:
        seen: List[driftsync.Changes] = []
        with r.write():
            box = r.create("Box", 1, any=5)
            tag = r.create("Tag", "red")
            r.create("Box", 2, any={"l": [1, {"who": tag}], "n": None})
        assert box.any == 5
        box2 = r.get("Box", 2)
        assert isinstance(box2.any, driftsync.MixedDict)
        assert box2.any["l"][1]["who"] == tag and box2.any["l"][1]["who"].class_name == "Tag"
        assert box2.to_dict()["any"] == {"l": [1, {"who": driftsync.TypedLink("Tag", "red")}], "n": None}
        with r.observe(seen.append):
            with r.write():
                box.any = ["a", "b"]
                box.any.insert(1, ["inner"])
                box.any[0] = 2.5
                del box.any[2]
                box.any[1].append({"k": True})
        assert box.any == [2.5, ["inner", {"k": True}]]
        assert any("any" in c["Box"].modified[1] for c in seen if "Box" in c)
        with r.write():
            box.bag.add(tag)
            box.bag.add(3)
            r.get("Tag", "red").erase()
        assert box2.any["l"][1]["who"] is None, "a link to an erased object becomes None"
        assert list(box.bag) == [3], "and leaves a set of mixed"
        with r.write():
            box.any = None
        assert box.any is None


def test_mixed_bad_input_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    with driftsync.open(tmp_path / "m.realm", schema=SCHEMA) as r:
        with r.write():
            box = r.create("Box", 1, any=[1])
        with r.write():
            with pytest.raises(driftsync.TypeMismatchError, match="hashable"):
                driftsync.mixed.put(box, "bag", [], [1, 2])  # a set of mixed holds no nested list
            with pytest.raises(driftsync.TypeMismatchError):
                box.bag = [[1, 2]]
            with pytest.raises(driftsync.TypeMismatchError):
                driftsync.mixed.put(box, "any", [0, "k"], 1)  # the element 1 holds no dictionary
            with pytest.raises(driftsync.IndexOutOfRangeError):
                driftsync.mixed.put(box, "any", [], 1, insert_at=5)
            with pytest.raises(driftsync.TypeMismatchError):
                box.any = object()
        assert box.any == [1] and len(box.bag) == 0


def kinds_schema() -> dict:
    s = json.loads(json.dumps(SCHEMA_JSON))
    s["classes"][0]["properties"].append({"name": "any", "type": "mixed"})
    return s


@pytest.mark.e2e
def test_mixed_later_whole_value_set_wins_and_drops_edits_inside_the_replaced_list(server: ServerProcess, tmp_path: Path) -> None:
    server.apply_schema(kinds_schema())
    a = driftsync.open(tmp_path / "a.realm", schema=kinds_schema(), sync=driftsync.SyncConfig(server.url, "alice-token"))
    b = driftsync.open(tmp_path / "b.realm", schema=kinds_schema(), sync=driftsync.SyncConfig(server.url, "bob-token"))
    try:
        with a.write():
            a.create("Item", 1, name="one", any={"l": [1]})
        sync_all(a)
        sync_all(b)
        assert b.get("Item", 1).any == {"l": [1]}
        for r in (a, b):
            r.sync_session.pause()
        with a.write():
            a.get("Item", 1).any["l"].append(2)  # into the list b replaces
            a.get("Item", 1).any["k"] = "kept"
        with b.write():
            b.get("Item", 1).any["l"] = ["new"]
        for r in (b, a, b):
            r.sync_session.resume()
            sync_all(r)
        want = {"k": "kept", "l": ["new"]}
        eventually("both converge", lambda: a.get("Item", 1).any == want and b.get("Item", 1).any == want)
    finally:
        a.close()
        b.close()
