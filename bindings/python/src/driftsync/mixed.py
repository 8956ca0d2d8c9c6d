"""The `mixed` kind: a property (type "mixed") that holds None, any scalar, a link to an object
of any class, or a nested list or dictionary whose elements are mixed values again.

Reading a mixed gives the value, an `Object` for a link, or a live `MixedList` / `MixedDict`
view of a nested collection. Assigning a Python list or dict (nested as deep as you like)
creates new nested collections: an edit another client makes inside the collection it replaces
is dropped when the two merge (the later whole-value assignment wins)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, MutableSequence
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Sequence, Tuple, Union

from ._native import ffi, lib
from .errors import TypeMismatchError, call, string_view
from .values import MIXED, Arena, new_pk, new_value, read_value

if TYPE_CHECKING:  # pragma: no cover
    from .realm import Object

__all__ = ["MixedList", "MixedDict"]

Step = Union[int, str]


def _path(path: Sequence[Step], arena: Arena) -> Tuple[Any, int]:
    if not path:
        return ffi.NULL, 0
    steps = ffi.new("driftsync_mixed_key_t[]", len(path))
    arena.keep.append(steps)
    for i, step in enumerate(path):
        if isinstance(step, bool) or not isinstance(step, (int, str)):
            raise TypeMismatchError(f"a path step is a list index or a dictionary key, not {step!r}")
        if isinstance(step, int):
            steps[i].is_index = True
            steps[i].index = step
        else:
            steps[i].key.data, steps[i].key.len = arena.text(step)
    return steps, len(path)


def _target(obj: "Object", prop: str, arena: Arena) -> Tuple[Any, ...]:
    cs = obj._schema()
    n, nl = arena.text(obj.class_name)
    pn, pl = arena.text(prop)
    return n, nl, new_pk(obj.primary_key, arena, cs.pk_kind if cs else None), pn, pl


def _is_dict(value: Any) -> bool:
    # An `Object` is a Mapping too, but stored in a mixed it is a link.
    return isinstance(value, Mapping) and not (hasattr(value, "class_name") and hasattr(value, "primary_key"))


def is_nested(value: Any) -> bool:
    """Whether assigning `value` to a mixed creates a nested collection."""
    return _is_dict(value) or isinstance(value, (list, tuple))


def put(obj: "Object", prop: str, path: List[Step], value: Any, insert_at: Optional[int] = None) -> None:
    """Sets the slot at `path` (or inserts at `insert_at` of the list at `path`) to `value`; a
    Python list or dict becomes a new nested collection, filled element by element."""
    arena = Arena()
    if _is_dict(value):
        kind, v = lib.DRIFTSYNC_MIXED_DICTIONARY, ffi.NULL
    elif isinstance(value, (list, tuple)):
        kind, v = lib.DRIFTSYNC_MIXED_LIST, ffi.NULL
    else:
        kind, v = lib.DRIFTSYNC_MIXED_VALUE, new_value(value, arena, MIXED)
    steps, n = _path(path, arena)
    with obj.realm._h as p:
        if insert_at is None:
            call(lib.driftsync_realm_mixed_set, p, *_target(obj, prop, arena), steps, n, kind, v)
        else:
            call(lib.driftsync_realm_mixed_insert, p, *_target(obj, prop, arena), steps, n, insert_at, kind, v)
    inside = list(path) if insert_at is None else [*path, insert_at]
    if _is_dict(value):
        for k, x in value.items():
            put(obj, prop, [*inside, k], x)
    elif isinstance(value, (list, tuple)):
        for i, x in enumerate(value):
            put(obj, prop, inside, x, insert_at=i)


def erase(obj: "Object", prop: str, path: List[Step]) -> None:
    arena = Arena()
    steps, n = _path(path, arena)
    with obj.realm._h as p:
        call(lib.driftsync_realm_mixed_erase, p, *_target(obj, prop, arena), steps, n)


class _Copy:
    """One object copy, read at paths of one mixed field."""

    def __init__(self, obj_ptr: Any, prop: str, realm: Any) -> None:
        self.ptr = obj_ptr
        self.arena = Arena()
        self.prop = self.arena.text(prop)
        self.realm = realm

    def at(self, path: Sequence[Step]) -> Tuple[int, Any]:
        """(kind, value or length) at `path`."""
        kind = ffi.new("driftsync_mixed_kind_t *")
        v = ffi.new("driftsync_value_t *")
        n = ffi.new("size_t *")
        steps, sl = _path(path, self.arena)
        call(lib.driftsync_object_mixed_get, self.ptr, *self.prop, steps, sl, kind, v, n)
        if kind[0] == lib.DRIFTSYNC_MIXED_VALUE:
            typed = None if self.realm is None else (lambda c, pk: _object(self.realm, c, pk))
            return int(kind[0]), read_value(v, None, typed)
        return int(kind[0]), int(n[0])

    def keys(self, path: Sequence[Step], n: int) -> List[str]:
        key = ffi.new("driftsync_string_t *")
        steps, sl = _path(path, self.arena)
        out = []
        for i in range(n):
            call(lib.driftsync_object_mixed_key, self.ptr, *self.prop, steps, sl, i, key)
            out.append(string_view(key))
        return out

    def plain(self, path: List[Step]) -> Any:
        """The value at `path` as plain Python data (lists, dicts)."""
        kind, x = self.at(path)
        if kind == lib.DRIFTSYNC_MIXED_LIST:
            return [self.plain([*path, i]) for i in range(x)]
        if kind == lib.DRIFTSYNC_MIXED_DICTIONARY:
            return {k: self.plain([*path, k]) for k in self.keys(path, x)}
        return x


def _object(realm: Any, class_name: str, pk: Any) -> Any:
    from .realm import Object

    return Object(realm, class_name, pk)


def plain_field(obj_ptr: Any, prop: str) -> Any:
    """A mixed field of an object copy as plain Python data (links as `TypedLink`)."""
    return _Copy(obj_ptr, prop, None).plain([])


def _read(obj: "Object", prop: str, f: Any) -> Any:
    """Runs `f(copy)` on a fresh copy of the object."""
    realm = obj.realm
    cs = obj._schema()
    arena = Arena()
    n, nl = arena.text(obj.class_name)
    out = ffi.new("driftsync_object_t **")
    with realm._h as p:
        call(lib.driftsync_realm_get_object, p, n, nl, new_pk(obj.primary_key, arena, cs.pk_kind if cs else None), out)
    try:
        return f(_Copy(out[0], prop, realm))
    finally:
        lib.driftsync_object_free(out[0])


def get(obj: "Object", prop: str, path: List[Step]) -> Any:
    """The value at `path`: a value, an `Object`, or a live view of a nested collection."""
    kind, x = _read(obj, prop, lambda c: c.at(path))
    if kind == lib.DRIFTSYNC_MIXED_LIST:
        return MixedList(obj, prop, path)
    if kind == lib.DRIFTSYNC_MIXED_DICTIONARY:
        return MixedDict(obj, prop, path)
    return x


class _Nested:
    _want: int
    _what: str

    def __init__(self, obj: "Object", prop: str, path: List[Step]) -> None:
        self._obj = obj
        self._prop = prop
        self._path = list(path)

    def _len(self) -> int:
        kind, n = _read(self._obj, self._prop, lambda c: c.at(self._path))
        if kind != self._want:
            raise TypeMismatchError(f"{self._prop} at {self._path} is no longer a {self._what}")
        return int(n)

    def to_python(self) -> Any:
        """A copy as plain Python data."""
        return _read(self._obj, self._prop, lambda c: c.plain(self._path))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Nested):
            other = other.to_python()
        return bool(self.to_python() == other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"driftsync.{type(self).__name__}({self.to_python()!r})"


class MixedList(_Nested, MutableSequence):
    """A live view of a list nested in a mixed (writes need a write transaction)."""

    _want = 1
    _what = "list"

    def _index(self, i: int, extra: int = 0) -> int:
        n = self._len()
        j = i + n if i < 0 else i
        if not 0 <= j < n + extra:
            raise IndexError(i)
        return j

    def __len__(self) -> int:
        return self._len()

    def __getitem__(self, i: Any) -> Any:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return get(self._obj, self._prop, [*self._path, self._index(i)])

    def __setitem__(self, i: Any, value: Any) -> None:  # type: ignore[override]
        put(self._obj, self._prop, [*self._path, self._index(i)], value)

    def __delitem__(self, i: Any) -> None:  # type: ignore[override]
        erase(self._obj, self._prop, [*self._path, self._index(i)])

    def insert(self, i: int, value: Any) -> None:
        n = self._len()
        j = max(0, min(n, i + n if i < 0 else i))
        put(self._obj, self._prop, self._path, value, insert_at=j)


class MixedDict(_Nested, MutableMapping):
    """A live view of a dictionary nested in a mixed (writes need a write transaction)."""

    _want = 2
    _what = "dictionary"

    def _keys(self) -> List[str]:
        return _read(self._obj, self._prop, lambda c: c.keys(self._path, self._len_in(c)))

    def _len_in(self, c: _Copy) -> int:
        kind, n = c.at(self._path)
        if kind != self._want:
            raise TypeMismatchError(f"{self._prop} at {self._path} is no longer a dictionary")
        return int(n)

    def __len__(self) -> int:
        return self._len()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return get(self._obj, self._prop, [*self._path, key])

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeMismatchError(f"dictionary keys are strings, not {type(key).__name__}")
        put(self._obj, self._prop, [*self._path, key], value)

    def __delitem__(self, key: str) -> None:
        if key not in self._keys():
            raise KeyError(key)
        erase(self._obj, self._prop, [*self._path, key])
