"""Realms, write transactions, objects, lists, cursors, frozen snapshots and observers."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, MutableMapping, MutableSequence, MutableSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional, Tuple, Union, overload
from typing import List as _List

from ._handles import Owned, Registration, user_data_free
from ._native import ffi, lib
from .errors import (
    ClosedError,
    Error,
    ObjectNotFoundError,
    TypeMismatchError,
    UnknownPropertyError,
    call,
    string_view,
)
from . import embedded
from .schema import ClassSchema, Schema
from . import mixed as _mixed
from .values import LINK, MIXED, Arena, PrimaryKey, new_pk, new_value, read_pk, read_value, text_args

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .reset import ResetDecision, ResetReport
    from .sync import SyncSession

__all__ = ["Realm", "Object", "List", "Set", "Dictionary", "Token", "Changes", "ClassChanges", "CollectionChanges", "WriteTransaction"]

ClassRef = Union[str, type]

_open_realms: "weakref.WeakSet[Realm]" = weakref.WeakSet()


def _class_name(cls: ClassRef) -> str:
    if isinstance(cls, str):
        return cls
    return getattr(cls, "__schema_name__", cls.__name__)


def _free_realm(ptr: Any) -> None:
    lib.driftsync_realm_free(ptr)


@dataclass
class CollectionChanges:
    """What changed inside one list, set or dictionary property of a modified object.

    ``kind`` is ``"list"``, ``"set"`` or ``"dictionary"``. Lists: ``deleted`` are positions in the
    list before the commit, ``inserted`` and ``modified`` positions after it (a move is a deletion
    and an insertion). Sets: the elements that left (``deleted``) and joined (``inserted``), in
    the set's order; ``modified`` is empty. Dictionaries: the keys erased, inserted and set to
    another value, in key order."""

    kind: str
    deleted: _List[Any] = field(default_factory=list)
    inserted: _List[Any] = field(default_factory=list)
    modified: _List[Any] = field(default_factory=list)


@dataclass
class ClassChanges:
    """What one commit changed in one class (primary keys in key order)."""

    inserted: _List[PrimaryKey] = field(default_factory=list)
    erased: _List[PrimaryKey] = field(default_factory=list)
    #: primary key → names of the properties that changed
    modified: Dict[PrimaryKey, _List[str]] = field(default_factory=dict)
    #: primary key → property name → what changed inside that list, set or dictionary
    collections: Dict[PrimaryKey, Dict[str, CollectionChanges]] = field(default_factory=dict)


@dataclass
class Changes:
    """What one commit changed, by class, as an observer sees it (plain data: keep it freely)."""

    classes: Dict[str, ClassChanges] = field(default_factory=dict)

    def __getitem__(self, class_name: str) -> ClassChanges:
        return self.classes[class_name]

    def __contains__(self, class_name: object) -> bool:
        return class_name in self.classes

    def __bool__(self) -> bool:
        return bool(self.classes)


def read_changes(changes: Any) -> Changes:
    out = Changes()
    n = lib.driftsync_changes_class_count(changes)
    s = ffi.new("driftsync_string_t *")
    counts = ffi.new("size_t[3]")
    pk = ffi.new("driftsync_pk_t *")
    pc = ffi.new("size_t *")
    for ci in range(n):
        call(lib.driftsync_changes_class_name, changes, ci, s)
        name = string_view(s)
        call(lib.driftsync_changes_counts, changes, ci, counts + 0, counts + 1, counts + 2)
        cc = ClassChanges()
        for i in range(counts[0]):
            call(lib.driftsync_changes_inserted, changes, ci, i, pk)
            cc.inserted.append(read_pk(pk))
        for i in range(counts[1]):
            call(lib.driftsync_changes_erased, changes, ci, i, pk)
            cc.erased.append(read_pk(pk))
        for i in range(counts[2]):
            call(lib.driftsync_changes_modified, changes, ci, i, pk, pc)
            key = read_pk(pk)
            props = []
            for j in range(pc[0]):
                call(lib.driftsync_changes_modified_property, changes, ci, i, j, s)
                props.append(string_view(s))
            cc.modified[key] = props
        _read_collection_changes(changes, ci, cc)
        out.classes[name] = cc
    return out


_COLLECTION_KINDS = {1: "list", 2: "set", 3: "dictionary"}


def _read_collection_changes(changes: Any, ci: int, cc: ClassChanges) -> None:
    count = ffi.new("size_t *")
    pk = ffi.new("driftsync_pk_t *")
    prop = ffi.new("driftsync_string_t *")
    kind = ffi.new("driftsync_collection_t *")
    length = ffi.new("size_t *")
    index = ffi.new("size_t *")
    value = ffi.new("driftsync_value_t *")
    key = ffi.new("driftsync_string_t *")
    call(lib.driftsync_changes_collection_count, changes, ci, count)
    for i in range(count[0]):
        call(lib.driftsync_changes_collection, changes, ci, i, pk, prop, kind)
        changed = CollectionChanges(_COLLECTION_KINDS[int(kind[0])])
        for part, items in enumerate((changed.deleted, changed.inserted, changed.modified)):
            call(lib.driftsync_changes_collection_len, changes, ci, i, part, length)
            for n in range(length[0]):
                if changed.kind == "list":
                    call(lib.driftsync_changes_collection_index, changes, ci, i, part, n, index)
                    items.append(int(index[0]))
                elif changed.kind == "set":
                    call(lib.driftsync_changes_collection_element, changes, ci, i, part, n, value)
                    items.append(read_value(value))
                else:
                    call(lib.driftsync_changes_collection_key, changes, ci, i, part, n, key)
                    items.append(string_view(key))
        cc.collections.setdefault(read_pk(pk), {})[string_view(prop)] = changed


@ffi.callback("driftsync_observer_fn")
def _observer_trampoline(user_data: Any, changes: Any) -> None:
    try:
        reg = ffi.from_handle(user_data)
    except BaseException:  # pragma: no cover
        return
    try:
        reg.fn(read_changes(changes))
    except BaseException as e:  # never unwind into C
        reg.record(e)


class Token:
    """Keeps an observer registered; `close()` (or leaving `with token:`, or garbage
    collection of the token) unregisters it."""

    def __init__(self, ptr: Any, realm: "Realm", reg: Registration) -> None:
        self._h = Owned(ptr, lib.driftsync_token_free, "token")
        self._realm = realm  # the observer lives as long as its realm handle: keep it
        self._reg = reg
        weakref.finalize(self, self._h.release)

    @property
    def exceptions(self) -> _List[BaseException]:
        """Exceptions the callback raised (they were reported, never propagated into C)."""
        return list(self._reg.exceptions)

    @property
    def active(self) -> bool:
        return self._h.alive

    def close(self) -> None:
        """Unregisters the observer: after this returns it is not called again."""
        self._h.release()

    cancel = close

    def __enter__(self) -> "Token":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class WriteTransaction:
    """`with realm.write():` — commits when the block ends normally, rolls back on an exception."""

    def __init__(self, realm: "Realm") -> None:
        self._realm = realm

    def __enter__(self) -> "Realm":
        self._realm.begin_write()
        return self._realm

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._realm.commit()
        elif self._realm.in_write_transaction:
            self._realm.cancel_write()


class Realm:
    """An open realm (or a frozen snapshot of one). Use it as a context manager, or call
    `close()`; an unreferenced realm is closed by the garbage collector.

    Safe to use from several threads; a write transaction belongs to the thread that began it.
    """

    def __init__(self, ptr: Any, schema: Schema, path: str, config: Optional["Config"] = None, owned: bool = True) -> None:
        self._h = Owned(ptr, _free_realm if owned else None, "realm")
        self._schema = schema
        self._path = path
        self._config = config
        self._session: Optional["SyncSession"] = None
        self._keep: _List[Any] = []  # registrations whose lifetime is this realm's (sync hooks)
        if owned:
            weakref.finalize(self, self._h.release)
            _open_realms.add(self)

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def open(cls, config: "Config") -> "Realm":
        """Opens (or creates) the realm a `Config` describes."""
        return config.open()

    def close(self) -> None:
        """Closes the realm: rolls back this thread's write transaction, unregisters its observers,
        stops its sync session; later calls raise `ClosedError`. Closing twice is fine."""
        if self._h.ptr is None:
            return
        try:
            with self._h as p:
                call(lib.driftsync_realm_close, p)
        except ClosedError:
            pass
        self._h.release()

    def __enter__(self) -> "Realm":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else ("frozen" if self.is_frozen else "open")
        return f"<driftsync.Realm {self._path!r} {state}>"

    @property
    def path(self) -> str:
        return self._path

    @property
    def schema(self) -> Schema:
        return self._schema

    @property
    def config(self) -> Optional["Config"]:
        return self._config

    @property
    def is_closed(self) -> bool:
        if self._h.ptr is None:
            return True
        try:
            with self._h as p:
                return bool(lib.driftsync_realm_is_closed(p))
        except ClosedError:
            return True

    @property
    def is_frozen(self) -> bool:
        try:
            with self._h as p:
                return bool(lib.driftsync_realm_is_frozen(p))
        except ClosedError:
            return False

    @property
    def in_write_transaction(self) -> bool:
        """Whether the calling thread has a write transaction open on this realm."""
        try:
            with self._h as p:
                return bool(lib.driftsync_realm_is_in_write_transaction(p))
        except ClosedError:
            return False

    # -- transactions ------------------------------------------------------------------------
    def write(self) -> WriteTransaction:
        """A write transaction for a `with` block: commits on success, rolls back on an exception."""
        return WriteTransaction(self)

    def begin_write(self) -> None:
        """Begins a write transaction owned by the calling thread (waits up to the write timeout)."""
        with self._h as p:
            call(lib.driftsync_realm_begin_write, p)

    def commit(self) -> None:
        """Commits this thread's write transaction; observers run before this returns."""
        with self._h as p:
            call(lib.driftsync_realm_commit, p)

    def cancel_write(self) -> None:
        """Rolls back this thread's write transaction."""
        with self._h as p:
            call(lib.driftsync_realm_cancel_write, p)

    def freeze(self) -> "Realm":
        """A frozen, read-only snapshot of the latest committed state (a new realm handle)."""
        out = ffi.new("driftsync_realm_t **")
        with self._h as p:
            call(lib.driftsync_realm_freeze, p, out)
        return Realm(out[0], self._schema, self._path, self._config)

    # -- objects -------------------------------------------------------------------------------
    def _cls(self, cls: ClassRef) -> Tuple[str, Optional[ClassSchema]]:
        name = _class_name(cls)
        return name, self._schema.get(name)

    def _fields(self, cs: Optional[ClassSchema], values: Dict[str, Any], arena: Arena) -> Tuple[Any, int]:
        if not values:
            return ffi.NULL, 0
        arr = ffi.new("driftsync_field_t[]", len(values))
        arena.keep.append(arr)
        for i, (k, v) in enumerate(values.items()):
            arr[i].name.data, arr[i].name.len = arena.text(k)
            prop = cs.get(k) if cs is not None else None
            if prop is not None and prop.list:
                raise TypeMismatchError(f"{cs.name}.{k} is a list: fill it with obj.{k}.extend(...) after creating the object")  # type: ignore[union-attr]
            kind, tkind = self._prop_kinds(prop)
            _fill(arr[i].value, v, arena, kind, tkind)
        return arr, len(values)

    def _prop_kinds(self, prop: Any) -> Tuple[Optional[int], Optional[int]]:
        if prop is None:
            return None, None
        kind = prop.kind
        tkind = None
        if kind == LINK and prop.target is not None:
            t = self._schema.get(prop.target)
            tkind = t.pk_kind if t is not None else None
        return kind, tkind

    def _split(self, cs: Optional[ClassSchema], name: str, pk: Any, fields: Dict[str, Any]) -> Tuple[Any, Dict[str, Any]]:
        if isinstance(pk, Mapping):
            fields = {**pk, **fields}
            pk = _MISSING
        if pk is _MISSING:
            key = cs.primary_key if cs is not None else "id"
            if key not in fields:
                raise TypeMismatchError(f"{name}: give the primary key {key!r}")
            pk = fields[key]
        if cs is not None:
            fields = {k: v for k, v in fields.items() if k != cs.primary_key}
        return pk, fields

    def create(self, cls: ClassRef, primary_key: Any = None, /, **fields: Any) -> "Object":
        """Creates an object: ``realm.create("Dog", 1, name="Rex")``, ``realm.create("Dog", {"id": 1,
        "name": "Rex"})`` or ``realm.create(Dog, id=1, name="Rex")``. Raises
        `DuplicatePrimaryKeyError` when it exists. Needs a write transaction."""
        return self._create(lib.driftsync_realm_create, cls, primary_key, fields)

    def upsert(self, cls: ClassRef, primary_key: Any = None, /, **fields: Any) -> "Object":
        """Creates an object, or sets the given fields when it exists (same arguments as `create`)."""
        return self._create(lib.driftsync_realm_upsert, cls, primary_key, fields)

    def _create(self, fn: Any, cls: ClassRef, primary_key: Any, fields: Dict[str, Any]) -> "Object":
        name, cs = self._cls(cls)
        pk, values = self._split(cs, name, _MISSING if primary_key is None else primary_key, fields)
        lists = {}
        if cs is not None:
            lists = {k: v for k, v in values.items() if _fills_later(cs.get(k), v)}
            values = {k: v for k, v in values.items() if k not in lists}
        arena = Arena()
        n, nl = arena.text(name)
        key = new_pk(pk, arena, cs.pk_kind if cs else None)
        arr, count = self._fields(cs, values, arena)
        with self._h as p:
            call(fn, p, n, nl, key, arr, count)
        obj = Object(self, name, pk)
        for k, v in lists.items():
            self._set_value(name, pk, k, v)
        return obj

    def erase(self, obj_or_cls: Union["Object", ClassRef], primary_key: Any = None) -> None:
        """Erases an object (`ObjectNotFoundError` if it does not exist): ``realm.erase(obj)`` or
        ``realm.erase("Dog", 1)``. Needs a write transaction."""
        if isinstance(obj_or_cls, Object):
            name, pk = obj_or_cls.class_name, obj_or_cls.primary_key
        else:
            name, pk = _class_name(obj_or_cls), primary_key
        cs = self._schema.get(name)
        arena = Arena()
        n, nl = arena.text(name)
        key = new_pk(pk, arena, cs.pk_kind if cs else None)
        with self._h as p:
            call(lib.driftsync_realm_erase, p, n, nl, key)

    delete = erase

    def exists(self, cls: ClassRef, primary_key: Any) -> bool:
        """Whether an object exists."""
        name, cs = self._cls(cls)
        arena = Arena()
        n, nl = arena.text(name)
        key = new_pk(primary_key, arena, cs.pk_kind if cs else None)
        out = ffi.new("bool *")
        with self._h as p:
            call(lib.driftsync_realm_exists, p, n, nl, key, out)
        return bool(out[0])

    def get(self, cls: ClassRef, primary_key: Any) -> Optional["Object"]:
        """The object with this primary key (a live proxy), or None."""
        if not self.exists(cls, primary_key):
            return None
        return Object(self, _class_name(cls), primary_key)

    def object(self, cls: ClassRef, primary_key: Any) -> "Object":
        """Like `get`, but raises `ObjectNotFoundError` when there is no such object."""
        o = self.get(cls, primary_key)
        if o is None:
            raise ObjectNotFoundError(f"no {_class_name(cls)} with primary key {primary_key!r}")
        return o

    def count(self, cls: ClassRef) -> int:
        """The number of objects of a class."""
        arena = Arena()
        n, nl = arena.text(_class_name(cls))
        out = ffi.new("uint64_t *")
        with self._h as p:
            call(lib.driftsync_realm_count, p, n, nl, out)
        return int(out[0])

    def objects(self, cls: ClassRef, batch_size: int = 0) -> Iterator["Object"]:
        """Iterates the objects of a class in primary-key order (a cursor reading in batches)."""
        name = _class_name(cls)
        arena = Arena()
        n, nl = arena.text(name)
        out = ffi.new("driftsync_cursor_t **")
        with self._h as p:
            call(lib.driftsync_realm_cursor_new, p, n, nl, batch_size, out)
        cursor = Owned(out[0], lib.driftsync_cursor_free, "cursor")
        return _CursorIter(self, cursor)

    def dump(self, cls: ClassRef) -> _List[Dict[str, Any]]:
        """Every object of a class as a dict (links as primary keys), in primary-key order."""
        return [o.to_dict() for o in self.objects(cls)]

    # -- values (used by Object and List) --------------------------------------------------------
    def _get_value(self, name: str, pk: Any, prop: str) -> Any:
        cs = self._schema.get(name)
        arena = Arena()
        n, nl = arena.text(name)
        pn, pl = arena.text(prop)
        key = new_pk(pk, arena, cs.pk_kind if cs else None)
        out = ffi.new("driftsync_owned_value_t **")
        with self._h as p:
            call(lib.driftsync_realm_get_value, p, n, nl, key, pn, pl, out)
        return self._owned_value(out[0], cs, prop)

    def _owned_value(self, owned: Any, cs: Optional[ClassSchema], prop: str) -> Any:
        try:
            view = ffi.new("driftsync_value_t *")
            call(lib.driftsync_owned_value_get, owned, view)
            return read_value(view, self._linker(cs, prop), lambda c, k: Object(self, c, k))
        finally:
            lib.driftsync_owned_value_free(owned)

    def _linker(self, cs: Optional[ClassSchema], prop: str) -> Optional[Callable[[Any], Any]]:
        p = cs.get(prop) if cs is not None else None
        if p is None or p.target is None:
            return None
        target = p.target
        return lambda key: Object(self, target, key)

    def _set_value(self, name: str, pk: Any, prop: str, value: Any) -> None:
        cs = self._schema.get(name)
        p_ = cs.get(prop) if cs is not None else None
        if p_ is not None and p_.list:
            lst = Object(self, name, pk)[prop]
            lst.clear()
            lst.extend(value)
            return
        if p_ is not None and p_.dictionary:
            if not isinstance(value, Mapping):
                raise TypeMismatchError(f"{name}.{prop} is a dictionary: assign a mapping")
            entries = Object(self, name, pk)[prop]
            entries.clear()
            for k, v in value.items():
                entries[k] = v
            return
        if p_ is not None and p_.kind == MIXED and not p_.is_collection:
            _mixed.put(Object(self, name, pk), prop, [], value)
            return
        if p_ is not None and p_.set:
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise TypeMismatchError(f"{name}.{prop} is a set: assign an iterable of elements")
            elements = Object(self, name, pk)[prop]
            elements.clear()
            for v in value:
                elements.add(v)
            return
        arena = Arena()
        n, nl = arena.text(name)
        pn, pl = arena.text(prop)
        key = new_pk(pk, arena, cs.pk_kind if cs else None)
        kind, tkind = self._prop_kinds(p_)
        v = new_value(value, arena, kind, tkind)
        with self._h as p:
            call(lib.driftsync_realm_set_value, p, n, nl, key, pn, pl, v)

    def _read_object(self, name: str, pk: Any) -> Dict[str, Any]:
        cs = self._schema.get(name)
        arena = Arena()
        n, nl = arena.text(name)
        key = new_pk(pk, arena, cs.pk_kind if cs else None)
        out = ffi.new("driftsync_object_t **")
        with self._h as p:
            call(lib.driftsync_realm_get_object, p, n, nl, key, out)
        try:
            return object_to_dict(out[0])
        finally:
            lib.driftsync_object_free(out[0])

    # -- observers -------------------------------------------------------------------------------
    def observe(self, callback: Callable[[Changes], Any]) -> Token:
        """Calls ``callback(changes)`` after each commit that changed the realm's file.

        The callback runs on the thread that committed, before its commit returns. Keep the
        returned token: closing it (or letting it be collected) unregisters the observer. An
        exception in the callback is reported (see `set_callback_error_handler`) and kept on
        `Token.exceptions`; it never reaches the library."""
        return self._observe(callback, None, None)

    def observe_class(self, cls: ClassRef, callback: Callable[[Changes], Any]) -> Token:
        """Observes the changes to one class (as `observe`)."""
        return self._observe(callback, _class_name(cls), None)

    def observe_object(self, obj_or_cls: Union["Object", ClassRef], primary_key_or_callback: Any, callback: Optional[Callable[[Changes], Any]] = None) -> Token:
        """Observes one object: ``realm.observe_object(obj, cb)`` or ``realm.observe_object("Dog", 1, cb)``."""
        if isinstance(obj_or_cls, Object):
            name, pk, cb = obj_or_cls.class_name, obj_or_cls.primary_key, primary_key_or_callback
        else:
            name, pk, cb = _class_name(obj_or_cls), primary_key_or_callback, callback
        return self._observe(cb, name, (pk,))

    def _observe(self, callback: Callable[[Changes], Any], cls: Optional[str], pk: Optional[Tuple[Any]]) -> Token:
        if not callable(callback):
            raise TypeError("the observer must be callable")
        reg = Registration(callback, "observer")
        out = ffi.new("driftsync_token_t **")
        arena = Arena()
        with self._h as p:
            if cls is None:
                call(lib.driftsync_realm_observe, p, _observer_trampoline, reg.handle, user_data_free, out)
            else:
                n, nl = arena.text(cls)
                if pk is None:
                    call(lib.driftsync_realm_observe_class, p, n, nl, _observer_trampoline, reg.handle, user_data_free, out)
                else:
                    cs = self._schema.get(cls)
                    key = new_pk(pk[0], arena, cs.pk_kind if cs else None)
                    call(lib.driftsync_realm_observe_object, p, n, nl, key, _observer_trampoline, reg.handle, user_data_free, out)
        return Token(out[0], self, reg)

    # -- sync --------------------------------------------------------------------------------------
    @property
    def sync_session(self) -> Optional["SyncSession"]:
        """The sync session of a synced realm (None for a local one)."""
        if self._session is None:
            from .sync import session_of

            self._session = session_of(self)
        return self._session

    def last_reset_report(self) -> Optional["ResetReport"]:
        """The report of the last client reset of this realm's file (None if never reset). When
        this process ran a hook that raised, the exception is on the report."""
        from .sync import last_reset_report

        return last_reset_report(self)

    def preview_reset(self, decision: "ResetDecision") -> "ResetReport":
        """What a reset with `decision` (RECOVER or DISCARD) would do, without applying it: the
        server's state is downloaded and the transform runs in a transaction that is rolled back."""
        from .sync import preview_reset

        return preview_reset(self, decision)


_MISSING: Any = object()


def _fills_later(prop: Any, value: Any) -> bool:
    """Whether a field given to create is filled after the object exists: a collection, or a
    list or dict for a mixed (nested collections)."""
    if prop is None:
        return False
    return bool(prop.is_collection or (prop.kind == MIXED and _mixed.is_nested(value)))


def _fill(out: Any, value: Any, arena: Arena, kind: Optional[int], tkind: Optional[int]) -> None:
    from .values import fill_value

    fill_value(out, value, arena, kind, tkind)


def object_to_dict(obj: Any) -> Dict[str, Any]:
    """The fields of a `driftsync_object_t` as a dict (links as primary keys, lists as lists)."""
    out: Dict[str, Any] = {}
    n = lib.driftsync_object_field_count(obj)
    s = ffi.new("driftsync_string_t *")
    is_list = ffi.new("bool *")
    v = ffi.new("driftsync_value_t *")
    ln = ffi.new("size_t *")
    collection = ffi.new("driftsync_collection_t *")
    key = ffi.new("driftsync_string_t *")
    for i in range(n):
        call(lib.driftsync_object_field_name, obj, i, s, is_list)
        name = string_view(s)
        nb, nl = text_args(name)
        call(lib.driftsync_object_field_collection, obj, i, collection)
        if collection[0] == lib.DRIFTSYNC_COLLECTION_MIXED:
            out[name] = _mixed.plain_field(obj, name)
        elif collection[0] in (lib.DRIFTSYNC_COLLECTION_EMBEDDED, lib.DRIFTSYNC_COLLECTION_EMBEDDED_LIST):
            # Read by path: `embedded.fill_dict` (an object copy does not hold their contents).
            out[name] = None
        elif collection[0] == lib.DRIFTSYNC_COLLECTION_DICTIONARY:
            call(lib.driftsync_object_dict_len, obj, nb, nl, ln)
            entries = {}
            for j in range(ln[0]):
                call(lib.driftsync_object_dict_get, obj, nb, nl, j, key, v)
                entries[string_view(key)] = read_value(v)
            out[name] = entries
        elif is_list[0]:
            call(lib.driftsync_object_list_len, obj, nb, nl, ln)
            items = []
            for j in range(ln[0]):
                call(lib.driftsync_object_list_get, obj, nb, nl, j, v)
                items.append(read_value(v))
            out[name] = items
        else:
            call(lib.driftsync_object_get_value, obj, nb, nl, v)
            out[name] = read_value(v)
    return out


class _CursorIter:
    def __init__(self, realm: Realm, cursor: Owned) -> None:
        self._realm = realm
        self._cursor = cursor
        weakref.finalize(self, cursor.release)

    def __iter__(self) -> "_CursorIter":
        return self

    def __next__(self) -> "Object":
        out = ffi.new("driftsync_object_t **")
        try:
            with self._cursor as c:
                call(lib.driftsync_cursor_next, c, out)
        except ClosedError:
            raise StopIteration from None
        if out[0] == ffi.NULL:
            self._cursor.release()
            raise StopIteration
        try:
            name = string_view(lib.driftsync_object_class(out[0]))
            pk = ffi.new("driftsync_pk_t *")
            call(lib.driftsync_object_primary_key, out[0], pk)
            key = read_pk(pk)
        finally:
            lib.driftsync_object_free(out[0])
        return Object(self._realm, name, key)

    def close(self) -> None:
        self._cursor.release()


class Object(Mapping):
    """A live view of one object: read fields as attributes (``dog.name``) or items
    (``dog["name"]``); assign them inside a write transaction. List properties are `List`s,
    links are `Object`s (or None). `to_dict()` copies every field at once.

    An Object is a read-only `Mapping` of property names: a property named like a Mapping
    method (``items``, ``keys``, ``values``, ``get``) or like one of the attributes below is
    read with ``obj["items"]``."""

    __slots__ = ("_realm", "_class", "_pk")

    def __init__(self, realm: Realm, class_name: str, primary_key: Any) -> None:
        object.__setattr__(self, "_realm", realm)
        object.__setattr__(self, "_class", class_name)
        object.__setattr__(self, "_pk", primary_key)

    @property
    def class_name(self) -> str:
        return self._class

    @property
    def primary_key(self) -> Any:
        return self._pk

    @property
    def realm(self) -> Realm:
        return self._realm

    @property
    def is_valid(self) -> bool:
        """Whether the object still exists."""
        try:
            return self._realm.exists(self._class, self._pk)
        except ClosedError:
            return False

    def _schema(self) -> Optional[ClassSchema]:
        return self._realm.schema.get(self._class)

    def __getitem__(self, name: str) -> Any:
        cs = self._schema()
        p = cs.get(name) if cs is not None else None
        if embedded.holds_embedded(self, p):
            return embedded.read(self, name, p)
        if p is not None and p.list:
            return List(self, name)
        if p is not None and p.set:
            return Set(self, name)
        if p is not None and p.dictionary:
            return Dictionary(self, name)
        if p is not None and p.kind == MIXED:
            return _mixed.get(self, name, [])
        if cs is not None and p is None:
            raise KeyError(name)
        return self._realm._get_value(self._class, self._pk, name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except (KeyError, UnknownPropertyError):
            raise AttributeError(f"{self._class} has no property {name!r}") from None

    def __setitem__(self, name: str, value: Any) -> None:
        cs = self._schema()
        p = cs.get(name) if cs is not None else None
        if embedded.holds_embedded(self, p) and p is not None and not p.list:
            # A new embedded object from a mapping of its fields; None removes it.
            if value is None:
                embedded.remove_embedded(self, name)
            else:
                embedded.set_embedded(self, name, dict(value))
            return
        self._realm._set_value(self._class, self._pk, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(name)
        self[name] = value

    def __iter__(self) -> Iterator[str]:
        cs = self._schema()
        if cs is None:
            return iter(self.to_dict())
        return iter([p.name for p in cs.properties])

    def __len__(self) -> int:
        cs = self._schema()
        return len(cs.properties) if cs is not None else len(self.to_dict())

    def __contains__(self, name: object) -> bool:
        cs = self._schema()
        return cs is not None and isinstance(name, str) and cs.get(name) is not None

    def to_dict(self) -> Dict[str, Any]:
        """Every field, read in one call (links as primary keys, lists as Python lists,
        embedded objects as dicts)."""
        return embedded.fill_dict(self, self._realm._read_object(self._class, self._pk))

    # -- embedded objects, by path from this object (see `driftsync.embedded`) --------------
    def set_embedded(self, path: str, **fields: Any) -> "embedded.EmbeddedObject":
        """Sets the property at `path` (``"address"``, ``"parts[0].spec"``), which holds one
        embedded object, to a new one with `fields`; the old one (and all inside it) is gone."""
        embedded.set_embedded(self, path, fields)
        return embedded.EmbeddedObject(self, path)

    def remove_embedded(self, path: str) -> None:
        """Removes the embedded object at `path`: ``"address"`` becomes None, ``"parts[2]"``
        leaves its list."""
        embedded.remove_embedded(self, path)

    def embedded_value(self, path: str) -> Any:
        """A scalar inside an embedded object: ``obj.embedded_value("parts[1].qty")``."""
        return embedded.get_value(self, path)

    def set_embedded_value(self, path: str, value: Any) -> None:
        """Sets a scalar inside an embedded object: ``obj.set_embedded_value("address.street", "Elm")``."""
        embedded.set_value(self, path, value)

    def erase(self) -> None:
        """Erases the object (needs a write transaction)."""
        self._realm.erase(self)

    def increment(self, name: str, delta: int = 1) -> None:
        """Adds `delta` to the counter property `name` (needs a write transaction). Concurrent
        increments on other clients add up, in sync and in client-reset recovery; assigning the
        property replaces the value. A property that is not a counter is `TypeMismatchError`."""
        cs = self._schema()
        arena = Arena()
        n, nl = arena.text(self._class)
        pn, pl = arena.text(name)
        key = new_pk(self._pk, arena, cs.pk_kind if cs else None)
        with self._realm._h as p:
            call(lib.driftsync_realm_counter_add, p, n, nl, key, pn, pl, int(delta))

    def observe(self, callback: Callable[[Changes], Any]) -> Token:
        """Observes this object (see `Realm.observe`)."""
        return self._realm.observe_object(self, callback)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Object):
            return NotImplemented
        return other._class == self._class and other._pk == self._pk and other._realm.path == self._realm.path

    def __hash__(self) -> int:
        return hash((self._class, self._pk))

    def __repr__(self) -> str:
        return f"<driftsync.Object {self._class}[{self._pk!r}]>"


class Set(MutableSet):
    """A live view of a set property, behaving like a Python set (writes need a write
    transaction). Elements come in canonical order, the same on every client. Concurrent adds of
    one element give one element; of an add and a remove, the later in server order wins."""

    def __init__(self, obj: Object, prop: str) -> None:
        self._obj = obj
        self._prop = prop

    def _elements(self) -> _List[Any]:
        values = self._obj._realm._read_object(self._obj._class, self._obj._pk)[self._prop]
        cs = self._obj._schema()
        p = cs.get(self._prop) if cs is not None else None
        if p is not None and p.target is not None:
            return [Object(self._obj._realm, p.target, v) for v in values]
        return list(values)

    def _call(self, fn: Any, value: Any) -> None:
        arena = Arena()
        lst = List(self._obj, self._prop)
        with self._obj._realm._h as p:
            call(fn, p, *lst._args(arena), lst._value(value, arena))

    def __contains__(self, value: object) -> bool:
        return value in self._elements()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._elements())

    def __len__(self) -> int:
        return len(self._elements())

    def add(self, value: Any) -> None:
        self._call(lib.driftsync_realm_set_add, value)

    def discard(self, value: Any) -> None:
        self._call(lib.driftsync_realm_set_remove, value)

    def clear(self) -> None:
        """Removes the elements this transaction sees (one concurrently added elsewhere stays)."""
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_set_clear, p, *List(self._obj, self._prop)._args(arena))

    def __repr__(self) -> str:
        return f"driftsync.Set({self._elements()!r})"


class Dictionary(MutableMapping):
    """A live view of a dictionary property (string keys), behaving like a Python dict (writes
    need a write transaction). Keys merge one by one across clients; `clear()` removes the keys
    this transaction sees, so a key another client adds concurrently stays."""

    def __init__(self, obj: Object, prop: str) -> None:
        self._obj = obj
        self._prop = prop

    def _entries(self) -> Dict[str, Any]:
        entries = self._obj._realm._read_object(self._obj._class, self._obj._pk)[self._prop]
        cs = self._obj._schema()
        p = cs.get(self._prop) if cs is not None else None
        if p is not None and p.target is not None:
            return {k: (None if v is None else Object(self._obj._realm, p.target, v)) for k, v in entries.items()}
        return dict(entries)

    def _key_args(self, key: str, arena: Arena) -> Tuple[Any, ...]:
        if not isinstance(key, str):
            raise TypeMismatchError(f"dictionary keys are strings, not {type(key).__name__}")
        return (*List(self._obj, self._prop)._args(arena), *arena.text(key))

    def __getitem__(self, key: str) -> Any:
        return self._entries()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        arena = Arena()
        args = self._key_args(key, arena)
        v = List(self._obj, self._prop)._value(value, arena)
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_dict_set, p, *args, v)

    def __delitem__(self, key: str) -> None:
        if key not in self._entries():
            raise KeyError(key)
        arena = Arena()
        args = self._key_args(key, arena)
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_dict_erase, p, *args)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def clear(self) -> None:
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_dict_clear, p, *List(self._obj, self._prop)._args(arena))

    def __repr__(self) -> str:
        return f"driftsync.Dictionary({self._entries()!r})"


class List(MutableSequence):
    """A live view of a list property, behaving like a Python list (writes need a write
    transaction). Links are `Object`s; append objects or primary keys."""

    def __init__(self, obj: Object, prop: str) -> None:
        self._obj = obj
        self._prop = prop

    def _args(self, arena: Arena) -> Tuple[Any, ...]:
        o = self._obj
        cs = o._schema()
        n, nl = arena.text(o._class)
        pn, pl = arena.text(self._prop)
        key = new_pk(o._pk, arena, cs.pk_kind if cs else None)
        return n, nl, key, pn, pl

    def _value(self, value: Any, arena: Arena) -> Any:
        r = self._obj._realm
        cs = self._obj._schema()
        prop = cs.get(self._prop) if cs is not None else None
        kind, tkind = r._prop_kinds(prop)
        return new_value(value, arena, kind, tkind)

    def __len__(self) -> int:
        arena = Arena()
        out = ffi.new("size_t *")
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_len, p, *self._args(arena), out)
        return int(out[0])

    def _index(self, i: int, n: Optional[int] = None) -> int:
        if i < 0:
            i += len(self) if n is None else n
            if i < 0:
                raise IndexError("list index out of range")
        return i

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> _List[Any]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = self._index(i)
        arena = Arena()
        out = ffi.new("driftsync_owned_value_t **")
        r = self._obj._realm
        with r._h as p:
            call(lib.driftsync_realm_list_get, p, *self._args(arena), i, out)
        return r._owned_value(out[0], self._obj._schema(), self._prop)

    def __setitem__(self, i: Any, value: Any) -> None:
        if isinstance(i, slice):
            raise TypeError("driftsync lists do not support slice assignment")
        i = self._index(i)
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_set, p, *self._args(arena), i, self._value(value, arena))

    def __delitem__(self, i: Any) -> None:
        if isinstance(i, slice):
            for j in sorted(range(*i.indices(len(self))), reverse=True):
                del self[j]
            return
        i = self._index(i)
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_erase, p, *self._args(arena), i)

    def insert(self, index: int, value: Any) -> None:
        n = len(self)
        if index < 0:
            index = max(0, index + n)
        index = min(index, n)
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_insert, p, *self._args(arena), index, self._value(value, arena))

    def append(self, value: Any) -> None:
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_push, p, *self._args(arena), self._value(value, arena))

    def clear(self) -> None:
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_clear, p, *self._args(arena))

    def move(self, from_index: int, to_index: int) -> None:
        """Moves the element at `from_index` so that it ends up at `to_index`."""
        arena = Arena()
        with self._obj._realm._h as p:
            call(lib.driftsync_realm_list_move, p, *self._args(arena), self._index(from_index), self._index(to_index))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, List)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<driftsync.List {self._obj._class}[{self._obj._pk!r}].{self._prop} {list(self)!r}>"


def close_all_realms() -> None:
    """Closes every realm still open (at interpreter exit, so no library thread calls into a
    finalizing interpreter)."""
    for r in list(_open_realms):
        try:
            r.close()
        except Exception:
            pass
