"""Attribute values are stringified exactly as pdata's Value.AsString() does (the exporter)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.anyvalue import any_value_str, go_float
from tests.collector.otlp_builders import any_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("", ""),
        (0, "0"),
        (-42, "-42"),
        (2**63 - 1, "9223372036854775807"),
        (True, "true"),
        (False, "false"),
        (b"\x00\xffab", "AP9hYg=="),
        (None, ""),
        (["stop", "length"], '["stop","length"]'),
        ([], "[]"),
        ([1, 2.5, True, None, "x"], '[1,2.5,true,null,"x"]'),
        ({"b": 1, "a": [True]}, '{"a":[true],"b":1}'),  # keys sorted, as Go's json does
        ({}, "{}"),
        (["<a & b>"], '["\\u003ca \\u0026 b\\u003e"]'),  # HTML-safe escaping
        (['line\nbreak\t"q"\\'], '["line\\nbreak\\t\\"q\\"\\\\"]'),
        (["\x01\u2028é"], '["\\u0001\\u2028é"]'),  # non-ASCII stays, U+2028 is escaped
        ([b"\x01"], '["AQ=="]'),
        ([[1], {"k": {"n": 1.0}}], '[[1],{"k":{"n":1}}]'),
        ([float("nan")], ""),  # Go's json.Marshal fails: the exporter writes ""
        ({"x": float("inf")}, ""),
    ],
)
def test_values_as_the_exporter_writes_them(value: Any, expected: str) -> None:
    assert any_value_str(any_value(value)) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1.0, "1"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (0.25, "0.25"),
        (123456789.125, "123456789.125"),
        (1e20, "100000000000000000000"),
        (1.5e16, "15000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1e-6, "0.000001"),
        (0.00012, "0.00012"),
        (1e-7, "1e-7"),
        (-2.5e-10, "-2.5e-10"),
        (5e-324, "5e-324"),
        (float("nan"), "json: unsupported value: NaN"),
        (float("inf"), "json: unsupported value: +Inf"),
        (float("-inf"), "json: unsupported value: -Inf"),
    ],
)
def test_doubles_in_shortest_ecmascript_form(number: float, expected: str) -> None:
    assert go_float(number) == expected
    assert any_value_str(AnyValue(double_value=number)) == expected
