"""OTLP/JSON into the protobuf request, fast, for the documents exporters actually send.

``google.protobuf.json_format.ParseDict`` is pure Python and generic: it looks every field
up in the descriptors and checks it through several layers of calls, which made OTLP/JSON
seven times dearer than protobuf. OTLP/JSON exporters write one shape (camelCase names, hex
ids, integer enums, 64-bit integers as strings), so :func:`build_request` translates that
shape into the field names and types of the protobuf classes (a quick walk over the
document) and lets the protobuf runtime build the whole ``ExportTraceServiceRequest`` from
it in one call, in C.

Anything outside that shape (snake_case names, enum names, ``null``, base64 ids, bytes
values, "NaN" doubles, unknown fields, a value of the wrong type) makes it give up with
:class:`NotFastPath`, and the caller parses the document with ``json_format`` instead, so
every document is read exactly as ``ParseDict`` reads it (a property test holds the two to
the same bytes) and every error message comes from one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["NotFastPath", "build_request"]

_U32 = 2**32
_U64 = 2**64
_I64 = 2**63

Fields = dict[str, Any]


class NotFastPath(Exception):
    """The document is not in the common shape: parse it with ``json_format``."""


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise NotFastPath
    return value


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise NotFastPath
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise NotFastPath
    return value


def _integer(value: Any, low: int, high: int) -> int:
    """An integer in [low, high): a JSON number or a plain decimal string, as exporters
    write 64-bit ones (signs, spaces, underscores and the like are json_format's to read)."""
    if type(value) is str and value.isascii() and value.removeprefix("-").isdigit():
        value = int(value)
    if type(value) is not int or not low <= value < high:
        raise NotFastPath
    return value


def _u32(value: Any) -> int:
    if type(value) is not int or not 0 <= value < _U32:
        raise NotFastPath
    return value


def _u64(value: Any) -> int:
    return _integer(value, 0, _U64)


def _enum(value: Any) -> int:
    if type(value) is not int or not -(2**31) <= value < 2**31:
        raise NotFastPath  # enum names ("SPAN_KIND_CLIENT") are json_format's to read
    return value


def _id(size: int) -> Callable[[Any], bytes]:
    """A hex id of ``size`` bytes, or empty; anything else is left to json_format."""

    def read(value: Any) -> bytes:
        if type(value) is not str or (value and len(value) != 2 * size):
            raise NotFastPath
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise NotFastPath from None
        if len(raw) != len(value) // 2:  # fromhex skips spaces
            raise NotFastPath
        return raw

    return read


def _values(doc: Any) -> list[Any]:
    """The ``values`` of an ``arrayValue`` or a ``kvlistValue``."""
    fields = _dict(doc)
    if len(fields) > ("values" in fields):
        raise NotFastPath
    return _list(fields.get("values", []))


def _any(value: Any) -> Fields:
    fields = _dict(value)
    if not fields:
        return {}
    if len(fields) != 1:
        raise NotFastPath
    ((name, inner),) = fields.items()
    kind = type(inner)
    if name == "stringValue" and kind is str:
        return {"string_value": inner}
    if name == "intValue":
        return {"int_value": _integer(inner, -_I64, _I64)}
    if name == "doubleValue" and (kind is int or (kind is float and math.isfinite(inner))):
        return {"double_value": inner}  # NaN and infinities: json_format's errors
    if name == "boolValue" and kind is bool:
        return {"bool_value": inner}
    if name == "arrayValue":
        return {"array_value": {"values": [_any(v) for v in _values(inner)]}}
    if name == "kvlistValue":
        return {"kvlist_value": {"values": _attributes(_values(inner))}}
    raise NotFastPath


def _attributes(value: Any) -> list[Fields]:
    out = []
    for item in _list(value):
        if type(item) is dict and len(item) == 2:  # what exporters write: key and value
            key, inner = item.get("key"), item.get("value")
            if type(key) is str and type(inner) is dict:
                string = inner.get("stringValue") if len(inner) == 1 else None
                if type(string) is str:
                    out.append({"key": key, "value": {"string_value": string}})
                else:
                    out.append({"key": key, "value": _any(inner)})
                continue
        kv = _dict(item)  # an empty key or no value, as protobuf's own JSON omits them
        if kv.keys() - {"key", "value"}:
            raise NotFastPath
        pair: Fields = {"key": _str(kv.get("key", ""))}
        if "value" in kv:
            pair["value"] = _any(kv["value"])
        out.append(pair)
    return out


Reader = Callable[[Any], Any]


def _message(table: dict[str, tuple[str, Reader]]) -> Callable[[Any], Fields]:
    """A reader of one message type: JSON name -> (protobuf field name, value reader)."""

    def read(doc: Any) -> Fields:
        out = {}
        for name, value in _dict(doc).items():
            entry = table.get(name)
            if entry is None:
                raise NotFastPath  # an unknown field, or a proto field name
            out[entry[0]] = entry[1](value)
        return out

    return read


def _many(read: Callable[[Any], Fields]) -> Callable[[Any], list[Fields]]:
    return lambda value: [read(item) for item in _list(value)]


_ATTRIBUTED: dict[str, tuple[str, Reader]] = {
    "attributes": ("attributes", _attributes),
    "droppedAttributesCount": ("dropped_attributes_count", _u32),
}
_status = _message({"code": ("code", _enum), "message": ("message", _str)})
_event = _message({**_ATTRIBUTED, "timeUnixNano": ("time_unix_nano", _u64), "name": ("name", _str)})
_link = _message(
    {
        **_ATTRIBUTED,
        "traceId": ("trace_id", _id(16)),
        "spanId": ("span_id", _id(8)),
        "traceState": ("trace_state", _str),
        "flags": ("flags", _u32),
    }
)
_span = _message(
    {
        **_ATTRIBUTED,
        "traceId": ("trace_id", _id(16)),
        "spanId": ("span_id", _id(8)),
        "parentSpanId": ("parent_span_id", _id(8)),
        "traceState": ("trace_state", _str),
        "flags": ("flags", _u32),
        "name": ("name", _str),
        "kind": ("kind", _enum),
        "startTimeUnixNano": ("start_time_unix_nano", _u64),
        "endTimeUnixNano": ("end_time_unix_nano", _u64),
        "events": ("events", _many(_event)),
        "droppedEventsCount": ("dropped_events_count", _u32),
        "links": ("links", _many(_link)),
        "droppedLinksCount": ("dropped_links_count", _u32),
        "status": ("status", _status),
    }
)
_scope = _message({**_ATTRIBUTED, "name": ("name", _str), "version": ("version", _str)})
_scope_spans = _message(
    {
        "scope": ("scope", _scope),
        "spans": ("spans", _many(_span)),
        "schemaUrl": ("schema_url", _str),
    }
)
_resource_spans = _message(
    {
        "resource": ("resource", _message(_ATTRIBUTED)),
        "scopeSpans": ("scope_spans", _many(_scope_spans)),
        "schemaUrl": ("schema_url", _str),
    }
)
_request = _message({"resourceSpans": ("resource_spans", _many(_resource_spans))})


def build_request(document: dict[str, Any]) -> ExportTraceServiceRequest:
    """The request an OTLP/JSON document in the exporters' shape describes.

    Raises :class:`NotFastPath` for anything else; ``document`` is never modified.
    """
    try:
        return ExportTraceServiceRequest(**_request(document))
    except (RecursionError, TypeError, ValueError, OverflowError):
        raise NotFastPath from None  # deep nesting, or a value the runtime refused
