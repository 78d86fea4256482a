"""The store: batched inserts, trace fetches, parameterised queries, clear errors."""

from __future__ import annotations

import uuid

import pytest

from collector import OTEL_TRACES_COLUMNS, StorageUnavailableError, Store
from tests.collector.test_schema import exporter_row


def count(store: Store, table: str, trace_id: str) -> int:
    column = "trace_id" if table == "genai_spans" else "TraceId"
    return int(
        store.query(
            f"SELECT count() FROM {{db:Identifier}}.{table} WHERE {column} = {{t:String}}",
            {"t": trace_id},
        ).result_rows[0][0]
    )


def test_column_oriented_insert_and_trace_fetch(store: Store) -> None:
    trace = uuid.uuid4().hex
    rows = [
        exporter_row(trace, f"{i:016x}", {"gen_ai.operation.name": "chat"}, parent="")
        for i in range(50)
    ]
    columns = [list(col) for col in zip(*rows, strict=True)]
    assert store.insert_spans(columns) == 50
    spans = store.trace_spans(trace)
    assert len(spans) == 50
    assert set(spans[0]) == set(OTEL_TRACES_COLUMNS)
    assert spans[0]["SpanAttributes"] == {"gen_ai.operation.name": "chat"}
    assert spans[0]["Events.Name"] == ["gen_ai.choice"]
    assert count(store, "genai_spans", trace) == 50
    assert store.trace_spans(uuid.uuid4().hex) == []


def test_trace_fetch_is_scoped_to_a_project(store: Store) -> None:
    trace = uuid.uuid4().hex
    store.insert_spans(
        [
            exporter_row(trace, "1" * 16, {}, resource={"agentflight.project": "a"}),
            exporter_row(trace, "2" * 16, {}, resource={}),
        ],
        column_oriented=False,
    )
    assert [s["SpanId"] for s in store.trace_spans(trace, project="a")] == ["1" * 16]
    assert [s["SpanId"] for s in store.trace_spans(trace, project="default")] == ["2" * 16]
    assert store.trace_spans(trace, project="b") == []
    assert len(store.trace_spans(trace)) == 2


def test_a_retried_batch_with_the_same_token_is_stored_once(store: Store) -> None:
    trace = uuid.uuid4().hex
    rows = [exporter_row(trace, f"{i:016x}", {"gen_ai.operation.name": "chat"}) for i in range(5)]
    for _ in range(3):
        store.insert_spans(rows, column_oriented=False, dedup_token=f"batch-{trace}")
    assert count(store, "otel_traces", trace) == 5
    assert count(store, "genai_spans", trace) == 5
    assert count(store, "otel_traces_trace_id_ts", trace) == 1
    # A different token is a different batch.
    store.insert_spans(rows, column_oriented=False, dedup_token=f"other-{trace}")
    assert count(store, "otel_traces", trace) == 10


def test_values_are_bound_never_spliced_into_sql(store: Store) -> None:
    hostile = "x' OR 1=1; DROP TABLE otel_traces; --"
    store.insert_spans([exporter_row(hostile, "1" * 16, {})], column_oriented=False)
    assert store.trace_spans(hostile)[0]["TraceId"] == hostile
    assert store.trace_spans("x") == []
    assert store.query("SELECT {v:String}", {"v": hostile}).result_rows == [(hostile,)]


def test_polars_and_arrow_results(store: Store) -> None:
    trace = uuid.uuid4().hex
    store.insert_spans(
        [exporter_row(trace, "1" * 16, {"gen_ai.usage.input_tokens": "9"})], column_oriented=False
    )
    frame = store.query_polars(
        "SELECT trace_id, input_tokens FROM {db:Identifier}.genai_spans "
        "WHERE trace_id = {t:String}",
        {"t": trace},
    )
    assert frame.to_dicts() == [{"trace_id": trace, "input_tokens": 9}]


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(
        StorageUnavailableError, match=r"cannot reach ClickHouse at http://u:\*\*\*@"
    ):
        Store.connect("http://u:secret@127.0.0.1:1")


def test_no_server_configured_says_how_to_start_one(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTFLIGHT_CLICKHOUSE_URL", raising=False)
    monkeypatch.setenv("AGENTFLIGHT_DATA_DIR", str(tmp_path))
    with pytest.raises(StorageUnavailableError, match="agentflight db start"):
        Store.connect()


def test_a_bad_database_name_is_refused(clickhouse_url: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        Store.connect(clickhouse_url, database="x; DROP")
