"""Bytes from the network never crash the collector: fuzzing the decoder and the server."""

from __future__ import annotations

import gzip
import json
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector import Store
from collector.config import CollectorSettings
from collector.inserter import split_by_partition
from collector.mapping import TimeWindow
from collector.otlp import Encoding, OTLPError, decode_payload, decode_request, map_payload
from collector.read_api import _time_ns
from collector.server_mapping import Envelope
from tests.collector.conftest import LiveCollector, count
from tests.collector.otlp_builders import genai_request
from tests.collector.strategies import json_documents, requests

LIMIT = 1 << 20
VALID = genai_request(3).SerializeToString()
CODINGS = st.sampled_from(["identity", "gzip", "deflate"])
ENCODINGS = st.sampled_from([Encoding.PROTOBUF, Encoding.JSON])


def decode_or_refuse(body: bytes, encoding: Encoding, coding: str) -> None:
    """Decoding either succeeds (rows + rejected add up) or raises OTLPError, nothing else;
    the same whether ClickHouse is to map the request or the collector."""
    outcomes = []
    for server_side in (False, True):
        try:
            decoded = decode_request(body, encoding, coding, None, LIMIT, None, server_side)
        except OTLPError as exc:
            assert exc.status in (400, 413) and exc.message
            outcomes.append((exc.status, exc.message))
            continue
        spans = decoded.spans
        assert spans.rows >= 0 and spans.table.num_rows == spans.rows
        outcomes.append((spans.rows, spans.rejected, spans.error_message))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), ENCODINGS, CODINGS)
def test_arbitrary_bytes(body: bytes, encoding: Encoding, coding: str) -> None:
    decode_or_refuse(body, encoding, coding)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_protobuf_and_gzip(data: st.DataObject) -> None:
    body = bytearray(data.draw(st.sampled_from([VALID, gzip.compress(VALID)])))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    coding = "gzip" if body[:2] == b"\x1f\x8b" else "identity"
    decode_or_refuse(
        bytes(body[:cut] if data.draw(st.booleans()) else body), Encoding.PROTOBUF, coding
    )


@settings(max_examples=300, deadline=None)
@given(json_documents())
def test_arbitrary_json(document: Any) -> None:
    decode_or_refuse(json.dumps(document).encode(), Encoding.JSON, "identity")
    wrapped = {"resourceSpans": [{"scopeSpans": [{"spans": [document]}]}]}
    decode_or_refuse(json.dumps(wrapped).encode(), Encoding.JSON, "identity")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests())
def test_whatever_decodes_clickhouse_accepts(store: Store, req: ExportTraceServiceRequest) -> None:
    """No accepted span can poison an insert: within the window, in the collector's parts."""
    body = zlib.compress(req.SerializeToString())
    window = CollectorSettings.resolve(max_span_age_days=20_000).time_window(time.time_ns())
    spans = decode_request(body, Encoding.PROTOBUF, "deflate", "fuzz", LIMIT, window).spans
    before = count(store)
    for part in split_by_partition(spans.table, np.zeros(spans.rows, dtype=np.int64)):
        store.insert_arrow(part.table, dedup_token=uuid.uuid4().hex)  # same blocks dedupe
    assert count(store) == before + spans.rows
    server_side = decode_request(body, Encoding.PROTOBUF, "deflate", "fuzz", LIMIT, window, True)
    envelope = server_side.spans.data
    if isinstance(envelope, Envelope):  # else it holds values only the collector maps
        store.insert_protobuf(envelope.message(), dedup_token=uuid.uuid4().hex)
        assert count(store) == before + 2 * spans.rows


@settings(max_examples=300, deadline=None)
@given(requests(), st.floats(0.001, 40_000), st.floats(0.001, 1e9))
def test_the_time_window_holds_and_the_spool_keeps_only_what_was_accepted(
    req: ExportTraceServiceRequest, age_days: float, future_s: float
) -> None:
    now = 1_780_000_000 * 10**9
    window = TimeWindow.around(now, age_days, future_s)
    decoded = decode_request(req.SerializeToString(), Encoding.PROTOBUF, "identity", None, LIMIT,
                             window)  # fmt: skip
    spans = decoded.spans
    total = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    assert spans.rows + spans.rejected == total
    starts = spans.table.column("Timestamp").cast(pa.int64()).to_pylist()
    assert all(window.earliest_ns <= start <= window.latest_ns for start in starts)
    # What the spool keeps maps, without a window, to exactly the accepted rows.
    kept = decode_payload(decoded.spool_payload(req.SerializeToString()), None)
    assert kept.rows == spans.rows and kept.table.equals(spans.table)
    # The same when ClickHouse is to map the request.
    body = req.SerializeToString()
    checked = decode_request(body, Encoding.PROTOBUF, "identity", None, LIMIT, window, True)
    assert (checked.spans.rows, checked.spans.rejected) == (spans.rows, spans.rejected)
    assert checked.spans.table.equals(spans.table)
    again = map_payload(checked.spool_payload(body), None, server_side=True)
    assert again.rows == spans.rows and again.table.equals(spans.table)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40) | st.floats().map(str) | st.integers().map(str))
def test_read_api_times_are_a_time_or_a_400(value: str) -> None:
    try:
        ns = _time_ns(value, "since", 0)
    except HTTPException as exc:
        assert exc.status_code == 400 and "since" in str(exc.detail)
        return
    assert 0 <= ns < 2**63


def test_the_server_answers_every_fuzzed_request(
    start_collector: Callable[..., LiveCollector],
) -> None:
    live = start_collector(max_body_bytes=LIMIT)
    statuses: set[int] = set()
    with live.client() as http:

        @settings(max_examples=80, deadline=None)
        @given(st.binary(max_size=512) | json_documents().map(lambda d: json.dumps(d).encode()),
               st.sampled_from(["application/x-protobuf", "application/json", "text/html", ""]),
               st.sampled_from(["", "gzip", "deflate", "zstd"]))  # fmt: skip
        def post(body: bytes, content_type: str, coding: str) -> None:
            headers = {"content-type": content_type, "content-encoding": coding}
            try:
                response = http.post("/v1/traces", content=body, headers=headers)
            except httpx.HTTPError as exc:  # the server must answer, not hang up
                raise AssertionError(f"no answer: {exc}") from exc
            statuses.add(response.status_code)
            assert response.status_code in (200, 400, 413, 415), response.text

        post()
    assert {400, 415} <= statuses
