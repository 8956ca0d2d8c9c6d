"""Conversions between Python values and the C ABI's `driftsync_value_t` / `driftsync_pk_t`."""

from __future__ import annotations

import datetime as _dt
import os
import uuid as _uuid
from typing import Any, List, NamedTuple, Optional, Union

from ._native import ffi
from .errors import TypeMismatchError, string_view

__all__ = ["ObjectId", "PrimaryKey", "TypedLink"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

# driftsync_value_type_t
NULL, BOOL, INT, DOUBLE, STRING, BINARY, TIMESTAMP, OBJECT_ID, UUID, LINK = range(10)
#: A `mixed` property's type; a link held by a mixed (it names its class).
MIXED, TYPED_LINK = 10, 11

TYPE_NAMES = {
    "bool": BOOL,
    "int": INT,
    "double": DOUBLE,
    "float": DOUBLE,
    "string": STRING,
    "str": STRING,
    "binary": BINARY,
    "bytes": BINARY,
    "timestamp": TIMESTAMP,
    "date": TIMESTAMP,
    "datetime": TIMESTAMP,
    "objectid": OBJECT_ID,
    "uuid": UUID,
    "link": LINK,
    "object": LINK,
    "mixed": MIXED,
}
JSON_TYPE_NAMES = {
    BOOL: "bool",
    INT: "int",
    DOUBLE: "double",
    STRING: "string",
    BINARY: "binary",
    TIMESTAMP: "timestamp",
    OBJECT_ID: "objectId",
    UUID: "uuid",
    LINK: "link",
    MIXED: "mixed",
}


class ObjectId:
    """A 12-byte object id (a primary key or a value)."""

    __slots__ = ("_bytes",)

    def __init__(self, value: Union[bytes, str, None] = None) -> None:
        if value is None:
            value = os.urandom(12)
        if isinstance(value, str):
            value = bytes.fromhex(value)
        if not isinstance(value, (bytes, bytearray)) or len(value) != 12:
            raise ValueError("an ObjectId is 12 bytes (or 24 hex digits)")
        self._bytes = bytes(value)

    @property
    def binary(self) -> bytes:
        return self._bytes

    def __bytes__(self) -> bytes:
        return self._bytes

    def __str__(self) -> str:
        return self._bytes.hex()

    def __repr__(self) -> str:
        return f"ObjectId({self._bytes.hex()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectId) and other._bytes == self._bytes

    def __lt__(self, other: "ObjectId") -> bool:
        return self._bytes < other._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)


class TypedLink(NamedTuple):
    """A link held by a `mixed` value, read without a realm at hand (a realm's reads give an
    `Object`). Any object with `class_name` and `primary_key` can be stored in a mixed."""

    class_name: str
    primary_key: Any


#: What a primary key can be in Python.
PrimaryKey = Union[int, str, ObjectId, _uuid.UUID]


class Arena:
    """Keeps the C buffers of one call's inputs alive until the call returns."""

    __slots__ = ("keep",)

    def __init__(self) -> None:
        self.keep: List[Any] = []

    def text(self, s: str) -> Any:
        b = s.encode("utf-8")
        buf = ffi.new("char[]", b)
        self.keep.append(buf)
        return buf, len(b)

    def raw(self, b: bytes) -> Any:
        buf = ffi.new("uint8_t[]", max(len(b), 1))
        ffi.memmove(buf, b, len(b))
        self.keep.append(buf)
        return buf, len(b)


def text_args(s: str) -> Any:
    """(char[], len) for a string argument; keep the first item alive during the call."""
    b = s.encode("utf-8")
    return ffi.new("char[]", b), len(b)


def _pk_kind_of(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeMismatchError(f"a primary key cannot be a bool ({value!r})")
    if isinstance(value, int):
        return INT
    if isinstance(value, str):
        return STRING
    if isinstance(value, ObjectId):
        return OBJECT_ID
    if isinstance(value, _uuid.UUID):
        return UUID
    raise TypeMismatchError(f"a primary key is an int, str, ObjectId or uuid.UUID, not {type(value).__name__}")


def fill_pk(out: Any, value: Any, arena: Arena, kind: Optional[int] = None) -> None:
    """Fills a `driftsync_pk_t` (the kind comes from the schema when known)."""
    if kind is None:
        kind = _pk_kind_of(value)
    out.kind = kind
    try:
        if kind == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            out.int_value = value
        elif kind == STRING:
            if not isinstance(value, str):
                raise TypeError
            out.string.data, out.string.len = arena.text(value)
        elif kind == OBJECT_ID:
            if isinstance(value, (str, bytes)):
                value = ObjectId(value)
            if not isinstance(value, ObjectId):
                raise TypeError
            ffi.memmove(out.object_id, value.binary, 12)
        elif kind == UUID:
            if isinstance(value, str):
                value = _uuid.UUID(value)
            if not isinstance(value, _uuid.UUID):
                raise TypeError
            ffi.memmove(out.uuid, value.bytes, 16)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise TypeMismatchError(f"{value!r} is not a valid primary key of type {JSON_TYPE_NAMES.get(kind, kind)}") from None


def new_pk(value: Any, arena: Arena, kind: Optional[int] = None) -> Any:
    pk = ffi.new("driftsync_pk_t *")
    fill_pk(pk, value, arena, kind)
    arena.keep.append(pk)
    return pk


def read_pk(pk: Any) -> PrimaryKey:
    k = int(pk.kind)
    if k == INT:
        return int(pk.int_value)
    if k == STRING:
        return string_view(pk.string)
    if k == OBJECT_ID:
        return ObjectId(bytes(ffi.buffer(pk.object_id, 12)))
    if k == UUID:
        return _uuid.UUID(bytes=bytes(ffi.buffer(pk.uuid, 16)))
    raise TypeMismatchError(f"unknown primary key kind {k}")


def _guess_kind(value: Any) -> int:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BINARY
    if isinstance(value, _dt.datetime):
        return TIMESTAMP
    if isinstance(value, ObjectId):
        return OBJECT_ID
    if isinstance(value, _uuid.UUID):
        return UUID
    if hasattr(value, "primary_key") and hasattr(value, "class_name"):
        return LINK
    raise TypeMismatchError(f"driftsync cannot store a {type(value).__name__}")


def to_timestamp_ns(value: Any) -> int:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError


def from_timestamp_ns(ns: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=ns // 1000)


def fill_value(out: Any, value: Any, arena: Arena, kind: Optional[int] = None, target_pk_kind: Optional[int] = None) -> None:
    """Fills a `driftsync_value_t`. `kind` is the property's type from the schema when known."""
    if value is None:
        out.kind = NULL
        return
    if kind is None:
        kind = _guess_kind(value)
    if kind == MIXED:
        # Any value; a link names its class.
        kind = _guess_kind(value)
        if kind == LINK:
            kind = TYPED_LINK
    out.kind = kind
    try:
        if kind == BOOL:
            if not isinstance(value, bool):
                raise TypeError
            out.bool_value = value
        elif kind == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            out.int_value = value
        elif kind == DOUBLE:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            out.double_value = float(value)
        elif kind == STRING:
            if not isinstance(value, str):
                raise TypeError
            out.string.data, out.string.len = arena.text(value)
        elif kind == BINARY:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError
            out.binary.data, out.binary.len = arena.raw(bytes(value))
        elif kind == TIMESTAMP:
            out.timestamp_ns = to_timestamp_ns(value)
        elif kind == OBJECT_ID:
            if not isinstance(value, ObjectId):
                raise TypeError
            ffi.memmove(out.object_id, value.binary, 12)
        elif kind == UUID:
            if not isinstance(value, _uuid.UUID):
                raise TypeError
            ffi.memmove(out.uuid, value.bytes, 16)
        elif kind == LINK:
            pk = value.primary_key if hasattr(value, "primary_key") and hasattr(value, "class_name") else value
            fill_pk(out.link, pk, arena, target_pk_kind)
        elif kind == TYPED_LINK:
            out.string.data, out.string.len = arena.text(value.class_name)
            fill_pk(out.link, value.primary_key, arena)
        else:
            raise TypeError
    except (TypeError, OverflowError):
        raise TypeMismatchError(f"{value!r} is not a {JSON_TYPE_NAMES.get(kind, kind)}") from None


def new_value(value: Any, arena: Arena, kind: Optional[int] = None, target_pk_kind: Optional[int] = None) -> Any:
    v = ffi.new("driftsync_value_t *")
    fill_value(v, value, arena, kind, target_pk_kind)
    arena.keep.append(v)
    return v


def read_value(v: Any, link: Any = None, typed_link: Any = None) -> Any:
    """A Python value from a `driftsync_value_t` view. `link(pk)` turns a link's key into an
    object (default: the primary key itself); `typed_link(class_name, pk)` a mixed's link
    (default: a `TypedLink`)."""
    k = int(v.kind)
    if k == NULL:
        return None
    if k == BOOL:
        return bool(v.bool_value)
    if k == INT:
        return int(v.int_value)
    if k == DOUBLE:
        return float(v.double_value)
    if k == STRING:
        return string_view(v.string)
    if k == BINARY:
        return bytes(ffi.unpack(ffi.cast("char *", v.binary.data), v.binary.len)) if v.binary.len else b""
    if k == TIMESTAMP:
        return from_timestamp_ns(int(v.timestamp_ns))
    if k == OBJECT_ID:
        return ObjectId(bytes(ffi.buffer(v.object_id, 12)))
    if k == UUID:
        return _uuid.UUID(bytes=bytes(ffi.buffer(v.uuid, 16)))
    if k == LINK:
        pk = read_pk(v.link)
        return link(pk) if link is not None else pk
    if k == TYPED_LINK:
        cls, pk = string_view(v.string), read_pk(v.link)
        return typed_link(cls, pk) if typed_link is not None else TypedLink(cls, pk)
    raise TypeMismatchError(f"unknown value kind {k}")
