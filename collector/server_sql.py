"""SQL for migration 0010: OTLP attribute values as strings, in ClickHouse.

The migration's ``${attributes}`` is the column type of a list of attributes as the
``otlp_ingest`` table reads it (see :mod:`collector.server_mapping`), and ``${value}`` the
string of the attribute ``a`` in it, exactly as :func:`collector.anyvalue.any_value_str` writes
it for the values the door lets through: scalars, and arrays of scalars written as Go's
``encoding/json`` does. Generated here rather than written out four times in the migration.
"""

from __future__ import annotations

__all__ = ["SQL_MACROS", "literal"]

_CASES = (
    "value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, "
    "'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7)"
)
_SCALAR = (
    f"{_CASES}, string_value String, bool_value Bool, int_value Int64, double_value Float64, "
    "bytes_value String"
)
ATTRIBUTES = (
    f"Array(Tuple(key String, value Tuple({_SCALAR}, array_value Tuple(values Array(Tuple("
    f"{_SCALAR}))))))"
)
# Go's encoding/json escapes these beyond '"', '\\' and control characters (as json.dumps).
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SHORT = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}


def literal(text: str) -> str:
    """``text`` as a ClickHouse string literal (every byte outside printable ASCII escaped)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in "\\'":
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02X}")
    return "'" + "".join(out) + "'"


def _go_float(x: str) -> str:
    """pdata's float64AsString: shortest digits; Go writes an exponent's sign (``1e+21``)."""
    return (
        f"if(isNaN({x}), 'json: unsupported value: NaN', if(isInfinite({x}), "
        f"if({x} > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), "
        f"replaceRegexpOne(toString({x}), 'e([0-9])', 'e+\\\\1')))"
    )


def _json_string(x: str) -> str:
    """``x`` as a JSON string the way Go writes it (``json.dumps`` plus the HTML escapes)."""
    replacements = [("\\", "\\\\"), ('"', '\\"')]
    replacements += [(chr(c), _SHORT.get(c, f"\\u{c:04x}")) for c in range(32)]
    replacements += list(_HTML.items())
    escaped = x
    for old, new in replacements:
        escaped = f"replaceAll({escaped}, {literal(old)}, {literal(new)})"
    needles = ", ".join(literal(old) for old, _ in replacements)
    return f"concat('\"', if(multiSearchAny({x}, [{needles}]), {escaped}, {x}), '\"')"


def _json_element(e: str) -> str:
    return (
        f"multiIf({e}.value = 'string_value', {_json_string(f'{e}.string_value')}, "
        f"{e}.value = 'int_value', toString({e}.int_value), "
        f"{e}.value = 'double_value', {_go_float(f'{e}.double_value')}, "
        f"{e}.value = 'bool_value', if({e}.bool_value, 'true', 'false'), "
        f"{e}.value = 'bytes_value', concat('\"', base64Encode({e}.bytes_value), '\"'), "
        "'null')"
    )


def _value(v: str) -> str:
    """The string of the attribute value ``v``."""
    items = f"{v}.array_value.values"
    array = (
        f"if(arrayExists(e -> e.value = 'double_value' AND NOT isFinite(e.double_value), "
        f"{items}), '', concat('[', arrayStringConcat(arrayMap(e -> {_json_element('e')}, "
        f"{items}), ','), ']'))"
    )
    return (
        f"multiIf({v}.value = 'string_value', {v}.string_value, "
        f"{v}.value = 'int_value', toString({v}.int_value), "
        f"{v}.value = 'double_value', {_go_float(f'{v}.double_value')}, "
        f"{v}.value = 'bool_value', if({v}.bool_value, 'true', 'false'), "
        f"{v}.value = 'bytes_value', base64Encode({v}.bytes_value), "
        f"{v}.value = 'array_value', {array}, "
        "'')"
    )


SQL_MACROS: dict[str, str] = {"attributes": ATTRIBUTES, "value": _value("a.value")}
