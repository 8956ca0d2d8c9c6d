"""Embedded objects (issue 15): objects of a class declared embedded (no primary key), each
owned by one parent object and reached from it by a path: property names separated by ``.``,
a list element as ``name[index]`` (``"address"``, ``"address.street"``, ``"parts[2].qty"``).

``obj.address`` (a property holding one embedded object) reads as an `EmbeddedObject` view (or
None), ``obj.parts`` (a list of them) as an `EmbeddedList` view; writes need a write
transaction. Erasing the parent erases them; a change under an object another client replaced or
erased is dropped by the merge rules."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from ._native import ffi, lib
from .errors import TypeMismatchError, UnknownPropertyError, call
from .schema import ClassSchema, Property
from .values import Arena, new_pk, new_value, read_value

if TYPE_CHECKING:
    from .realm import Object

_STEP = re.compile(r"^([^.\[\]]+)(?:\[(\d+)\])?$")


def class_at(obj: "Object", path: str) -> Tuple[ClassSchema, Optional[Property]]:
    """The class that owns the last step of `path`, and that step's property (None if the
    schema does not know it: the core then says what is wrong)."""
    schema = obj.realm.schema
    cs = schema[obj.class_name]
    steps = path.split(".")
    for step in steps[:-1]:
        m = _STEP.match(step)
        p = cs.get(m.group(1)) if m else None
        t = schema.get(p.target) if p is not None and p.target is not None else None
        if t is None:
            return cs, None
        cs = t
    m = _STEP.match(steps[-1])
    return cs, cs.get(m.group(1)) if m else None


def holds_embedded(obj: "Object", p: Optional[Property]) -> bool:
    """Whether `p` holds embedded objects (its target class is embedded)."""
    if p is None or p.target is None:
        return False
    t = obj.realm.schema.get(p.target)
    return t is not None and t.embedded


def _args(obj: "Object", path: str, arena: Arena) -> Tuple[Any, ...]:
    cs = obj.realm.schema.get(obj.class_name)
    n, nl = arena.text(obj.class_name)
    key = new_pk(obj.primary_key, arena, cs.pk_kind if cs else None)
    pa, pl = arena.text(path)
    return (n, nl, key, pa, pl)


def _fields(obj: "Object", path: str, fields: Dict[str, Any], arena: Arena) -> Tuple[Any, int]:
    """The fields of a new embedded object at `path` (its class from the schema)."""
    _, p = class_at(obj, path)
    target = obj.realm.schema.get(p.target) if p is not None and p.target is not None else None
    return obj.realm._fields(target, fields, arena)


def set_embedded(obj: "Object", path: str, fields: Dict[str, Any]) -> None:
    arena = Arena()
    arr, n = _fields(obj, path, fields, arena)
    with obj.realm._h as p:
        call(lib.driftsync_realm_set_embedded, p, *_args(obj, path, arena), arr, n)


def insert_embedded(obj: "Object", path: str, index: Optional[int], fields: Dict[str, Any]) -> None:
    arena = Arena()
    arr, n = _fields(obj, path, fields, arena)
    with obj.realm._h as p:
        if index is None:
            call(lib.driftsync_realm_push_embedded, p, *_args(obj, path, arena), arr, n)
        else:
            call(lib.driftsync_realm_insert_embedded, p, *_args(obj, path, arena), index, arr, n)


def remove_embedded(obj: "Object", path: str) -> None:
    arena = Arena()
    with obj.realm._h as p:
        call(lib.driftsync_realm_remove_embedded, p, *_args(obj, path, arena))


def set_value(obj: "Object", path: str, value: Any) -> None:
    arena = Arena()
    _, prop = class_at(obj, path)
    v = new_value(value, arena, prop.kind if prop is not None else None)
    with obj.realm._h as p:
        call(lib.driftsync_realm_set_embedded_value, p, *_args(obj, path, arena), v)


def get_value(obj: "Object", path: str) -> Any:
    arena = Arena()
    out = ffi.new("driftsync_owned_value_t **")
    with obj.realm._h as p:
        call(lib.driftsync_realm_get_embedded_value, p, *_args(obj, path, arena), out)
    try:
        view = ffi.new("driftsync_value_t *")
        call(lib.driftsync_owned_value_get, out[0], view)
        return read_value(view)
    finally:
        lib.driftsync_owned_value_free(out[0])


def exists(obj: "Object", path: str) -> bool:
    arena = Arena()
    out = ffi.new("bool *")
    with obj.realm._h as p:
        call(lib.driftsync_realm_embedded_exists, p, *_args(obj, path, arena), out)
    return bool(out[0])


def length(obj: "Object", path: str) -> int:
    arena = Arena()
    out = ffi.new("size_t *")
    with obj.realm._h as p:
        call(lib.driftsync_realm_embedded_len, p, *_args(obj, path, arena), out)
    return int(out[0])


def read(obj: "Object", path: str, p: Property) -> Any:
    """What the property at `path` holds, as a view: an `EmbeddedObject` (or None) or an
    `EmbeddedList`."""
    if p.list:
        return EmbeddedList(obj, path)
    return EmbeddedObject(obj, path) if exists(obj, path) else None


def to_plain(value: Any) -> Any:
    """A view's contents as plain dicts and lists (for `Object.to_dict`)."""
    if isinstance(value, EmbeddedObject):
        return value.to_dict()
    if isinstance(value, EmbeddedList):
        return [o.to_dict() for o in value]
    return value


class EmbeddedObject(Mapping):
    """A live view of one embedded object, addressed by its path from the parent object. Reads
    and writes go to the realm (writes need a write transaction): ``address.street = "Main"``."""

    __slots__ = ("_obj", "_path")

    def __init__(self, obj: "Object", path: str) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_path", path)

    @property
    def path(self) -> str:
        return self._path

    def _class(self) -> ClassSchema:
        cs, p = class_at(self._obj, self._path)
        t = self._obj.realm.schema.get(p.target) if p is not None and p.target is not None else None
        if t is None:  # pragma: no cover - the view was made from the schema
            raise UnknownPropertyError(f"{cs.name} has no embedded property at {self._path!r}")
        return t

    def __getitem__(self, name: str) -> Any:
        p = self._class().get(name)
        if p is None:
            raise KeyError(name)
        path = f"{self._path}.{name}"
        if holds_embedded(self._obj, p):
            return read(self._obj, path, p)
        return get_value(self._obj, path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{self._class().name} has no property {name!r}") from None

    def __setitem__(self, name: str, value: Any) -> None:
        p = self._class().get(name)
        path = f"{self._path}.{name}"
        if holds_embedded(self._obj, p):
            if p is not None and p.list:
                raise TypeMismatchError(f"{path} is a list of embedded objects: use append/insert")
            if value is None:
                remove_embedded(self._obj, path)
            else:
                set_embedded(self._obj, path, dict(value))
            return
        set_value(self._obj, path, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(name)
        self[name] = value

    def __iter__(self) -> Iterator[str]:
        return iter([p.name for p in self._class().properties])

    def __len__(self) -> int:
        return len(self._class().properties)

    def to_dict(self) -> Dict[str, Any]:
        """Every field, nested embedded objects as dicts and lists."""
        return {k: to_plain(self[k]) for k in self}

    def __repr__(self) -> str:
        return f"<driftsync.EmbeddedObject {self._obj.class_name}[{self._obj.primary_key!r}].{self._path}>"


class EmbeddedList(Sequence):
    """A live view of a list of embedded objects: ``len``, indexing (an `EmbeddedObject` view),
    ``append(**fields)``, ``insert(index, **fields)``, ``del parts[i]`` (writes need a write
    transaction). Concurrent inserts on two clients both survive."""

    def __init__(self, obj: "Object", path: str) -> None:
        self._obj = obj
        self._path = path

    def __len__(self) -> int:
        return length(self._obj, self._path)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(index)
        return EmbeddedObject(self._obj, f"{self._path}[{i}]")

    def __delitem__(self, index: int) -> None:
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(index)
        remove_embedded(self._obj, f"{self._path}[{i}]")

    def append(self, **fields: Any) -> EmbeddedObject:
        insert_embedded(self._obj, self._path, None, fields)
        return self[len(self) - 1]

    def insert(self, index: int, **fields: Any) -> EmbeddedObject:
        insert_embedded(self._obj, self._path, index, fields)
        return self[index]

    def __repr__(self) -> str:
        return f"driftsync.EmbeddedList({[o.to_dict() for o in self]!r})"


def fill_dict(obj: "Object", values: Dict[str, Any]) -> Dict[str, Any]:
    """Replaces the placeholders of properties holding embedded objects in `values` (an object
    read whole) by their contents, read by path."""
    cs = obj.realm.schema.get(obj.class_name)
    if cs is None:
        return values
    for p in cs.properties:
        if holds_embedded(obj, p):
            values[p.name] = to_plain(read(obj, p.name, p))
    return values


__all__: List[str] = ["EmbeddedObject", "EmbeddedList"]
