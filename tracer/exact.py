"""The exact, typed JSON form of captured values, for replay (``agentflight.content.*``).

The display attributes (``gen_ai.tool.call.arguments``, ...) are plain JSON for people and
dashboards: a dataclass becomes an object, an enum its value, a tuple a list. Replay needs
more: the recorded result of a skill stands in for a live call, so it must come back as the
same types. This module writes values as JSON in which every value plain JSON cannot hold is
an object tagged with ``"$type"``:

================  ==================================================================
Python value      JSON
================  ==================================================================
str, int, bool,   themselves (a ``float`` that is NaN or infinite:
None, float,      ``{"$type": "float", "value": "nan"}``); lists and dicts with string
list, dict        keys as themselves, their items encoded the same way
dict (other keys  ``{"$type": "dict", "items": [[key, value], ...]}``
or a "$type" key)
tuple, set,       ``{"$type": "tuple" | "set" | "frozenset", "items": [...]}``
frozenset
bytes, bytearray  ``{"$type": "bytes" | "bytearray", "base64": "..."}``
datetime, date,   ``{"$type": "datetime" | "date" | "time", "value": ISO 8601}``
time
timedelta         ``{"$type": "timedelta", "value": [days, seconds, microseconds]}``
Decimal, UUID,    ``{"$type": "decimal" | "uuid" | "path", "value": "..."}``
Path
enum member       ``{"$type": "enum", "class": "module:Qual", "value": <value>}``
dataclass         ``{"$type": "dataclass", "class": "module:Qual", "fields": {...}}``
pydantic model    ``{"$type": "pydantic", "class": "module:Qual", "fields": {...}}``
named tuple       ``{"$type": "namedtuple", "class": "module:Qual", "items": [...]}``
a class           ``{"$type": "class", "class": "module:Qual"}``
anything else     ``{"$type": "repr", "class": "module:Qual", "repr": "..."}`` (cannot be
                  rebuilt)
================  ==================================================================

A value whose JSON is longer than the size bound is recorded as
``{"$type": "omitted", "chars": N, "limit": L}`` instead. :func:`loads` rebuilds values;
classes are looked up only in modules already imported (it never imports anything), so a
class it cannot find comes back as :class:`Unresolved`.

Only the standard library is used: the tracer may import nothing else.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import sys
import uuid
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "TAG",
    "Unresolved",
    "compact_encoder",
    "decode",
    "dumps",
    "dumps_tree",
    "encode",
    "is_omitted",
    "loads",
    "omitted",
    "plain",
    "recorded",
]

TAG: Final = "$type"
_LEAVES: Final = frozenset({str, int, bool, type(None)})  # JSON as they are (not float: NaN)
_MAX_DEPTH: Final = 64
_REPR_LIMIT: Final = 1000


def compact_encoder(
    default: Callable[[Any], Any] | None = None,
    *,
    allow_nan: bool = True,
    sort_keys: bool = False,
) -> Callable[[Any], str]:
    """A compact UTF-8 JSON serialiser built once (``json.dumps`` builds one per call, and so
    does ``JSONEncoder.encode`` for anything but a string). Circular data raises
    ``RecursionError`` (no per-call marker dict)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard library's own path
        return json.JSONEncoder(
            default=default,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=allow_nan,
            sort_keys=sort_keys,
        ).encode
    encoder = make(
        None, default or _no_default, json.encoder.encode_basestring, None, ":", ",",
        sort_keys, False, allow_nan,
    )  # fmt: skip

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode_json = compact_encoder(allow_nan=False)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {TAG: "float", "value": "nan" if math.isnan(value) else str(value)}


def encode(value: Any) -> Any:
    """``value`` as a JSON-ready tree with type tags.

    Plain JSON data is returned as the very same object (nothing is copied), so a caller
    can tell, with ``encode(v) is v``, that the typed and the plain JSON of ``v`` agree.
    """
    return _encode(value, 0)


def _encode(value: Any, depth: int) -> Any:
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is float:
        return _float(value)
    if depth > _MAX_DEPTH:
        return _opaque(value)
    if cls is dict:
        copy: dict[str, Any] | None = None
        for key, item in value.items():
            if type(key) is not str or key == TAG:
                return _tagged_dict(value, depth)
            if type(item) in _LEAVES:
                continue  # the hot path: no call for strings and numbers
            encoded = _encode(item, depth + 1)
            if encoded is not item:
                if copy is None:
                    copy = dict(value)
                copy[key] = encoded
        return value if copy is None else copy
    if cls is list:
        items: list[Any] | None = None
        for index, item in enumerate(value):
            if type(item) in _LEAVES:
                continue
            encoded = _encode(item, depth + 1)
            if encoded is not item:
                if items is None:
                    items = list(value)
                items[index] = encoded
        return value if items is None else items
    return _rich(value, cls, depth)


def _tagged_dict(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    return {
        TAG: "dict",
        "items": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()],
    }


def _items(value: Any, depth: int) -> list[Any]:
    return [_encode(item, depth + 1) for item in value]


def _rich(value: Any, cls: type, depth: int) -> Any:
    """Everything that is not plain JSON data, by an encoder chosen once per class."""
    encoder = _BY_CLASS.get(cls)
    if encoder is None:
        encoder = _choose(cls)
        if len(_BY_CLASS) >= _CLASSES_KEPT:  # classes made at run time must not grow it
            _BY_CLASS.clear()
        _BY_CLASS[cls] = encoder
    return encoder(value, depth)


Encoder = Callable[[Any, int], Any]
_BY_CLASS: dict[type, Encoder] = {}
_CLASSES_KEPT: Final = 4096


def _tagged(kind: str, convert: Callable[[Any], Any]) -> Encoder:
    return lambda value, depth: {TAG: kind, "value": convert(value)}


def _tagged_items(kind: str) -> Encoder:
    return lambda value, depth: {TAG: kind, "items": _items(value, depth)}


def _with_class(kind: str, path: str, key: str, body: Callable[[Any, int], Any]) -> Encoder:
    return lambda value, depth: {TAG: kind, "class": path, key: body(value, depth)}


def _choose(cls: type) -> Encoder:
    """The encoder for instances of ``cls`` (the isinstance chain runs once per class)."""
    path = _class_path(cls)
    if issubclass(cls, type):
        return lambda value, depth: {TAG: "class", "class": _class_path(value)}
    if issubclass(cls, enum.Enum):
        return _with_class("enum", path, "value", lambda v, d: _encode(v.value, d + 1))
    if issubclass(cls, tuple):
        if hasattr(cls, "_fields"):
            return _with_class("namedtuple", path, "items", _items)
        return _tagged_items("tuple")
    if issubclass(cls, frozenset):
        return _tagged_items("frozenset")
    if issubclass(cls, set):
        return _tagged_items("set")
    if issubclass(cls, (bytes, bytearray)):
        kind = "bytearray" if issubclass(cls, bytearray) else "bytes"
        return lambda value, depth: {TAG: kind, "base64": base64.b64encode(value).decode("ascii")}
    for iso_base, kind in _ISO:
        if issubclass(cls, iso_base):
            return _tagged(kind, lambda v: v.isoformat())
    if issubclass(cls, datetime.timedelta):
        return _tagged("timedelta", lambda v: [v.days, v.seconds, v.microseconds])
    for str_base, kind in _BY_STR:
        if issubclass(cls, str_base):
            return _tagged(kind, str)
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))
        return _with_class("dataclass", path, "fields", _fields_of(names))
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(cls, "model_dump"):
        return _with_class("pydantic", path, "fields", _pydantic_fields(tuple(model_fields)))
    # Subclasses of the JSON types (str and int enums are handled above) keep their value.
    for json_base in (str, bool, int):
        if issubclass(cls, json_base):
            return _as_base(json_base)
    if issubclass(cls, float):
        return lambda value, depth: _float(float(value))
    if issubclass(cls, dict):
        return lambda value, depth: _encode(dict(value), depth)
    if issubclass(cls, list):
        return lambda value, depth: _encode(list(value), depth)
    return lambda value, depth: _opaque(value)


def _as_base(base: type) -> Encoder:
    return lambda value, depth: base(value)


# datetime before date: a datetime is a date.
_ISO: Final[tuple[tuple[type, str], ...]] = (
    (datetime.datetime, "datetime"),
    (datetime.date, "date"),
    (datetime.time, "time"),
)
_BY_STR: Final[tuple[tuple[type, str], ...]] = (
    (decimal.Decimal, "decimal"),
    (uuid.UUID, "uuid"),
    (pathlib.PurePath, "path"),
)


def _fields_of(names: tuple[str, ...]) -> Callable[[Any, int], dict[str, Any]]:
    def fields(value: Any, depth: int) -> dict[str, Any]:
        return {name: _encode(getattr(value, name), depth + 1) for name in names}

    return fields


def _pydantic_fields(names: tuple[str, ...]) -> Callable[[Any, int], dict[str, Any]]:
    def fields(value: Any, depth: int) -> dict[str, Any]:
        out = {name: _encode(getattr(value, name, None), depth + 1) for name in names}
        extra = getattr(value, "__pydantic_extra__", None)
        if isinstance(extra, dict):
            for name, item in extra.items():
                out[name] = _encode(item, depth + 1)
        return out

    return fields


def _opaque(value: Any) -> dict[str, Any]:
    try:
        text = repr(value)[:_REPR_LIMIT]
    except Exception:
        text = f"<unrepresentable {type(value).__qualname__}>"
    return {TAG: "repr", "class": _class_path(type(value)), "repr": text}


def dumps(value: Any) -> str:
    """The typed JSON text of ``value`` (compact, UTF-8, no NaN)."""
    return _encode_json(_encode(value, 0))


def dumps_tree(tree: Any) -> str:
    """The JSON text of a tree :func:`encode` returned."""
    return _encode_json(tree)


def omitted(chars: int, limit: int) -> str:
    """The marker recorded instead of a value whose JSON is longer than ``limit``."""
    return _encode_json({TAG: "omitted", "chars": chars, "limit": limit})


def is_omitted(tree: Any) -> bool:
    """Whether a decoded JSON tree (``json.loads`` of a recorded value) is the size marker."""
    return isinstance(tree, dict) and tree.get(TAG) == "omitted"


@dataclasses.dataclass(frozen=True)
class Unresolved:
    """A tagged value :func:`loads` could not rebuild (class not imported, or a ``repr``)."""

    type: str
    cls: str | None
    data: Any


def _resolve(path: Any) -> type | None:
    """The class at ``module:Qual`` if that module is already imported."""
    if not isinstance(path, str) or ":" not in path:
        return None
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if obj is None or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _decode_dataclass(cls: Any, fields: dict[str, Any]) -> Any:
    # As ``copy`` does: restore the state without running ``__init__``/``__post_init__``.
    obj = cls.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


def _decode_pydantic(cls: Any, fields: dict[str, Any]) -> Any:
    try:
        return cls.model_validate(fields)
    except Exception:
        return cls.model_construct(**fields)


_SIMPLE: Final[dict[str, Callable[[Any], Any]]] = {
    "float": float,
    "bytes": lambda v: base64.b64decode(v),
    "datetime": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
    "timedelta": lambda v: datetime.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": decimal.Decimal,
    "uuid": uuid.UUID,
    "path": pathlib.Path,
}


def decode(tree: Any) -> Any:
    """Rebuild the values of a JSON tree written by :func:`encode`."""
    cls = type(tree)
    if cls is list:
        return [decode(item) for item in tree]
    if cls is not dict:
        return tree
    kind = tree.get(TAG)
    if kind is None:
        return {key: decode(item) for key, item in tree.items()}
    if kind == "bytes":
        return base64.b64decode(tree["base64"])
    if kind == "bytearray":
        return bytearray(base64.b64decode(tree["base64"]))
    if kind in _SIMPLE:
        return _SIMPLE[kind](tree["value"])
    if kind == "dict":
        return {decode(k): decode(v) for k, v in tree["items"]}
    if kind == "tuple":
        return tuple(decode(item) for item in tree["items"])
    if kind == "set":
        return {decode(item) for item in tree["items"]}
    if kind == "frozenset":
        return frozenset(decode(item) for item in tree["items"])
    target = _resolve(tree.get("class"))
    if kind == "class":
        return target if target is not None else Unresolved(kind, tree.get("class"), None)
    if kind == "enum":
        value = decode(tree["value"])
        return target(value) if target is not None else Unresolved(kind, tree.get("class"), value)
    if kind in ("dataclass", "pydantic"):
        fields = {name: decode(value) for name, value in tree["fields"].items()}
        if target is None:
            return Unresolved(kind, tree.get("class"), fields)
        return (
            _decode_dataclass(target, fields)
            if kind == "dataclass"
            else _decode_pydantic(target, fields)
        )
    if kind == "namedtuple":
        items = [decode(item) for item in tree["items"]]
        return target(*items) if target is not None else Unresolved(kind, tree.get("class"), items)
    return Unresolved(str(kind), tree.get("class"), tree)


def plain(tree: Any) -> Any:
    """A JSON tree written by :func:`encode` as plain JSON data, tags removed: dataclasses and
    models as objects of their fields, enums as their values, tuples and sets as lists,
    dates as ISO text, bytes as base64 text (for sending a recorded request over the wire)."""
    cls = type(tree)
    if cls is list:
        return [plain(item) for item in tree]
    if cls is not dict:
        return tree
    kind = tree.get(TAG)
    if kind is None:
        return {key: plain(item) for key, item in tree.items()}
    if kind in ("dataclass", "pydantic"):
        return {name: plain(value) for name, value in tree["fields"].items()}
    if kind == "enum":
        return plain(tree["value"])
    if kind in ("tuple", "set", "frozenset", "namedtuple"):
        return [plain(item) for item in tree["items"]]
    if kind == "dict":
        return {str(plain(k)): plain(v) for k, v in tree["items"]}
    if kind in ("bytes", "bytearray"):
        return tree["base64"]
    if kind == "float":
        return float(tree["value"])
    if kind == "repr":
        return tree.get("repr")
    if kind == "class":
        return tree.get("class")
    return tree.get("value", tree)


def recorded(value: Any, key: str = "agentflight.content.input") -> str:
    """The exact form of ``value`` as the tracer would record it now under ``key``: typed
    JSON, bounded and redacted with the current settings (replay compares a live call's
    arguments with recorded ones in this form)."""
    from ._content import prepare_exact  # the content module imports this one
    from ._runtime import STATE

    return prepare_exact(dumps(value), key, STATE.settings)[0]


def loads(text: str) -> Any:
    """Rebuild the value recorded as typed JSON ``text`` (see the module docstring)."""
    return decode(json.loads(text))
