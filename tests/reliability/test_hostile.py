"""Hostile input: fuzzed and malformed bodies, huge and deeply nested values, bad UTF-8,
wrong types, compression bombs, and Schemathesis against the read API's OpenAPI schema.

Guarantee: whatever a client sends, the collector answers, promptly, with 200 (partial
success naming what was refused) or a 4xx naming the problem; never a 5xx, never a hang.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.collector.conftest import LiveCollector
from tests.collector.otlp_builders import JSON, PROTOBUF, request, span
from tests.collector.strategies import json_documents, requests
from tests.reliability.harness import Row, scale

LIMIT = 2 * 1024 * 1024


def nested(depth: int) -> AnyValue:
    value = AnyValue(string_value="bottom")
    for _ in range(depth):
        outer = AnyValue()
        outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
        value = outer
    return value


def handmade() -> Iterator[tuple[str, bytes, dict[str, str]]]:
    huge = request([span(attrs={"gen_ai.input.messages": "x" * 1_500_000})])
    yield "1.5 MB attribute value", huge.SerializeToString(), PROTOBUF
    over = request([span(attrs={"blob": "x" * (LIMIT + 1000)})])
    yield "over the body limit", over.SerializeToString(), PROTOBUF
    deep = request([span()])
    deep.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep").value.CopyFrom(
        nested(3000)
    )
    yield "3000-deep kvlist", deep.SerializeToString(), PROTOBUF
    yield "100000-deep JSON", b"[" * 100_000 + b"]" * 100_000, JSON
    bad_utf8 = request([span(name="ok")]).SerializeToString().replace(b"ok", b"\xff\xfe")
    yield "invalid UTF-8 in a string", bad_utf8, PROTOBUF
    for document in (
        {"resourceSpans": "x"},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5, "spanId": []}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]},
        [1, 2, 3],
    ):
        yield f"wrong types {json.dumps(document)[:40]}", json.dumps(document).encode(), JSON
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    yield "64 MiB gzip bomb", bomb, {**PROTOBUF, "content-encoding": "gzip"}
    yield (
        "truncated gzip",
        gzip.compress(b"abc" * 1000)[:50],
        {**PROTOBUF, "content-encoding": "gzip"},
    )
    yield "empty body", b"", PROTOBUF
    yield "text/plain", b"hello", {"content-type": "text/plain"}


def test_hostile_input_gets_an_answer_never_a_5xx(
    start_collector: Callable[..., LiveCollector],
) -> None:
    live = start_collector(max_body_bytes=LIMIT)
    statuses: dict[int, int] = {}
    sent = 0

    def post(http: httpx.Client, body: bytes, headers: dict[str, str]) -> int:
        nonlocal sent
        sent += 1
        try:
            response = http.post("/v1/traces", content=body, headers=headers)
        except httpx.HTTPError as exc:  # a hang or a dropped connection
            raise AssertionError(f"no answer: {exc!r}") from exc
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400, 413, 415), (response.status_code, response.text)
        return response.status_code

    examples = scale(150, 10_000)
    with live.client() as http:
        expected = {
            "over the body limit": 413, "64 MiB gzip bomb": 413, "text/plain": 415,
            "3000-deep kvlist": 400, "100000-deep JSON": 400, "truncated gzip": 400,
        }  # fmt: skip
        for label, body, headers in handmade():
            code = post(http, body, headers)
            assert code == expected.get(label, code), label

        bodies = st.one_of(
            st.binary(max_size=4096),
            requests().map(lambda r: r.SerializeToString()),
            json_documents().map(lambda d: json.dumps(d).encode()),
        )
        kinds = st.sampled_from([PROTOBUF, JSON, {**PROTOBUF, "content-encoding": "deflate"}])

        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        @given(bodies, kinds)
        def fuzz(body: bytes, headers: dict[str, str]) -> None:
            post(http, body, headers)

        fuzz()

        schema = schemathesis.openapi.from_dict(live.server.config.app.openapi())  # type: ignore[union-attr]
        read_calls = 0
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(max_examples=scale(60, 2_000), deadline=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(operation.as_strategy())
            def read(case: Any) -> None:
                nonlocal read_calls
                read_calls += 1
                response = case.call(base_url=live.url, timeout=30)
                assert response.status_code < 500, (case.formatted_path, case.query,
                                                    response.text[:300])  # fmt: skip

            read()
    Row("hostile input", f"{sent:,} export bodies + {read_calls:,} read-API calls",
        "fuzz, 1.5 MB values, 3000-deep nesting, bad UTF-8, wrong types, gzip bomb", sent,
        statuses.get(200, 0), "-", "-", "-").record()  # fmt: skip
    assert statuses.get(400, 0) > 0 and statuses.get(200, 0) > 0
    assert read_calls > 0
