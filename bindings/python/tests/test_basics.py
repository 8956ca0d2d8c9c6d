"""Unit tests of the local (non-sync) surface: import, schema, config, realm, transactions,
objects, values, lists, cursors, frozen snapshots, observers and errors."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import uuid
from pathlib import Path
from typing import List, Optional

import pytest

import driftsync
from driftsync import Status


# -- import / version -----------------------------------------------------------------------
def test_version_and_abi() -> None:
    import importlib.metadata

    assert driftsync.__version__ == driftsync.library_version()
    assert driftsync.__version__ == importlib.metadata.version("driftsync")
    assert driftsync.abi_version() == driftsync.ABI_VERSION
    assert Path(driftsync.LIBRARY_PATH).is_file()
    # maturin ships the library beside the generated cffi declarations (driftsync._ffi).
    assert Path(driftsync.LIBRARY_PATH).parent == Path(driftsync.__file__).parent / "_ffi"
    assert (Path(driftsync.__file__).parent / "py.typed").is_file()


def test_abi_mismatch_message() -> None:
    from driftsync import _native

    with pytest.raises(ImportError, match="ABI version mismatch"):
        _native.check_abi(driftsync.ABI_VERSION + 1, "9.9.9")
    _native.check_abi(driftsync.ABI_VERSION, driftsync.__version__)


def test_status_names() -> None:
    assert driftsync.status_name(16) == "CLOSED"
    assert driftsync.status_name(0) == "OK"
    assert driftsync.status_name(4242) == "UNKNOWN"
    for s in Status:
        assert driftsync.status_name(s) == s.name


# -- errors ------------------------------------------------------------------------------------
def test_every_status_has_an_error_class() -> None:
    from driftsync.errors import error_class, make_error

    for s in Status:
        if s == Status.OK:
            continue
        cls = error_class(s)
        assert issubclass(cls, driftsync.Error) and cls is not driftsync.Error, s
        assert cls.status == s
        e = make_error(s, "msg", "cause")
        assert isinstance(e, cls) and e.code == s and e.message == "msg" and e.cause == "cause"
        assert s.name in str(e)
    assert type(make_error(777, "x")) is driftsync.Error
    assert make_error(777).code == 777


def test_error_classes_also_subclass_builtins() -> None:
    assert issubclass(driftsync.IndexOutOfRangeError, IndexError)
    assert issubclass(driftsync.TimeoutError, TimeoutError)
    assert issubclass(driftsync.TypeMismatchError, TypeError)
    assert issubclass(driftsync.FileIOError, OSError)
    assert issubclass(driftsync.PermissionDeniedError, PermissionError)
    assert issubclass(driftsync.InvalidSchemaError, ValueError)


def test_panic_is_caught_at_the_boundary() -> None:
    from driftsync._native import lib
    from driftsync.errors import call

    with pytest.raises(driftsync.PanicError) as ei:
        call(lib.driftsync_debug_panic)
    assert ei.value.code == Status.PANIC
    assert ei.value.message


# -- schema -------------------------------------------------------------------------------------
def test_schema_from_compact_dicts(local_schema: dict) -> None:
    s = driftsync.Schema.of(local_schema)
    dog = s["Dog"]
    assert dog.primary_key == "id"
    assert dog.prop("age") == driftsync.Property("age", "int", optional=True)
    assert dog.prop("tags").list and dog.prop("tags").type == "string"
    assert dog.prop("owner") == driftsync.Property("owner", "link", optional=True, target="Person")
    assert dog.prop("friends") == driftsync.Property("friends", "link", list=True, target="Dog")
    assert s["Person"].primary_key == "name"
    assert "Dog" in s and "Cat" not in s and len(s) == 2
    with pytest.raises(driftsync.UnknownClassError):
        s["Cat"]
    with pytest.raises(driftsync.UnknownPropertyError):
        dog.prop("nope")


def test_schema_from_json_string_and_dict(schema: driftsync.Schema) -> None:
    again = driftsync.Schema.from_json(schema.to_json())
    assert again == schema
    assert driftsync.Schema.of(schema.to_dict()) == schema
    assert driftsync.Schema.of(schema) is schema
    assert [c.name for c in schema] == ["Item", "Person"]


class Person:
    __primary_key__ = "name"
    name: str
    age: Optional[int]


class Dog:
    id: int
    name: str
    weight: float
    good: bool
    photo: Optional[bytes]
    born: Optional[dt.datetime]
    oid: Optional[driftsync.ObjectId]
    uid: Optional[uuid.UUID]
    tags: List[str]
    owner: Optional[Person]
    friends: List["Dog"]


def test_schema_from_classes(tmp_path: Path) -> None:
    s = driftsync.Schema.of([Dog, Person])
    d = s["Dog"]
    assert d.primary_key == "id"
    assert d.prop("owner") == driftsync.Property("owner", "link", optional=True, target="Person")
    assert d.prop("friends") == driftsync.Property("friends", "link", list=True, target="Dog")
    assert d.prop("born").type == "timestamp" and d.prop("oid").type == "objectid" or d.prop("oid").type == "objectId"
    with driftsync.open(tmp_path / "c.realm", schema=[Dog, Person]) as r:
        with r.write():
            r.create(Person, "ann", age=30)
            r.create(Dog, id=1, name="Rex", owner="ann", tags=["x"])
        assert r.get(Dog, 1).owner.age == 30
        assert r.count(Dog) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"Dog": {"id": "int", "owner": "Cat?"}},  # link to a missing class
        {"Dog": {"__primary_key__": "weight", "weight": "double"}},  # double primary key
        {"Dog": {"id": "nonsense"}},
        {"classes": [{"name": "Dog", "primaryKey": "id", "properties": []}]},
    ],
)
def test_invalid_schemas(bad: dict) -> None:
    with pytest.raises(driftsync.InvalidSchemaError) as ei:
        driftsync.Schema.of(bad)
    assert ei.value.code == Status.INVALID_SCHEMA


def test_invalid_schema_json_text() -> None:
    with pytest.raises(driftsync.InvalidSchemaError):
        driftsync.Schema.from_json("{not json")


# -- config and open ---------------------------------------------------------------------------
def test_config_object(tmp_path: Path, local_schema: dict) -> None:
    cfg = driftsync.Config(tmp_path / "x.realm", local_schema, write_timeout=2.5)
    assert not cfg.is_synced
    with pytest.raises(driftsync.InvalidArgumentError):
        cfg.client_reset_mode
    synced = driftsync.Config(
        tmp_path / "y.realm",
        local_schema,
        sync=driftsync.SyncConfig("ws://127.0.0.1:1", "t", client_reset_mode=driftsync.ClientResetMode.MANUAL),
    )
    assert synced.is_synced
    assert synced.client_reset_mode == driftsync.ClientResetMode.MANUAL
    with driftsync.Realm.open(cfg) as r:
        assert r.path == str(tmp_path / "x.realm")
        assert r.config is cfg
        assert r.sync_session is None
        assert not r.is_frozen and not r.is_closed


def test_open_errors(tmp_path: Path, local_schema: dict) -> None:
    with pytest.raises(driftsync.FileIOError):
        driftsync.open(tmp_path / "missing-dir" / "a.realm", schema=local_schema)
    junk = tmp_path / "junk.realm"
    junk.write_bytes(b"this is not a realm at all" * 100)
    with pytest.raises((driftsync.FileNotRealmError, driftsync.FileCorruptError)):
        driftsync.open(junk, schema=local_schema)
    p = tmp_path / "b.realm"
    driftsync.open(p, schema={"A": {"id": "int", "x": "int"}}).close()
    with pytest.raises(driftsync.BreakingSchemaChangeError):
        driftsync.open(p, schema={"A": {"id": "int", "x": "string"}})
    # additive change: fine
    driftsync.open(p, schema={"A": {"id": "int", "x": "int", "y": "string?"}}).close()


def test_client_reset_mode_enum() -> None:
    M = driftsync.ClientResetMode
    assert [m.value for m in M] == [0, 1, 2, 3]
    assert driftsync.SyncConfig("ws://x", "t").client_reset_mode == M.RECOVER_OR_DISCARD_UNSYNCED_CHANGES


# -- transactions -----------------------------------------------------------------------------
def test_write_commits_and_rolls_back(realm: driftsync.Realm) -> None:
    with realm.write() as r:
        assert r is realm and realm.in_write_transaction
        realm.create("Dog", 1, name="Rex")
    assert not realm.in_write_transaction
    with pytest.raises(RuntimeError):
        with realm.write():
            realm.create("Dog", 2, name="Gone")
            raise RuntimeError("boom")
    assert not realm.in_write_transaction
    assert realm.exists("Dog", 1) and not realm.exists("Dog", 2)


def test_explicit_transactions_and_errors(realm: driftsync.Realm) -> None:
    with pytest.raises(driftsync.NotInWriteTransactionError):
        realm.create("Dog", 1)
    with pytest.raises(driftsync.NotInWriteTransactionError):
        realm.commit()
    realm.begin_write()
    with pytest.raises(driftsync.AlreadyInWriteTransactionError):
        realm.begin_write()
    realm.create("Dog", 1)
    realm.cancel_write()
    assert realm.count("Dog") == 0
    realm.begin_write()
    realm.create("Dog", 1)
    realm.commit()
    assert realm.count("Dog") == 1


def test_busy(tmp_path: Path, local_schema: dict) -> None:
    p = tmp_path / "busy.realm"
    a = driftsync.open(p, schema=local_schema, write_timeout=0.1)
    b = driftsync.open(p, schema=local_schema, write_timeout=0.1)
    a.begin_write()
    err: List[BaseException] = []

    def other() -> None:
        try:
            b.begin_write()
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    a.cancel_write()
    assert len(err) == 1 and isinstance(err[0], driftsync.BusyError)
    a.close()
    b.close()


# -- objects and values ------------------------------------------------------------------------
def test_create_get_and_every_value_type(realm: driftsync.Realm) -> None:
    born = dt.datetime(2020, 5, 17, 10, 30, 1, 123456, tzinfo=dt.timezone.utc)
    oid = driftsync.ObjectId()
    uid = uuid.uuid4()
    with realm.write():
        realm.create("Person", {"name": "ann", "age": 30})
        rex = realm.create(
            "Dog", 1, name="Rex", age=None, weight=12.5, good=True, photo=b"\x00\x01\xff", born=born, oid=oid, uid=uid, tags=["a", "b"], owner="ann"
        )
    assert isinstance(rex, driftsync.Object)
    assert rex.class_name == "Dog" and rex.primary_key == 1 and rex.realm is realm
    assert rex.name == "Rex" and rex["name"] == "Rex"
    assert rex.age is None
    assert rex.weight == 12.5 and rex.good is True
    assert rex.photo == b"\x00\x01\xff"
    assert rex.born == born
    assert rex.oid == oid and rex.uid == uid
    assert list(rex.tags) == ["a", "b"]
    assert rex.owner == realm.get("Person", "ann") and rex.owner.age == 30
    d = rex.to_dict()
    assert d["name"] == "Rex" and d["owner"] == "ann" and d["tags"] == ["a", "b"] and d["born"] == born
    assert set(rex.keys()) == set(realm.schema["Dog"].properties[i].name for i in range(len(realm.schema["Dog"].properties)))
    assert "name" in rex and "nope" not in rex and len(rex) == 12
    with pytest.raises(AttributeError):
        rex.nope
    with pytest.raises(KeyError):
        rex["nope"]


def test_set_values_and_links(realm: driftsync.Realm) -> None:
    with realm.write():
        a = realm.create("Person", "ann")
        rex = realm.create("Dog", 1, name="Rex")
        rex.name = "Max"
        rex["age"] = 3
        rex.owner = a
        rex.tags = ["x", "y"]
    assert (rex.name, rex.age, rex.owner.name, list(rex.tags)) == ("Max", 3, "ann", ["x", "y"])
    with realm.write():
        rex.owner = None
        rex.age = None
    assert rex.owner is None and rex.age is None
    with pytest.raises(driftsync.NotInWriteTransactionError):
        rex.name = "x"


def test_upsert_erase_exists_count_get(realm: driftsync.Realm) -> None:
    with realm.write():
        realm.upsert("Dog", 1, name="A")
        realm.upsert("Dog", 1, age=4)
        realm.create("Dog", 2, name="B")
    assert realm.get("Dog", 1).to_dict()["name"] == "A" and realm.get("Dog", 1).age == 4
    assert realm.count("Dog") == 2
    assert realm.get("Dog", 99) is None
    with pytest.raises(driftsync.ObjectNotFoundError):
        realm.object("Dog", 99)
    with realm.write():
        realm.erase("Dog", 2)
        realm.get("Dog", 1).erase()
        with pytest.raises(driftsync.ObjectNotFoundError):
            realm.erase("Dog", 2)
    assert realm.count("Dog") == 0 and not realm.exists("Dog", 1)


def test_value_errors(realm: driftsync.Realm) -> None:
    with realm.write():
        with pytest.raises(driftsync.DuplicatePrimaryKeyError):
            realm.create("Dog", 1)
            realm.create("Dog", 1)
        with pytest.raises(driftsync.TypeMismatchError):
            realm.create("Dog", 2, name=5)
        with pytest.raises(driftsync.TypeMismatchError):
            realm.create("Dog", "not-an-int")
        with pytest.raises(driftsync.UnknownClassError):
            realm.create("Cat", 1)
        with pytest.raises(driftsync.UnknownPropertyError):
            realm.create("Dog", 3, whiskers=1)
        with pytest.raises(driftsync.TypeMismatchError):
            realm.create("Dog", 4, name=None)  # not optional
    with pytest.raises(driftsync.UnknownClassError):
        realm.count("Cat")
    with pytest.raises(driftsync.TypeMismatchError):
        driftsync.ObjectId(b"short") if False else realm.exists("Dog", 1.5)


def test_object_ids_and_uuid_primary_keys(tmp_path: Path) -> None:
    s = {"O": {"_id": "objectId", "v": "int"}, "U": {"id": "uuid"}, "S": {"id": "string"}}
    with driftsync.open(tmp_path / "k.realm", schema=s) as r:
        oid, uid = driftsync.ObjectId(), uuid.uuid4()
        with r.write():
            r.create("O", oid, v=1)
            r.create("U", uid)
            r.create("S", "ключ")
        assert r.get("O", oid).v == 1 and r.exists("U", uid) and r.exists("S", "ключ")
        assert [o.primary_key for o in r.objects("S")] == ["ключ"]
    assert str(driftsync.ObjectId("00" * 12)) == "00" * 12
    with pytest.raises(ValueError):
        driftsync.ObjectId(b"short")


# -- lists -------------------------------------------------------------------------------------
def test_lists_behave_like_sequences(realm: driftsync.Realm) -> None:
    with realm.write():
        d = realm.create("Dog", 1, tags=["a", "b", "c"])
        t = d.tags
        assert len(t) == 3 and t[0] == "a" and t[-1] == "c" and t[0:2] == ["a", "b"]
        t.append("d")
        t.insert(0, "z")
        t[1] = "A"
        del t[2]
        t.extend(["e", "f"])
        assert t.pop() == "f"
        t.remove("e")
        t.move(0, 3)
        assert list(t) == ["A", "c", "d", "z"]
        assert "c" in t and t.index("d") == 2 and t.count("A") == 1
        t.reverse()
        assert t == ["z", "d", "c", "A"]
        del t[0:2]
        assert t == ["c", "A"]
    with pytest.raises(IndexError):
        d.tags[10]
    with realm.write():
        with pytest.raises(driftsync.IndexOutOfRangeError):
            d.tags[10] = "x"
        d.tags.clear()
    assert len(d.tags) == 0 and list(d.tags) == []
    with pytest.raises(driftsync.NotInWriteTransactionError):
        d.tags.append("x")


def test_list_of_links(realm: driftsync.Realm) -> None:
    with realm.write():
        a = realm.create("Dog", 1)
        b = realm.create("Dog", 2)
        c = realm.create("Dog", 3, friends=[1, 2])
        c.friends.append(a)
    assert [f.primary_key for f in c.friends] == [1, 2, 1]
    assert c.friends[1] == b
    with realm.write():
        b.erase()
    assert [f.primary_key for f in c.friends] == [1, 1]


# -- cursors, frozen -----------------------------------------------------------------------------
def test_objects_cursor_in_key_order(realm: driftsync.Realm) -> None:
    with realm.write():
        for i in reversed(range(300)):
            realm.create("Dog", i, name=f"d{i}")
    keys = [o.primary_key for o in realm.objects("Dog", batch_size=7)]
    assert keys == list(range(300))
    assert realm.dump("Dog")[5]["name"] == "d5"
    assert list(realm.objects("Person")) == []
    with pytest.raises(driftsync.UnknownClassError):
        realm.objects("Cat")


def test_frozen_snapshot(realm: driftsync.Realm) -> None:
    with realm.write():
        realm.create("Dog", 1, name="old")
    with realm.freeze() as frozen:
        assert frozen.is_frozen
        with realm.write():
            realm.get("Dog", 1).name = "new"
            realm.create("Dog", 2)
        assert frozen.get("Dog", 1).name == "old" and frozen.count("Dog") == 1
        assert realm.get("Dog", 1).name == "new"
        assert [o.primary_key for o in frozen.objects("Dog")] == [1]
        with pytest.raises(driftsync.WriteOnFrozenError):
            with frozen.write():
                frozen.create("Dog", 3)
        with pytest.raises(driftsync.InvalidArgumentError):
            frozen.freeze()
    assert frozen.is_closed


# -- close / lifecycle ---------------------------------------------------------------------------
def test_close_and_context_manager(tmp_path: Path, local_schema: dict) -> None:
    with driftsync.open(tmp_path / "a.realm", schema=local_schema) as r:
        with r.write():
            o = r.create("Dog", 1)
    assert r.is_closed
    r.close()  # twice is fine
    with pytest.raises(driftsync.ClosedError):
        r.count("Dog")
    with pytest.raises(driftsync.ClosedError):
        o.name
    assert not o.is_valid
    assert "closed" in repr(r)


def test_close_rolls_back_open_transaction(tmp_path: Path, local_schema: dict) -> None:
    p = tmp_path / "a.realm"
    r = driftsync.open(p, schema=local_schema)
    r.begin_write()
    r.create("Dog", 1)
    r.close()
    with driftsync.open(p, schema=local_schema) as r2:
        assert r2.count("Dog") == 0


def test_gc_releases_realm(tmp_path: Path, local_schema: dict) -> None:
    p = tmp_path / "a.realm"
    r = driftsync.open(p, schema=local_schema)
    h = r._h
    del r
    gc.collect()
    assert h.ptr is None


# -- observers -----------------------------------------------------------------------------------
def test_observe_realm_class_object(realm: driftsync.Realm) -> None:
    seen_all: List[driftsync.Changes] = []
    seen_person: List[driftsync.Changes] = []
    seen_obj: List[driftsync.Changes] = []
    with realm.write():
        realm.create("Dog", 1, name="a")
    t1 = realm.observe(seen_all.append)
    t2 = realm.observe_class("Person", seen_person.append)
    t3 = realm.get("Dog", 1).observe(seen_obj.append)
    with realm.write():
        realm.get("Dog", 1).name = "b"
        realm.create("Dog", 2)
    with realm.write():
        realm.create("Person", "p")
    assert len(seen_all) == 2
    c = seen_all[0]["Dog"]
    assert c.inserted == [2] and c.modified == {1: ["name"]} and c.erased == []
    assert "Person" in seen_all[1] and "Dog" not in seen_all[1]
    assert len(seen_person) == 1 and seen_person[0]["Person"].inserted == ["p"]
    assert len(seen_obj) == 1 and seen_obj[0]["Dog"].modified == {1: ["name"]}
    with realm.write():
        realm.erase("Dog", 1)
    assert seen_obj[-1]["Dog"].erased == [1]
    for t in (t1, t2, t3):
        assert t.active
        t.close()
        assert not t.active
    with realm.write():
        realm.create("Dog", 5)
    assert len(seen_all) == 3


def test_token_as_context_manager_and_gc(realm: driftsync.Realm) -> None:
    from driftsync._handles import live_registrations

    before = live_registrations()
    seen: List[object] = []
    with realm.observe(seen.append):
        with realm.write():
            realm.create("Dog", 1)
    with realm.write():
        realm.create("Dog", 2)
    assert len(seen) == 1
    tok = realm.observe(seen.append)
    del tok
    gc.collect()
    with realm.write():
        realm.create("Dog", 3)
    assert len(seen) == 1
    assert live_registrations() == before


def test_observer_may_call_back_into_the_library(realm: driftsync.Realm) -> None:
    counts: List[int] = []

    def cb(changes: driftsync.Changes) -> None:
        counts.append(realm.count("Dog"))
        if realm.count("Dog") < 3:
            with realm.write():
                realm.create("Dog", realm.count("Dog") + 1)

    with realm.observe(cb):
        with realm.write():
            realm.create("Dog", 1)
    assert counts == [1, 2, 3]


def test_exception_in_observer_does_not_crash(realm: driftsync.Realm) -> None:
    reported = []
    driftsync.set_callback_error_handler(lambda where, e: reported.append((where, e)))
    try:
        def bad(changes: driftsync.Changes) -> None:
            raise ValueError("observer failure")

        ok: List[object] = []
        t = realm.observe(bad)
        t2 = realm.observe(ok.append)
        with realm.write():
            realm.create("Dog", 1)
        assert realm.count("Dog") == 1 and len(ok) == 1
        assert len(t.exceptions) == 1 and isinstance(t.exceptions[0], ValueError)
        assert reported and reported[0][0] == "observer"
        t.close()
        t2.close()
    finally:
        driftsync.set_callback_error_handler(None)


def test_observer_must_be_callable(realm: driftsync.Realm) -> None:
    with pytest.raises(TypeError):
        realm.observe(42)  # type: ignore[arg-type]


# -- threads -------------------------------------------------------------------------------------
def test_many_threads(tmp_path: Path, local_schema: dict) -> None:
    r = driftsync.open(tmp_path / "t.realm", schema=local_schema)
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                with r.write():
                    r.create("Dog", n * 1000 + i, name=f"{n}-{i}")
                assert r.get("Dog", n * 1000 + i).name == f"{n}-{i}"
                r.count("Dog")
        except BaseException as e:
            errors.append(e)

    seen: List[int] = []
    tok = r.observe(lambda c: seen.append(1))
    ts = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert r.count("Dog") == 400 and len(seen) == 400
    tok.close()
    r.close()


def test_close_while_other_threads_use_the_realm(tmp_path: Path, local_schema: dict) -> None:
    r = driftsync.open(tmp_path / "t.realm", schema=local_schema)
    with r.write():
        r.create("Dog", 1, name="x")
    stop = threading.Event()
    bad: List[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                r.get("Dog", 1)
            except driftsync.ClosedError:
                return
            except BaseException as e:
                bad.append(e)
                return

    ts = [threading.Thread(target=reader) for _ in range(4)]
    for t in ts:
        t.start()
    r.close()
    stop.set()
    for t in ts:
        t.join()
    assert not bad


def test_misc_public_calls(tmp_path: Path, local_schema: dict) -> None:
    cs = driftsync.ClassSchema("X", "id", (driftsync.Property("id", "int"), driftsync.Property("t", "timestamp", optional=True)))
    s = driftsync.Schema.of([cs, {"name": "Y", "primaryKey": "k", "properties": [{"name": "k", "type": "string"}]}])
    assert [c.name for c in s] == ["X", "Y"] and s.get("Z") is None
    with driftsync.Config(tmp_path / "m.realm", s).open() as r:
        naive = dt.datetime(2001, 2, 3, 4, 5, 6)
        with r.write():
            x = r.create("X", {"id": 1, "t": naive})
            r.create("Y", "a")
        assert x.t == naive.replace(tzinfo=dt.timezone.utc)
        with r.write():
            r.delete("Y", "a")
        assert r.count("Y") == 0
        tok = r.observe(lambda c: None)
        tok.cancel()
        assert not tok.active
        with r.write():
            x.t = 1_000_000_000  # plain nanoseconds work too
        assert x.t == dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.timezone.utc)
        assert "X[1]" in repr(x) and "Realm" in repr(r)
    a, b = driftsync.ObjectId("00" * 12), driftsync.ObjectId("01" + "00" * 11)
    assert a < b and a != b and hash(a) == hash(driftsync.ObjectId(bytes(12))) and bytes(a) == bytes(12)
    p = driftsync.SyncProgress(1, 2, 3, 3)
    assert not p.upload_complete and p.download_complete
