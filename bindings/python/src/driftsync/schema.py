"""Schemas: from plain dicts, from annotated classes, or from the core's JSON form."""

from __future__ import annotations

import datetime as _dt
import json
import sys
import typing
import uuid as _uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ._native import ffi, lib
from .errors import InvalidSchemaError, UnknownClassError, UnknownPropertyError, call
from .values import BINARY, BOOL, DOUBLE, INT, JSON_TYPE_NAMES, LINK, OBJECT_ID, STRING, TIMESTAMP, TYPE_NAMES, UUID, ObjectId, text_args

__all__ = ["Property", "ClassSchema", "Schema", "SchemaLike"]

_PY_TYPES = {
    bool: BOOL,
    int: INT,
    float: DOUBLE,
    str: STRING,
    bytes: BINARY,
    _dt.datetime: TIMESTAMP,
    ObjectId: OBJECT_ID,
    _uuid.UUID: UUID,
}


@dataclass(frozen=True)
class Property:
    """One property of a class.

    `type` is one of "bool", "int", "double", "string", "binary", "timestamp", "objectId",
    "uuid", "link"; `target` names the linked class for links and lists of links. `counter`
    marks an int that takes `Object.increment`, which merges additively across clients (in the
    short form: "counter" or "counter?").
    """

    name: str
    type: str
    optional: bool = False
    list: bool = False
    target: Optional[str] = None
    counter: bool = False
    #: A set of `type` values (short form "string{}", annotation `Set[str]`): add and remove
    #: per element, no order, no duplicates.
    set: bool = False
    #: A dictionary from string keys to `type` values (short form "dict[string]"; of links:
    #: "dict[Person]", values optional).
    dictionary: bool = False

    @property
    def is_collection(self) -> bool:
        """A list or a set: filled element by element."""
        return self.list or self.set or self.dictionary

    @property
    def kind(self) -> int:
        return TYPE_NAMES[self.type.lower()]

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name, "type": JSON_TYPE_NAMES[self.kind]}
        if self.list:
            d["list"] = True
        if self.optional:
            d["optional"] = True
        if self.target is not None:
            d["target"] = self.target
        if self.counter:
            d["counter"] = True
        if self.set:
            d["set"] = True
        if self.dictionary:
            d["dictionary"] = True
        return d


@dataclass(frozen=True)
class ClassSchema:
    """A class: its name, primary-key property and properties (the primary key included)."""

    name: str
    primary_key: str
    properties: Sequence[Property] = field(default_factory=tuple)
    #: An embedded class: no primary key (`primary_key` is ""), its objects live inside one
    #: parent, reached through a link (or list of links) property whose target it is. In the
    #: dict form: ``{"Address": {"__embedded__": True, "street": "string"}}``.
    embedded: bool = False

    def prop(self, name: str) -> Property:
        """The property named `name` (`UnknownPropertyError` if none)."""
        for p in self.properties:
            if p.name == name:
                return p
        raise UnknownPropertyError(f"{self.name} has no property {name!r}")

    def get(self, name: str) -> Optional[Property]:
        for p in self.properties:
            if p.name == name:
                return p
        return None

    @property
    def pk_kind(self) -> Optional[int]:
        p = self.get(self.primary_key)
        return p.kind if p is not None else None

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name, "primaryKey": self.primary_key, "properties": [p.to_json() for p in self.properties]}
        if self.embedded:
            d["embedded"] = True
            if not self.primary_key:
                del d["primaryKey"]
        return d


#: What `driftsync.open(schema=…)` accepts.
SchemaLike = Union["Schema", Mapping[str, Any], Sequence[Any], str]


def _parse_type(spec: str) -> Dict[str, Any]:
    """'int', 'string?', 'string[]', 'Person', 'Person?', 'Person[]', 'int?[]', 'string{}'
    (a set), 'Person{}' (a set of links), 'counter'."""
    s = spec.strip()
    if s.startswith("dict[") and s.endswith("]"):
        d = _parse_type(s[5:-1])
        d["dictionary"] = True
        if d.get("target") is not None:
            d["optional"] = True
        return d
    if s.endswith("{}"):
        d = _parse_type(s[:-2] + "[]")
        d["list"] = False
        d["set"] = True
        return d
    is_list = s.endswith("[]")
    if is_list:
        s = s[:-2]
    optional = s.endswith("?")
    if optional:
        s = s[:-1]
    if s.lower() == "counter" and not is_list:
        return {"type": "int", "counter": True, "optional": optional}
    kind = TYPE_NAMES.get(s.lower())
    if kind is None or (kind == LINK and s.lower() in ("link", "object")):
        if kind == LINK:
            raise InvalidSchemaError(f"a link type names its target class: {spec!r}")
        # A class name: a link. A single link is always optional.
        return {"type": "link", "target": s, "list": is_list, "optional": optional or not is_list}
    return {"type": JSON_TYPE_NAMES[kind], "list": is_list, "optional": optional}


def _class_from_mapping(name: str, d: Mapping[str, Any]) -> ClassSchema:
    props: List[Property] = []
    embedded = bool(d.get("embedded", d.get("__embedded__", False)))
    if "properties" in d:
        props_in = d["properties"]
        pk = d.get("primaryKey", d.get("primary_key"))
        if isinstance(props_in, Mapping):
            for pname, spec in props_in.items():
                props.append(_prop_from_spec(pname, spec))
        else:
            for p in props_in:
                props.append(
                    Property(
                        name=p["name"],
                        type=p["type"],
                        optional=bool(p.get("optional", False)),
                        list=bool(p.get("list", False)),
                        target=p.get("target"),
                        counter=bool(p.get("counter", False)),
                        set=bool(p.get("set", False)),
                        dictionary=bool(p.get("dictionary", False)),
                    )
                )
    else:
        pk = d.get("__primary_key__")
        props = [_prop_from_spec(pname, spec) for pname, spec in d.items() if pname not in ("__primary_key__", "__embedded__")]
    if embedded:
        return ClassSchema(name, pk or "", tuple(props), embedded=True)
    if pk is None:
        names = [p.name for p in props]
        pk = "id" if "id" in names else ("_id" if "_id" in names else None)
        if pk is None:
            raise InvalidSchemaError(f"class {name}: name the primary key (primary_key / __primary_key__)")
    return ClassSchema(name, pk, tuple(props))


def _prop_from_spec(pname: str, spec: Any) -> Property:
    if isinstance(spec, Property):
        return spec
    if isinstance(spec, str):
        return Property(name=pname, **_parse_type(spec))
    if isinstance(spec, Mapping):
        return Property(
            name=pname,
            type=spec["type"],
            optional=bool(spec.get("optional", False)),
            list=bool(spec.get("list", False)),
            target=spec.get("target"),
            counter=bool(spec.get("counter", False)),
            set=bool(spec.get("set", False)),
            dictionary=bool(spec.get("dictionary", False)),
        )
    if isinstance(spec, type):
        return _prop_from_annotation(pname, spec, {})
    raise InvalidSchemaError(f"property {pname!r}: cannot read the type {spec!r}")


def _prop_from_annotation(pname: str, ann: Any, names: Mapping[str, Any]) -> Property:
    optional = False
    is_list = False
    origin = typing.get_origin(ann)
    if origin is Union or (sys.version_info >= (3, 10) and _is_union_type(ann)):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) != 1:
            raise InvalidSchemaError(f"property {pname!r}: only Optional[X] unions are supported")
        optional = True
        ann = args[0]
        origin = typing.get_origin(ann)
    if origin in (list, List, typing.Sequence) or ann in (list, List):
        is_list = True
        largs = typing.get_args(ann)
        if len(largs) != 1:
            raise InvalidSchemaError(f"property {pname!r}: a list needs its element type (list[int])")
        elem = largs[0]
        if typing.get_origin(elem) is Union or (sys.version_info >= (3, 10) and _is_union_type(elem)):
            inner = [a for a in typing.get_args(elem) if a is not type(None)]
            elem = inner[0]
            optional = True
        else:
            optional = False
        ann = elem
    if isinstance(ann, typing.ForwardRef):
        ann = ann.__forward_arg__
    if isinstance(ann, str):
        if ann in names:
            ann = names[ann]
        else:
            return Property(pname, "link", optional=not is_list or optional, list=is_list, target=ann)
    if ann in _PY_TYPES:
        return Property(pname, JSON_TYPE_NAMES[_PY_TYPES[ann]], optional=optional, list=is_list)
    if isinstance(ann, type):
        return Property(pname, "link", optional=not is_list or optional, list=is_list, target=getattr(ann, "__schema_name__", ann.__name__))
    raise InvalidSchemaError(f"property {pname!r}: cannot map {ann!r} to a driftsync type")


def _is_union_type(ann: Any) -> bool:
    import types

    return isinstance(ann, getattr(types, "UnionType", ()))


def _class_from_type(cls: type, names: Mapping[str, Any]) -> ClassSchema:
    raw = cls.__dict__.get("__annotations__", {})
    mod = sys.modules.get(cls.__module__)
    ns: Dict[str, Any] = dict(vars(mod)) if mod else {}
    ns.update(names)
    ns.update({"ObjectId": ObjectId})
    props = []
    for pname, ann in raw.items():
        if pname.startswith("__"):
            continue
        if isinstance(ann, str):
            try:
                ann = eval(ann, ns)  # noqa: S307 - annotations of the app's own classes
            except Exception:
                ann = ann.strip("'\"")
        props.append(_prop_from_annotation(pname, ann, names))
    name = getattr(cls, "__schema_name__", cls.__name__)
    pk = getattr(cls, "__primary_key__", None)
    if pk is None:
        pnames = [p.name for p in props]
        pk = "id" if "id" in pnames else ("_id" if "_id" in pnames else None)
    if pk is None:
        raise InvalidSchemaError(f"class {name}: set __primary_key__")
    return ClassSchema(name, pk, tuple(props))


class Schema:
    """A validated schema.

    Build it from:
      * plain dicts: ``{"Dog": {"id": "int", "name": "string", "owner": "Person?", "tags": "string[]"}}``
        (primary key: ``"__primary_key__"``, default ``id``), or
        ``{"Dog": {"primary_key": "id", "properties": {...}}}``;
      * the core's JSON form, as a dict ``{"classes": [...]}`` or a JSON string;
      * annotated classes: ``class Dog: id: int; name: str; owner: Optional["Person"]``
        (``__primary_key__`` names the key when it is not ``id``);
      * a list mixing classes and `ClassSchema`.

    The schema is checked by the core when it is made (`InvalidSchemaError`).
    """

    def __init__(self, classes: Iterable[ClassSchema]) -> None:
        self.classes: List[ClassSchema] = list(classes)
        self._by_name = {c.name: c for c in self.classes}
        ptr = self._build()
        lib.driftsync_schema_free(ptr)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def of(cls, value: "SchemaLike") -> "Schema":
        """Makes a schema from any accepted form (a Schema is returned as is)."""
        if isinstance(value, Schema):
            return value
        if isinstance(value, str):
            return cls.from_json(value)
        if isinstance(value, Mapping):
            if "classes" in value and isinstance(value["classes"], (list, tuple)):
                return cls.from_json(json.dumps(value))
            return cls([_class_from_mapping(n, d) if not isinstance(d, ClassSchema) else d for n, d in value.items()])
        if isinstance(value, type):
            value = [value]
        if isinstance(value, (list, tuple)):
            types_ = {getattr(t, "__schema_name__", t.__name__): t for t in value if isinstance(t, type)}
            out = []
            for item in value:
                if isinstance(item, ClassSchema):
                    out.append(item)
                elif isinstance(item, type):
                    out.append(_class_from_type(item, types_))
                elif isinstance(item, Mapping) and "name" in item:
                    out.append(_class_from_mapping(item["name"], item))
                else:
                    raise InvalidSchemaError(f"cannot read a class from {item!r}")
            return cls(out)
        raise InvalidSchemaError(f"cannot make a schema from {type(value).__name__}")

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        """Parses the core's JSON form (checked by `driftsync_schema_from_json`)."""
        buf, n = text_args(text)
        out = ffi.new("driftsync_schema_t **")
        call(lib.driftsync_schema_from_json, buf, n, out)
        lib.driftsync_schema_free(out[0])
        try:
            data = json.loads(text)
        except ValueError as e:  # pragma: no cover - the core accepted it
            raise InvalidSchemaError(str(e)) from None
        return cls([_class_from_mapping(c["name"], c) for c in data["classes"]])

    # -- queries ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> ClassSchema:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownClassError(f"no class {name!r} in the schema") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> typing.Iterator[ClassSchema]:
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Schema({[c.name for c in self.classes]})"

    def get(self, name: str) -> Optional[ClassSchema]:
        return self._by_name.get(name)

    def to_dict(self) -> Dict[str, Any]:
        """The core's JSON form, as a dict."""
        return {"classes": [c.to_json() for c in self.classes]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    # -- C -----------------------------------------------------------------------------------
    def _build(self) -> Any:
        """A new `driftsync_schema_t *` made with the schema builder (caller frees it)."""
        builder = lib.driftsync_schema_builder_new()
        if builder == ffi.NULL:  # pragma: no cover
            raise InvalidSchemaError("driftsync_schema_builder_new failed")
        try:
            for c in self.classes:
                n, nl = text_args(c.name)
                k, kl = text_args(c.primary_key)
                call(lib.driftsync_schema_builder_add_class, builder, n, nl, k, kl)
                if c.embedded:
                    call(lib.driftsync_schema_builder_set_embedded, builder, n, nl)
                for p in c.properties:
                    prop = ffi.new("driftsync_property_t *")
                    pn, pl = text_args(p.name)
                    prop.name.data, prop.name.len = pn, pl
                    try:
                        prop.kind = p.kind
                    except KeyError:
                        raise InvalidSchemaError(f"{c.name}.{p.name}: unknown type {p.type!r}") from None
                    prop.list = p.list
                    prop.optional = p.optional
                    tn = None
                    if p.target is not None:
                        tn, tl = text_args(p.target)
                        prop.target.data, prop.target.len = tn, tl
                    call(lib.driftsync_schema_builder_add_property, builder, n, nl, prop)
                    if p.counter:
                        call(lib.driftsync_schema_builder_set_counter, builder, n, nl, pn, pl)
                    if p.set:
                        call(lib.driftsync_schema_builder_set_set, builder, n, nl, pn, pl)
                    if p.dictionary:
                        call(lib.driftsync_schema_builder_set_dictionary, builder, n, nl, pn, pl)
        except BaseException:
            lib.driftsync_schema_builder_free(builder)
            raise
        out = ffi.new("driftsync_schema_t **")
        call(lib.driftsync_schema_builder_build, builder, out)  # consumes the builder
        return out[0]
