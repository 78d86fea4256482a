"""The schema: the OTel exporter's tables exactly, the typed genai_spans view, migrations."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from collector import OTEL_TRACES_COLUMNS, Store
from collector.schema import load_migrations

LC = "LowCardinality(String)"
ATTRS = "Map(LowCardinality(String), String)"
Z = "CODEC(ZSTD(1))"
# (name, type, codec) of the contrib clickhouseexporter's otel_traces table.
EXPORTER_OTEL_TRACES = [
    ("Timestamp", "DateTime64(9)", "CODEC(Delta(8), ZSTD(1))"),
    ("TraceId", "String", Z),
    ("SpanId", "String", Z),
    ("ParentSpanId", "String", Z),
    ("TraceState", "String", Z),
    ("SpanName", LC, Z),
    ("SpanKind", LC, Z),
    ("ServiceName", LC, Z),
    ("ResourceAttributes", ATTRS, Z),
    ("ScopeName", "String", Z),
    ("ScopeVersion", "String", Z),
    ("SpanAttributes", ATTRS, Z),
    ("Duration", "UInt64", Z),
    ("StatusCode", LC, Z),
    ("StatusMessage", "String", Z),
    ("Events.Timestamp", "Array(DateTime64(9))", Z),
    ("Events.Name", f"Array({LC})", Z),
    ("Events.Attributes", f"Array({ATTRS})", Z),
    ("Links.TraceId", "Array(String)", Z),
    ("Links.SpanId", "Array(String)", Z),
    ("Links.TraceState", "Array(String)", Z),
    ("Links.Attributes", f"Array({ATTRS})", Z),
]


def columns(store: Store, table: str) -> list[tuple[str, str, str]]:
    rows = store.query(
        "SELECT name, type, compression_codec FROM system.columns "
        "WHERE database = {db:String} AND table = {t:String} ORDER BY position",
        {"t": table},
    ).result_rows
    return [tuple(r) for r in rows]


def test_otel_traces_is_the_exporters_table(store: Store) -> None:
    assert columns(store, "otel_traces") == EXPORTER_OTEL_TRACES
    assert [c[0] for c in EXPORTER_OTEL_TRACES] == list(OTEL_TRACES_COLUMNS)
    keys = store.query(
        "SELECT partition_key, sorting_key, primary_key FROM system.tables "
        "WHERE database = {db:String} AND name = 'otel_traces'"
    ).result_rows
    assert keys == [
        (
            "toDate(Timestamp)",
            "ServiceName, SpanName, toDateTime(Timestamp)",
            "ServiceName, SpanName, toDateTime(Timestamp)",
        )
    ]
    assert columns(store, "otel_traces_trace_id_ts") == [
        ("TraceId", "String", Z),
        ("Start", "DateTime", "CODEC(Delta(4), ZSTD(1))"),
        ("End", "DateTime", "CODEC(Delta(4), ZSTD(1))"),
    ]


def exporter_row(trace_id: str, span_id: str, attrs: dict[str, str], **over: Any) -> list[Any]:
    """A row as the contrib exporter writes it: attributes stringified, names for enums."""
    start = over.get("start", dt.datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=dt.UTC))
    row = {
        "Timestamp": start,
        "TraceId": trace_id,
        "SpanId": span_id,
        "ParentSpanId": over.get("parent", ""),
        "TraceState": "",
        "SpanName": over.get("name", "chat gpt-4o-mini"),
        "SpanKind": "Client",
        "ServiceName": "svc",
        "ResourceAttributes": over.get("resource", {"service.name": "svc"}),
        "ScopeName": "scope",
        "ScopeVersion": "1.0",
        "SpanAttributes": attrs,
        "Duration": over.get("duration_ns", 1_500_000_000),
        "StatusCode": over.get("status", "Unset"),
        "StatusMessage": "",
        "Events.Timestamp": [start],
        "Events.Name": ["gen_ai.choice"],
        "Events.Attributes": [{"index": "0"}],
        "Links.TraceId": [],
        "Links.SpanId": [],
        "Links.TraceState": [],
        "Links.Attributes": [],
    }
    return [row[c] for c in OTEL_TRACES_COLUMNS]


GENAI_COLUMNS = (
    "project, operation, provider, request_model, response_model, agent_name, route_name, "
    "route_target, skill_name, status_code, duration_ms, streamed, ttft_ms, tbt_mean_ms, "
    "tbt_p50_ms, tbt_p95_ms, tbt_max_ms, chunk_count, input_tokens, output_tokens, "
    "reasoning_tokens, cached_tokens, finish_reason, inflight, timeout_ms, timed_out, "
    "waste_cause, replay_of, replay_run_id, loadtest_run_id, loadtest_stage"
)


def typed(store: Store, span_id: str) -> dict[str, Any]:
    result = store.query(
        f"SELECT {GENAI_COLUMNS} FROM {{db:Identifier}}.genai_spans WHERE span_id = {{s:String}}",
        {"s": span_id},
    )
    assert len(result.result_rows) == 1, result.result_rows
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def test_agentflight_attributes_come_out_typed(store: Store) -> None:
    trace = uuid.uuid4().hex
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": '["length"]',
        "gen_ai.response.time_to_first_chunk": "0.2345",
        "gen_ai.usage.input_tokens": "120",
        "gen_ai.usage.output_tokens": "64",
        "gen_ai.usage.reasoning.output_tokens": "32",
        "gen_ai.usage.cache_read.input_tokens": "100",
        "agentflight.llm.streamed": "true",
        "agentflight.llm.tbt.count": "63",
        "agentflight.llm.tbt.mean_ms": "21.5",
        "agentflight.llm.tbt.p50_ms": "20",
        "agentflight.llm.tbt.p95_ms": "35.25",
        "agentflight.llm.tbt.max_ms": "80",
        "agentflight.llm.chunk_count": "64",
        "agentflight.llm.inflight": "7",
        "agentflight.waste.cause": "truncated",
        "agentflight.replay.of": "f" * 32,
        "agentflight.replay.run_id": "run-1",
        "agentflight.loadtest.run_id": "lt-1",
        "agentflight.loadtest.stage": "3",
    }
    resource = {"service.name": "svc", "agentflight.project": "jobs"}
    store.insert_spans(
        [exporter_row(trace, "a" * 16, attrs, resource=resource, status="Error")],
        column_oriented=False,
    )
    assert typed(store, "a" * 16) == {
        "project": "jobs",
        "operation": "chat",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "agent_name": "",
        "route_name": "",
        "route_target": "",
        "skill_name": "",
        "status_code": "Error",
        "duration_ms": 1500.0,
        "streamed": True,
        "ttft_ms": pytest.approx(234.5),
        "tbt_mean_ms": 21.5,
        "tbt_p50_ms": 20.0,
        "tbt_p95_ms": 35.25,
        "tbt_max_ms": 80.0,
        "chunk_count": 64,
        "input_tokens": 120,
        "output_tokens": 64,
        "reasoning_tokens": 32,
        "cached_tokens": 100,
        "finish_reason": "length",
        "inflight": 7,
        "timeout_ms": None,
        "timed_out": False,
        "waste_cause": "truncated",
        "replay_of": "f" * 32,
        "replay_run_id": "run-1",
        "loadtest_run_id": "lt-1",
        "loadtest_stage": "3",
    }


def test_agent_route_and_skill_spans(store: Store) -> None:
    trace = uuid.uuid4().hex
    store.insert_spans(
        [
            exporter_row(
                trace,
                "1" * 16,
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "job_assistant",
                    "agentflight.agent.timeout_ms": "8000",
                    "agentflight.agent.timed_out": "true",
                },
            ),
            exporter_row(
                trace,
                "2" * 16,
                {"agentflight.route.name": "router", "agentflight.route.target": "search"},
                parent="1" * 16,
            ),
            exporter_row(
                trace,
                "3" * 16,
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "people_search"},
                parent="1" * 16,
            ),
        ],
        column_oriented=False,
    )
    agent, route, skill = typed(store, "1" * 16), typed(store, "2" * 16), typed(store, "3" * 16)
    assert (agent["operation"], agent["agent_name"]) == ("invoke_agent", "job_assistant")
    assert (agent["timeout_ms"], agent["timed_out"], agent["project"]) == (8000, True, "default")
    assert (route["operation"], route["route_name"], route["route_target"]) == (
        "route",
        "router",
        "search",
    )
    assert (skill["operation"], skill["skill_name"]) == ("execute_tool", "people_search")
    # Not streamed: TTFT/TBT are NULL, tokens 0.
    assert (skill["ttft_ms"], skill["tbt_p95_ms"], skill["streamed"]) == (None, None, False)
    assert (skill["input_tokens"], skill["output_tokens"], skill["inflight"]) == (0, 0, None)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        pytest.param(
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4",
                "gen_ai.usage.prompt_tokens": "11",
                "gen_ai.usage.completion_tokens": "22",
            },
            {
                "provider": "openai",
                "request_model": "gpt-4",
                "input_tokens": 11,
                "output_tokens": 22,
            },
            id="legacy-gen_ai",
        ),
        pytest.param(
            {
                "llm.request.type": "chat",
                "gen_ai.system": "Anthropic",
                "llm.request.model": "claude-3",
                "llm.response.model": "claude-3-x",
                "llm.usage.prompt_tokens": "5",
                "llm.usage.completion_tokens": "6",
                "gen_ai.usage.cache_read_input_tokens": "4",
                "gen_ai.completion.0.finish_reason": "stop",
                "llm.is_streaming": "true",
            },
            {
                "operation": "chat",
                "provider": "Anthropic",
                "request_model": "claude-3",
                "response_model": "claude-3-x",
                "input_tokens": 5,
                "output_tokens": 6,
                "cached_tokens": 4,
                "finish_reason": "stop",
                "streamed": True,
            },
            id="openllmetry",
        ),
        pytest.param(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.provider": "openai",
                "llm.token_count.prompt": "30",
                "llm.token_count.completion": "40",
                "llm.token_count.completion_details.reasoning": "10",
                "llm.token_count.prompt_details.cache_read": "20",
            },
            {
                "operation": "chat",
                "provider": "openai",
                "request_model": "gpt-4o",
                "response_model": "gpt-4o",
                "input_tokens": 30,
                "output_tokens": 40,
                "reasoning_tokens": 10,
                "cached_tokens": 20,
            },
            id="openinference",
        ),
        pytest.param(
            {"openinference.span.kind": "TOOL", "tool.name": "lookup"},
            {"operation": "execute_tool", "skill_name": "lookup"},
            id="openinference-tool",
        ),
    ],
)
def test_other_vendors_conventions_map_to_the_same_columns(
    store: Store, attrs: dict[str, str], expected: dict[str, Any]
) -> None:
    span_id = uuid.uuid4().hex[:16]
    store.insert_spans([exporter_row(uuid.uuid4().hex, span_id, attrs)], column_oriented=False)
    row = typed(store, span_id)
    assert {k: row[k] for k in expected} == expected


def test_migrations_are_versioned_and_idempotent(store: Store) -> None:
    assert store.migrate() == []  # already applied by connect()
    versions = store.query(
        "SELECT version, count() FROM {db:Identifier}.schema_migrations FINAL GROUP BY version "
        "ORDER BY version"
    ).result_rows
    assert versions == [(m.version, 1) for m in load_migrations()]
    # A second store on the same database applies nothing either.
    again = Store.connect(store.url, database=store.database)
    assert again.migrate() == []


def test_retention_ttl_is_off_by_default_and_configurable(store: Store) -> None:
    def ddl(table: str) -> str:
        return str(
            store.query(
                "SELECT create_table_query FROM system.tables "
                "WHERE database = {db:String} AND name = {t:String}",
                {"t": table},
            ).result_rows[0][0]
        )

    assert " TTL " not in ddl("otel_traces")
    store.migrate(retention_days=7)
    for table in ("otel_traces", "otel_traces_trace_id_ts", "genai_spans", "genai_minutes"):
        assert "toIntervalDay(7)" in ddl(table), ddl(table)
    store.migrate(retention_days=0)
    assert " TTL " not in ddl("otel_traces") and " TTL " not in ddl("genai_spans")
    with pytest.raises(ValueError, match="retention"):
        store.migrate(retention_days=-1)


def test_migrate_command_runs_against_the_configured_url(clickhouse_url: str) -> None:
    database = f"test_{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "AGENTFLIGHT_CLICKHOUSE_URL": clickhouse_url,  # with credentials, as users set it
        "AGENTFLIGHT_DATABASE": database,
    }
    result = subprocess.run(
        [sys.executable, "-m", "agentflight", "db", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "0002_genai_spans" in result.stdout
    with Store.connect(clickhouse_url, database=database, apply_migrations=False) as s:
        assert s.migrate() == []
        s.command("DROP DATABASE {db:Identifier} SYNC")
