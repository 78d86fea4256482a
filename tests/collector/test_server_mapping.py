"""ClickHouse maps the requests it is given into the very rows the collector's mapping writes.

Each request is stored twice in the real embedded ClickHouse: mapped by ClickHouse itself
(``otlp_ingest`` and its view, fed the :class:`Envelope`) in one database, and mapped in Python
(:func:`collector.mapping.map_request`, inserted as Arrow) in another; every stored row must
be the same, byte for byte, as ClickHouse prints it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector import Store
from collector.mapping import TimeWindow
from collector.otlp import decode_payload
from collector.server_mapping import Envelope, accept
from tests.collector.conftest import LiveCollector, count, wait_until
from tests.collector.otlp_builders import PROTOBUF, attributes, request, span
from tests.collector.strategies import requests

T0 = 1_795_000_000_123_456_789
TRICKY_STRINGS = ["", "plain", 'quo"te \\ back', "<a&b>", "tab\tnl\ncr\rbs\bff\f",
                  "\x00\x01\x1f\x7f", "line\u2028para\u2029", "é 🚀 中", "/slash/"]  # fmt: skip
TRICKY_FLOATS = [0.0, -0.0, 0.5, 1e21, 1e20, 1e-6, 9.99e-7, 1e-7, 5e-324, 1.7976931348623157e308,
                 -2.5e-300, 123456789.125, 0.1 + 0.2, math.nan, math.inf, -math.inf]  # fmt: skip
TRICKY_INTS = [0, -1, 2**63 - 1, -(2**63), 42]


@pytest.fixture
def python_store(store: Store) -> Iterator[Store]:
    """A second database, where the same requests are mapped in Python."""
    other = Store.connect(store.url, database=store.database + "_py")
    yield other
    other.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")
    other.close()


def stored(store: Store) -> list[str]:
    rows = store.query("SELECT formatRow('TSV', *) FROM {db:Identifier}.otel_traces").result_rows
    return sorted(str(r[0]) for r in rows)


def both_ways(
    req: ExportTraceServiceRequest, project: str | None, store: Store, python_store: Store
) -> tuple[list[str], list[str]]:
    raw = req.SerializeToString()
    accepted = accept(raw, project, None)
    assert accepted is not None, "a request of scalars and arrays of scalars goes to ClickHouse"
    assert isinstance(accepted.data, Envelope)
    here = decode_payload(raw, project)
    assert (accepted.rows, accepted.rejected, accepted.error_message) == (
        here.rows,
        here.rejected,
        here.error_message,
    )
    for s in (store, python_store):
        s.command("TRUNCATE TABLE {db:Identifier}.otel_traces")
    if accepted.rows:
        store.insert_protobuf(accepted.data.message())
        python_store.insert_arrow(here.table)
    return stored(store), stored(python_store)


def test_the_server_maps_tricky_values_as_the_collector_does(
    store: Store, python_store: Store
) -> None:
    assert store.maps_protobuf
    values: dict[str, Any] = {f"s{i}": v for i, v in enumerate(TRICKY_STRINGS)}
    values |= {f"f{i}": v for i, v in enumerate(TRICKY_FLOATS)}
    values |= {f"i{i}": v for i, v in enumerate(TRICKY_INTS)}
    values |= {"bytes": b"\x00\xffab", "true": True, "false": False, "empty": None}
    values |= {
        "strings": TRICKY_STRINGS,
        "floats": [f for f in TRICKY_FLOATS if math.isfinite(f)],
        "with_nan": [1.0, math.nan],  # Go's json.Marshal fails: the whole value is ""
        "mixed": [1, "two", 3.5, True, None, b"\x01"],
        "none": [],
    }
    first = span("tricky", start_ns=T0, attrs=values, events=[("e", T0 + 1, values)])
    first.links.add(trace_id=bytes(16), span_id=bytes(8), trace_state="t=1")
    first.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8).attributes.extend(
        attributes({"k": [1, 2]})
    )
    second = span("x", start_ns=T0, parent=bytes(8), kind=9, attrs={"k": 1, "K": 1, "k ": 2})
    second.status.code = 7  # type: ignore[assignment]
    req = request([first, second], resource={"service.name": "svc", "agentflight.project": "x"})
    req.resource_spans[0].resource.attributes.extend(attributes({"service.name": 5}))
    # Fields otel_traces does not keep: ClickHouse's schema leaves them out and skips them.
    rs = req.resource_spans[0]
    stored_first = rs.scope_spans[0].spans[0]  # request() copied the spans
    stored_first.flags, stored_first.dropped_attributes_count = 0x301, 3
    stored_first.dropped_events_count = stored_first.dropped_links_count = 1
    stored_first.events[0].dropped_attributes_count = 2
    stored_first.links[0].flags = 0x100
    rs.schema_url, rs.resource.dropped_attributes_count = "https://example/schema", 4
    scope = rs.scope_spans[0]
    scope.schema_url = "https://example/scope"
    scope.scope.attributes.extend(attributes({"nested": {"a": [1, {"b": 2}]}}))
    scope.scope.dropped_attributes_count = 5
    for project in (None, "", "ours"):
        by_clickhouse, here = both_ways(req, project, store, python_store)
        assert len(by_clickhouse) == 2
        assert by_clickhouse == here


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=requests(), project=st.sampled_from([None, "", "p"]))
def test_the_server_maps_any_request_it_takes_as_the_collector_does(
    store: Store, python_store: Store, req: ExportTraceServiceRequest, project: str | None
) -> None:
    raw = req.SerializeToString()
    if accept(raw, project, None) is None:
        assert any(_nested(kv.value) for kv in _all_attributes(req)), "only nested values"
        return
    by_clickhouse, here = both_ways(req, project, store, python_store)
    assert by_clickhouse == here


def _all_attributes(req: ExportTraceServiceRequest) -> Iterator[Any]:
    for rs in req.resource_spans:
        yield from rs.resource.attributes
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield from s.attributes
                for e in s.events:
                    yield from e.attributes
                for link in s.links:
                    yield from link.attributes


def _nested(value: AnyValue) -> bool:
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return True
    return kind == "array_value" and any(
        v.WhichOneof("value") in ("array_value", "kvlist_value") for v in value.array_value.values
    )


@pytest.mark.parametrize(
    "value",
    [{"a": 1}, [[1]], [{"a": 1}]],
    ids=["map", "array-in-array", "map-in-array"],
)
def test_values_it_cannot_hold_are_mapped_by_the_collector(value: Any) -> None:
    req = request([span(attrs={"k": value})])
    assert accept(req.SerializeToString(), None, None) is None
    assert decode_payload(req.SerializeToString(), None).rows == 1


def test_fields_it_does_not_know_are_mapped_by_the_collector() -> None:
    raw = request([span()]).SerializeToString() + b"\xf8\x3e\x01"  # field 999, a varint
    assert accept(raw, None, None) is None
    assert accept(b"\xff\xff", None, None) is None  # malformed: the collector says why


def test_without_the_ingest_view_the_collector_maps_requests_itself(python_store: Store) -> None:
    """Rows inserted into ``otlp_ingest`` (a ``Null`` table) without its view would vanish."""
    assert python_store.maps_protobuf
    python_store.command("DROP VIEW {db:Identifier}.otlp_ingest_mv")
    again = Store.connect(python_store.url, database=python_store.database)
    try:
        assert not again.maps_protobuf
    finally:
        again.close()


def test_refused_spans_are_taken_out_of_what_clickhouse_maps() -> None:
    window = TimeWindow(T0 - 10**9, T0 + 10**12, 1.0, 100.0)
    good = span("good", start_ns=T0)
    old = span("old", start_ns=T0 - 10**12)
    bad = span("bad", start_ns=T0, trace_id=bytes(16))
    raw = request([good, old, bad]).SerializeToString()
    accepted = accept(raw, "p", window)
    here = decode_payload(raw, "p", window)
    assert accepted is not None and isinstance(accepted.data, Envelope)
    assert (accepted.rows, accepted.rejected, accepted.out_of_window) == (1, 2, 1)
    assert accepted.error_message == here.error_message
    kept = ExportTraceServiceRequest.FromString(accepted.data.request)
    assert [s.name for s in kept.resource_spans[0].scope_spans[0].spans] == ["good"]
    assert accepted.table.equals(here.table)


def test_a_batch_of_both_kinds_is_stored_once_through_the_collector(
    start_collector: Callable[..., LiveCollector], store: Store, python_store: Store
) -> None:
    """Requests ClickHouse maps and requests the collector maps, in one batch, over HTTP."""
    live = start_collector(batch_interval_ms=600_000, batch_rows=11)  # one batch of all
    plain = request([span(f"plain {i}", start_ns=T0 + i, attrs={"n": i}) for i in range(5)])
    nested = request([span("nested", start_ns=T0, attrs={"m": {"a": [1, {"b": 2.5}]}})])
    assert accept(plain.SerializeToString(), None, None) is not None
    assert accept(nested.SerializeToString(), None, None) is None
    with live.client() as http:
        for req in (plain, nested, plain):  # the repeat is a new request: stored again
            response = http.post("/v1/traces", content=req.SerializeToString(), headers=PROTOBUF)
            assert response.status_code == 200
    wait_until(lambda: count(store) == 11, what="11 rows")
    for i, req in enumerate((plain, nested, plain)):
        table = decode_payload(req.SerializeToString(), None).table
        python_store.insert_arrow(table, dedup_token=f"request-{i}")
    assert stored(store) == stored(python_store)
    inserts = "agentflight_collector_insert_latency_seconds_count 2.0"  # one of each kind
    assert inserts in httpx.get(live.url + "/metrics").text


def test_a_mapping_clickhouse_refuses_is_done_by_the_collector_from_then_on(
    start_collector: Callable[..., LiveCollector], store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """ClickHouse refuses every insert into ``otlp_ingest`` (its view, replaced by one that
    throws, stands in for a server that cannot map), yet takes the rows mapped by the
    collector: the first batch tries it, the later ones go straight to the collector's
    mapping."""
    store.command("DROP VIEW {db:Identifier}.otlp_ingest_mv")
    store.command(
        "CREATE MATERIALIZED VIEW {db:Identifier}.otlp_ingest_mv ENGINE = Null AS "
        "SELECT throwIf(1, 'cannot map') AS refused FROM {db:Identifier}.otlp_ingest"
    )
    live = start_collector(batch_interval_ms=600_000, batch_rows=3)  # a batch per request

    def noticed() -> int:
        return sum("maps every request itself" in r.getMessage() for r in caplog.records)

    with live.client() as http:
        for i in range(3):
            req = request([span(f"s{i}-{j}", start_ns=T0 + j) for j in range(3)])
            response = http.post("/v1/traces", content=req.SerializeToString(), headers=PROTOBUF)
            assert response.status_code == 200
            wait_until(lambda i=i: count(store) == 3 * (i + 1), what=f"{3 * (i + 1)} rows")
            wait_until(lambda: noticed() == 1, what="the collector to notice")
    metrics = httpx.get(live.url + "/metrics").text
    assert "agentflight_collector_insert_errors_total 1.0" in metrics  # the first batch only
    assert "agentflight_collector_spans_dead_lettered_total 0.0" in metrics
    assert noticed() == 1
