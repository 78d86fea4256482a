"""genai_content (migration 0006): filled by its view from otel_traces, backfilled, one row per
span with content, fetched by trace id (and span id) through the store."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from collector import OTEL_TRACES_COLUMNS, Store
from collector.schema import load_migrations
from tracer import semconv

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


def row(trace_id: str, span_id: str, attrs: dict[str, str], **over: Any) -> list[Any]:
    """One otel_traces row as the contrib exporter writes it."""
    start = over.get("start", NOW)
    values = {
        "Timestamp": start,
        "TraceId": trace_id,
        "SpanId": span_id,
        "ParentSpanId": over.get("parent", ""),
        "TraceState": "",
        "SpanName": over.get("name", "execute_tool find"),
        "SpanKind": "Internal",
        "ServiceName": "svc",
        "ResourceAttributes": over.get("resource", {"service.name": "svc"}),
        "ScopeName": "scope",
        "ScopeVersion": "1.0",
        "SpanAttributes": attrs,
        "Duration": 1_000_000,
        "StatusCode": "Unset",
        "StatusMessage": "",
        "Events.Timestamp": [],
        "Events.Name": [],
        "Events.Attributes": [],
        "Links.TraceId": [],
        "Links.SpanId": [],
        "Links.TraceState": [],
        "Links.Attributes": [],
    }
    return [values[c] for c in OTEL_TRACES_COLUMNS]


SKILL = {
    semconv.GEN_AI_OPERATION_NAME: "execute_tool",
    semconv.GEN_AI_TOOL_NAME: "find",
    semconv.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q":"rust"}',
    semconv.GEN_AI_TOOL_CALL_RESULT: '["Ana"]',
    semconv.CONTENT_INPUT: '{"q":"rust"}',
    semconv.CONTENT_OUTPUT: '{"$type":"tuple","items":["Ana"]}',
}
CHAT = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    semconv.GEN_AI_REQUEST_TEMPERATURE: "0.2",
    semconv.GEN_AI_INPUT_MESSAGES: '[{"role":"user","parts":[]}]',
    semconv.GEN_AI_OUTPUT_MESSAGES: '[{"role":"assistant","parts":[]}]',
    semconv.GEN_AI_TOOL_DEFINITIONS: '[{"type":"function"}]',
    semconv.CONTENT_INPUT: '{"model":"gpt-4o-mini","messages":[]}',
    semconv.CONTENT_TRUNCATED: '["agentflight.content.input"]',
}
NO_CONTENT = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "m"}
OPENLLMETRY = {
    "llm.request.type": "chat",
    "gen_ai.prompt.0.role": "user",
    "gen_ai.prompt.0.content": "hi",
    "gen_ai.request.max_tokens": "5",
    "unrelated.attribute": "x",
}


def test_the_view_copies_content_and_skips_spans_without_any(store: Store) -> None:
    trace = uuid.uuid4().hex
    store.insert_spans(
        [
            row(trace, "a" * 16, SKILL),
            row(trace, "b" * 16, CHAT, resource={"agentflight.project": "p"}),
            row(trace, "c" * 16, NO_CONTENT),
            row(trace, "d" * 16, OPENLLMETRY),
        ],
        column_oriented=False,
    )
    content = store.trace_content(trace)
    assert sorted(content) == ["a" * 16, "b" * 16, "d" * 16]
    skill = content["a" * 16]
    assert (skill["input"], skill["output"]) == (
        SKILL[semconv.CONTENT_INPUT],
        SKILL[semconv.CONTENT_OUTPUT],
    )
    assert (skill["display_input"], skill["display_output"]) == ('{"q":"rust"}', '["Ana"]')
    chat = content["b" * 16]
    assert chat["project"] == "p"
    assert chat["input_messages"] == CHAT[semconv.GEN_AI_INPUT_MESSAGES]
    assert chat["tool_definitions"] == CHAT[semconv.GEN_AI_TOOL_DEFINITIONS]
    assert chat["truncated"] == CHAT[semconv.CONTENT_TRUNCATED]
    assert chat["attributes"] == {
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_REQUEST_TEMPERATURE: "0.2",
    }
    assert content["d" * 16]["attributes"] == {
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hi",
        "gen_ai.request.max_tokens": "5",
    }
    # Scoped by project, and by span.
    assert list(store.trace_content(trace, "p")) == ["b" * 16]
    assert list(store.trace_content(trace, span_id="a" * 16)) == ["a" * 16]
    assert store.trace_content(uuid.uuid4().hex) == {}


def test_a_span_stored_twice_is_one_row(store: Store) -> None:
    trace = uuid.uuid4().hex
    for _ in range(2):
        store.insert_spans([row(trace, "a" * 16, SKILL)], column_oriented=False)
    assert list(store.trace_content(trace)) == ["a" * 16]


def test_the_migration_backfills_what_otel_traces_held(clickhouse_url: str) -> None:
    database = f"test_{uuid.uuid4().hex[:12]}"
    with Store.connect(clickhouse_url, database=database, apply_migrations=False) as s:
        try:
            s.command("CREATE DATABASE {db:Identifier}")
            for migration in load_migrations():
                if migration.version < 6:
                    for statement in migration.statements(database):
                        s.command(statement)
            trace = uuid.uuid4().hex
            s.insert_spans(
                [row(trace, "a" * 16, SKILL), row(trace, "c" * 16, NO_CONTENT)],
                column_oriented=False,
            )
            s.migrate()  # applies everything (0001..0005 again, idempotently), then 0006
            assert list(s.trace_content(trace)) == ["a" * 16]
            assert s.trace_content(trace)["a" * 16]["output"] == SKILL[semconv.CONTENT_OUTPUT]
            # And the view fills it from now on.
            s.insert_spans([row(trace, "e" * 16, SKILL)], column_oriented=False)
            assert sorted(s.trace_content(trace)) == ["a" * 16, "e" * 16]
        finally:
            s.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")


def test_content_is_keyed_for_lookups_by_trace_and_span(store: Store) -> None:
    keys = store.query(
        "SELECT engine, sorting_key, primary_key FROM system.tables "
        "WHERE database = {db:String} AND name = 'genai_content'"
    ).result_rows
    assert keys == [("ReplacingMergeTree", "trace_id, span_id", "trace_id, span_id")]
    indexes = store.query(
        "SELECT name, expr, type FROM system.data_skipping_indices "
        "WHERE database = {db:String} AND table = 'genai_content'"
    ).result_rows
    assert indexes == [("idx_span_id", "span_id", "bloom_filter")]
    codecs = dict(
        store.query(
            "SELECT name, compression_codec FROM system.columns "
            "WHERE database = {db:String} AND table = 'genai_content'"
        ).result_rows
    )
    assert all("ZSTD" in codecs[c] for c in ("input", "output", "input_messages", "attributes"))


def test_retention_applies_to_content_too(store: Store) -> None:
    def ddl() -> str:
        return str(
            store.query(
                "SELECT create_table_query FROM system.tables "
                "WHERE database = {db:String} AND name = 'genai_content'"
            ).result_rows[0][0]
        )

    store.migrate(retention_days=3)
    assert "toIntervalDay(3)" in ddl()
    store.migrate(retention_days=0)
    assert " TTL " not in ddl()
