"""OTLP attribute values as strings, exactly as the OTel Collector writes them to ClickHouse.

The contrib ClickHouse exporter stores every attribute as a string, using pdata's
``pcommon.Value.AsString()``:

* strings as they are, ints in decimal, bools ``true``/``false``;
* doubles in the shortest form that round-trips, written like an ECMAScript number
  (``1``, ``0.25``, ``1e-7``, ``1e+21``); NaN and infinities come out as Go's
  ``json: unsupported value: NaN`` text;
* bytes in standard base64;
* arrays and maps as Go's ``encoding/json`` writes them: no spaces, map keys sorted,
  ``<``, ``>``, ``&``, U+2028 and U+2029 escaped; a NaN or infinity inside makes the whole
  value ``""`` (Go's marshaller fails and the error is ignored);
* an empty value as ``""`` (``null`` inside an array or a map).

Values are read with the generated ``opentelemetry-proto`` classes; nothing is decoded by hand.
"""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList

__all__ = ["any_value_str", "go_float"]

_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


class _NotFinite(ValueError):
    """A NaN or an infinity inside an array or a map: Go's json.Marshal refuses it."""


def go_float(value: float) -> str:
    """``float64AsString`` of pdata: shortest round-trip digits, ECMAScript number layout."""
    text = repr(value)
    if "e" not in text and "n" not in text:  # the common case: a plain finite decimal
        return text[:-2] if text.endswith(".0") else text
    if math.isnan(value):
        return "json: unsupported value: NaN"
    if math.isinf(value):
        return "json: unsupported value: " + ("+Inf" if value > 0 else "-Inf")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = text.partition("e")
        if exponent.startswith("-0"):  # Go cleans e-07 to e-7 (and keeps e+21)
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    return format(Decimal(text), "f")  # repr uses exponents earlier than Go's 'f' format


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_HTML_ESCAPES)


def _json_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise _NotFinite
    return go_float(value)


def _json_value(value: AnyValue) -> str:
    """One value as Go's ``json.Marshal(value.AsRaw())`` writes it."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return _json_string(value.string_value)
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return _json_float(value.double_value)
    if kind == "array_value":
        return "[" + ",".join([_json_value(item) for item in value.array_value.values]) + "]"
    if kind == "kvlist_value":
        return _json_map(value.kvlist_value)
    if kind == "bytes_value":
        return '"' + base64.b64encode(value.bytes_value).decode("ascii") + '"'
    return "null"


def _json_map(kvlist: KeyValueList) -> str:
    entries: dict[str, AnyValue] = {}
    for kv in kvlist.values:  # the last of duplicate keys wins, as in Map.AsRaw
        entries[kv.key] = kv.value
    return (
        "{"
        + ",".join([_json_string(key) + ":" + _json_value(entries[key]) for key in sorted(entries)])
        + "}"
    )


def any_value_str(value: AnyValue) -> str:
    """``pcommon.Value.AsString()`` of one OTLP ``AnyValue``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return go_float(value.double_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "array_value" or kind == "kvlist_value":
        try:
            return _json_value(value)
        except _NotFinite:
            return ""
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return ""
