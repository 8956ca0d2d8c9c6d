"""Realm's data kinds beyond scalars and lists (issue 15) through the Python binding: local use,
bad input, and a merge across two clients through the reference server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

import driftsync
from driftsync import Status

from conftest import SCHEMA_JSON, ServerProcess, eventually, sync_all



def kinds_schema() -> dict:
    """The shared schema plus `Item.hits`, an optional counter (as the Rust tests' kinds_schema)."""
    s = json.loads(json.dumps(SCHEMA_JSON))
    s["classes"][0]["properties"].append({"name": "hits", "type": "int", "optional": True, "counter": True})
    return s


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


# -- set ---------------------------------------------------------------------------------------
def test_set_add_discard_clear_and_links(tmp_path: Path) -> None:
    schema = driftsync.Schema.of({"Post": {"id": "int", "tags": "string{}", "related": "Post{}"}})
    assert schema["Post"].prop("tags") == driftsync.Property("tags", "string", set=True)
    assert schema["Post"].prop("related").set and schema["Post"].prop("related").target == "Post"
    with driftsync.open(tmp_path / "s.realm", schema=schema) as r:
        assert r.schema["Post"].prop("tags").set, "the set flag survives the library's schema JSON"
        seen: List[driftsync.Changes] = []
        with r.write():
            p1 = r.create("Post", 1, tags=["b", "a", "b"])
            r.create("Post", 2)
        assert isinstance(p1.tags, driftsync.Set)
        assert list(p1.tags) == ["a", "b"] and len(p1.tags) == 2 and "a" in p1.tags
        with r.observe(seen.append):
            with r.write():
                p1.tags.add("c")
                p1.tags.add("a")
                p1.tags.discard("b")
                p1.tags.discard("missing")
                p1.related.add(2)
        assert set(p1.tags) == {"a", "c"}
        assert [o.primary_key for o in p1.related] == [2]
        assert any(sorted(c["Post"].modified[1]) == ["related", "tags"] for c in seen if "Post" in c)
        with r.write():
            r.get("Post", 2).erase()
        assert len(p1.related) == 0, "an erased object leaves the set"
        with r.write():
            p1.tags.clear()
        assert len(p1.tags) == 0


def test_set_bad_input_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    with driftsync.open(tmp_path / "s.realm", schema={"Post": {"id": "int", "tags": "string{}", "related": "Post{}"}}) as r:
        with r.write():
            post = r.create("Post", 1, tags=["a"])
        with r.write():
            with pytest.raises(driftsync.TypeMismatchError):
                post.tags.add(5)
            with pytest.raises(driftsync.TypeMismatchError):
                post.tags.add(None)
            with pytest.raises(driftsync.TypeMismatchError):
                post.tags = "not a collection"
            with pytest.raises(driftsync.ObjectNotFoundError):
                post.related.add(9)
        assert list(post.tags) == ["a"]
    bad = {"classes": [{"name": "A", "primaryKey": "id", "properties": [
        {"name": "id", "type": "int"}, {"name": "s", "type": "string", "set": True, "list": True}]}]}
    with pytest.raises(driftsync.InvalidSchemaError):
        driftsync.open(tmp_path / "bad.realm", schema=bad)


# -- dictionary --------------------------------------------------------------------------------
def test_dictionary_set_erase_clear_and_links(tmp_path: Path) -> None:
    schema = driftsync.Schema.of({"Doc": {"id": "int", "meta": "dict[string]", "refs": "dict[Doc]"}})
    assert schema["Doc"].prop("meta") == driftsync.Property("meta", "string", dictionary=True)
    assert schema["Doc"].prop("refs").optional and schema["Doc"].prop("refs").target == "Doc"
    with driftsync.open(tmp_path / "d.realm", schema=schema) as r:
        assert r.schema["Doc"].prop("meta").dictionary, "the flag survives the library's schema JSON"
        seen: List[driftsync.Changes] = []
        with r.write():
            d1 = r.create("Doc", 1, meta={"b": "one"})
            r.create("Doc", 2)
        assert isinstance(d1.meta, driftsync.Dictionary)
        with r.observe(seen.append):
            with r.write():
                d1.meta["a"] = "two"
                d1.refs["r"] = 2
        assert dict(d1.meta) == {"a": "two", "b": "one"} and list(d1.meta) == ["a", "b"]
        assert d1.refs["r"].primary_key == 2
        assert d1.to_dict()["meta"] == {"a": "two", "b": "one"}
        assert any(sorted(c["Doc"].modified[1]) == ["meta", "refs"] for c in seen if "Doc" in c)
        with r.write():
            del d1.meta["a"]
            r.get("Doc", 2).erase()
        assert dict(d1.meta) == {"b": "one"}
        assert dict(d1.refs) == {"r": None}, "a link to an erased object becomes null"
        with r.write():
            d1.meta.clear()
        assert len(d1.meta) == 0


def test_dictionary_bad_input_is_a_typed_error_and_changes_nothing(tmp_path: Path) -> None:
    with driftsync.open(tmp_path / "d.realm", schema={"Doc": {"id": "int", "meta": "dict[string]", "refs": "dict[Doc]"}}) as r:
        with r.write():
            doc = r.create("Doc", 1, meta={"k": "v"})
        with r.write():
            with pytest.raises(driftsync.TypeMismatchError):
                doc.meta["k"] = 5
            with pytest.raises(driftsync.TypeMismatchError):
                doc.meta["k"] = None
            with pytest.raises(driftsync.TypeMismatchError):
                doc.meta[3] = "x"  # type: ignore[index]
            with pytest.raises(driftsync.TypeMismatchError):
                doc.meta = ["not", "a", "mapping"]
            with pytest.raises(driftsync.ObjectNotFoundError):
                doc.refs["r"] = 9
            with pytest.raises(KeyError):
                del doc.meta["absent"]
        assert dict(doc.meta) == {"k": "v"}
