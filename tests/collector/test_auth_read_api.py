"""API keys, project isolation, and the read API (trace list and span tree)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from google.rpc import status_pb2

from collector import Store
from collector.config import CollectorSettings
from tests.collector.conftest import LiveCollector, all_stored, wait_until
from tests.collector.otlp_builders import PROTOBUF, request, span

Start = Callable[..., LiveCollector]
KEYS = {"key-a": "alpha", "key-b": "beta"}


def send(live: LiveCollector, req: Any, **headers: str) -> int:
    with live.client(**headers) as http:
        response = http.post("/v1/traces", content=req.SerializeToString(), headers=PROTOBUF)
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert status_pb2.Status.FromString(response.content).message
    return response.status_code


def agent_trace(service: str = "svc", model: str = "gpt-4o", error: bool = False) -> Any:
    """An agent span with an LLM child (with an event) and a tool child."""
    trace, root = os.urandom(16), os.urandom(8)
    now = time.time_ns() - 10_000_000_000  # the trace ended before "now", however fast we are
    spans = [
        span("invoke_agent helper", trace_id=trace, span_id=root, start_ns=now,
             duration_ns=3_000_000_000,
             attrs={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}),
        span("chat " + model, trace_id=trace, parent=root, start_ns=now + 10_000_000,
             duration_ns=1_000_000_000, status=2 if error else 1,
             attrs={"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20},
             events=[("gen_ai.content.first_chunk", now + 210_000_000, {"n": 1})]),
        span("execute_tool search", trace_id=trace, parent=root, start_ns=now + 1_100_000_000,
             attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}),
    ]  # fmt: skip
    return request(spans, resource={"service.name": service}), trace.hex()


def test_keys_are_required_and_checked(start_collector: Start) -> None:
    live = start_collector(api_keys=KEYS)
    req, _ = agent_trace()
    assert send(live, req) == 401
    assert send(live, req, authorization="Bearer nope") == 401
    assert send(live, req, authorization="Basic key-a") == 401
    assert send(live, req, authorization="Bearer key-a") == 200
    assert send(live, req, **{"x-api-key": "key-b"}) == 200
    with live.client() as http:  # health and metrics need no key
        assert http.get("/healthz").status_code == 200
        assert http.get("/metrics").status_code == 200
        assert http.get("/readyz").status_code == 200
        assert http.get("/api/traces").status_code == 401


def test_the_key_decides_the_project_and_reads_are_isolated(
    start_collector: Start, store: Store
) -> None:
    live = start_collector(api_keys=KEYS)
    req, trace = agent_trace()
    claim = req.resource_spans[0].resource.attributes.add(key="agentflight.project")
    claim.value.string_value = "beta"  # the payload claims another project: overridden
    assert send(live, req, authorization="Bearer key-a") == 200
    wait_until(lambda: all_stored(store, trace, 3), what="the trace")
    projects = store.query(
        "SELECT DISTINCT project FROM {db:Identifier}.genai_spans WHERE trace_id = {t:String}",
        {"t": trace},
    ).result_rows
    assert projects == [("alpha",)]
    with live.client(authorization="Bearer key-a") as alpha:
        assert alpha.get(f"/api/traces/{trace}").status_code == 200
        assert [t["trace_id"] for t in alpha.get("/api/traces").json()["traces"]] == [trace]
    with live.client(**{"x-api-key": "key-b"}) as beta:
        assert beta.get(f"/api/traces/{trace}").status_code == 404
        assert beta.get("/api/traces").json()["traces"] == []
        assert beta.get("/api/traces", params={"project": "alpha"}).json()["traces"] == []


def test_trace_list_filters(start_collector: Start, store: Store) -> None:
    live = start_collector()
    sent = {
        "a": agent_trace(service="web", model="gpt-4o"),
        "b": agent_trace(service="batch", model="claude-3", error=True),
        "c": agent_trace(service="web", model="claude-3"),
    }
    for req, _ in sent.values():
        assert send(live, req) == 200
    wait_until(
        lambda: all(all_stored(store, trace, 3) for _, trace in sent.values()), what="the traces"
    )
    ids = {name: trace for name, (_, trace) in sent.items()}

    def listed(**params: Any) -> set[str]:
        with live.client() as http:
            response = http.get("/api/traces", params=params)
        assert response.status_code == 200, response.text
        return {t["trace_id"] for t in response.json()["traces"]}

    assert listed() == set(ids.values())
    assert listed(service="web") == {ids["a"], ids["c"]}
    assert listed(model="claude-3") == {ids["b"], ids["c"]}
    assert listed(model="claude-3", service="web") == {ids["c"]}
    assert listed(status="error") == {ids["b"]}
    assert listed(status="OK") == {ids["a"], ids["c"]}
    assert listed(agent="helper") == set(ids.values())
    assert listed(agent="nobody") == set()
    assert listed(until=str(time.time() - 3600)) == set()
    assert listed(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00") == set()
    assert len(listed(limit=2)) == 2
    with live.client() as http:
        summary = http.get("/api/traces", params={"model": "gpt-4o"}).json()["traces"][0]
        assert http.get("/api/traces", params={"status": "meh"}).status_code == 400
        assert http.get("/api/traces", params={"since": "yesterday"}).status_code == 400
        assert http.get("/api/traces", params={"limit": 0}).status_code == 422
    assert summary == {
        "trace_id": ids["a"],
        "project": "default",
        "start": summary["start"],
        "duration_ms": pytest.approx(3000.0),
        "spans": 3,
        "root_span": "invoke_agent helper",
        "services": ["web"],
        "status": "Ok",
        "models": ["gpt-4o"],
        "agents": ["helper"],
        "input_tokens": 100,
        "output_tokens": 20,
    }


def test_one_trace_as_a_span_tree(start_collector: Start, store: Store) -> None:
    live = start_collector()
    req, trace = agent_trace()
    assert send(live, req) == 200
    wait_until(lambda: all_stored(store, trace, 3), what="the trace")
    with live.client() as http:
        tree = http.get(f"/api/traces/{trace.upper()}").json()
        assert http.get(f"/api/traces/{os.urandom(16).hex()}").status_code == 404
        assert http.get("/api/traces/not-an-id").status_code == 400
    assert (tree["trace_id"], tree["span_count"], tree["project"]) == (trace, 3, "default")
    assert tree["duration_ms"] == pytest.approx(3000.0)
    (root,) = tree["spans"]
    assert (root["name"], root["kind"], root["offset_ms"], root["parent_span_id"]) == (
        "invoke_agent helper",
        "Client",
        0.0,
        "",
    )
    llm, tool = root["children"]
    assert (llm["name"], tool["name"]) == ("chat gpt-4o", "execute_tool search")
    assert llm["offset_ms"] == pytest.approx(10.0) and llm["duration_ms"] == 1000.0
    assert llm["status"] == {"code": "Ok", "message": ""}
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == "100"
    assert llm["resource"] == {"service.name": "svc"}
    (event,) = llm["events"]
    assert (event["name"], event["offset_ms"], event["attributes"]) == (
        "gen_ai.content.first_chunk",
        pytest.approx(200.0),
        {"n": "1"},
    )
    assert llm["start"].endswith("Z") and llm["children"] == [] and llm["links"] == []


def test_without_keys_only_loopback_is_allowed() -> None:
    CollectorSettings.resolve(host="127.0.0.1").check_exposure()
    CollectorSettings.resolve(host="::1").check_exposure()
    CollectorSettings.resolve(host="0.0.0.0", api_keys=KEYS).check_exposure()
    with pytest.raises(ValueError, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        CollectorSettings.resolve(host="0.0.0.0").check_exposure()


def test_keys_from_the_environment_and_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# team keys\nkey-c=gamma\n\nkey-d = delta, key-e=delta\n")
    monkeypatch.setenv("AGENTFLIGHT_API_KEYS", "key-a=alpha,key-b=beta")
    monkeypatch.setenv("AGENTFLIGHT_API_KEYS_FILE", str(keys_file))
    keys = dict(CollectorSettings.resolve().api_keys)
    assert keys == {"key-a": "alpha", "key-b": "beta", "key-c": "gamma", "key-d": "delta",
                    "key-e": "delta"}  # fmt: skip
    assert "key-a" not in repr(CollectorSettings.resolve())  # keys never show in logs
    monkeypatch.setenv("AGENTFLIGHT_API_KEYS", "no-project")
    with pytest.raises(ValueError, match="AGENTFLIGHT_API_KEYS: 'no-project' is not of the form"):
        CollectorSettings.resolve()


def test_settings_precedence_argument_environment_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    defaults = CollectorSettings()
    assert (defaults.batch_rows, defaults.max_body_bytes) == (10_000, 16 * 1024 * 1024)
    monkeypatch.setenv("AGENTFLIGHT_BATCH_ROWS", "250")
    monkeypatch.setenv("AGENTFLIGHT_SPOOL_DIR", str(tmp_path))
    assert CollectorSettings.resolve().batch_rows == 250
    assert CollectorSettings.resolve(batch_rows=7).batch_rows == 7
    assert CollectorSettings.resolve().spool_dir == tmp_path
    with pytest.raises(ValueError, match="batch_rows=0: expected a positive number of rows"):
        CollectorSettings.resolve(batch_rows=0)
    monkeypatch.setenv("AGENTFLIGHT_BATCH_ROWS", "lots")
    with pytest.raises(ValueError, match="AGENTFLIGHT_BATCH_ROWS='lots' is not valid"):
        CollectorSettings.resolve()
    with pytest.raises(TypeError, match="unknown collector settings: batch"):
        CollectorSettings.resolve(batch=1)


def test_a_trace_crossing_the_window_edge_is_summarised_whole(
    start_collector: Start, store: Store
) -> None:
    live = start_collector()
    trace, root = os.urandom(16), os.urandom(8)
    minute = 60 * 1_000_000_000
    start = time.time_ns() - 120 * minute  # a 100-minute run that began two hours ago
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    spans = [
        span("invoke_agent long", trace_id=trace, span_id=root, start_ns=start,
             duration_ns=100 * minute, attrs={"gen_ai.operation.name": "invoke_agent"}),
        span("chat early", trace_id=trace, parent=root, start_ns=start + minute,
             attrs={**chat, "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}),
        span("chat late", trace_id=trace, parent=root, start_ns=start + 95 * minute,
             attrs={**chat, "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3}),
    ]  # fmt: skip
    assert send(live, request(spans)) == 200
    wait_until(lambda: all_stored(store, trace.hex(), 3), what="the trace")
    with live.client() as http:  # the last hour holds only the late chat span
        listed = http.get("/api/traces", params={"since": str(time.time() - 3600)}).json()
    (summary,) = listed["traces"]
    assert summary["trace_id"] == trace.hex() and summary["spans"] == 3
    assert summary["root_span"] == "invoke_agent long"
    assert summary["duration_ms"] == pytest.approx(100 * 60_000)
    assert (summary["input_tokens"], summary["output_tokens"]) == (107, 13)
    assert store.trace_spans(trace.hex(), project="") == store.trace_spans(trace.hex())
    assert len(store.trace_spans(trace.hex(), project="")) == 3
    assert len(store.trace_spans(trace.hex(), project="elsewhere")) == 0


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "nan", "1e30", "-5", "9999-01-01T00:00:00", "1e400", "0x10"]
)
def test_out_of_range_times_are_400s(start_collector: Start, value: str) -> None:
    live = start_collector()
    with live.client() as http:
        for name in ("since", "until"):
            response = http.get("/api/traces", params={name: value})
            assert response.status_code == 400, (name, value, response.text)
            assert name in response.json()["detail"]


def test_read_errors_say_what_failed(start_collector: Start, store: Store) -> None:
    live = start_collector(read_max_rows=2)
    req, trace = agent_trace()
    assert send(live, req) == 200
    wait_until(lambda: all_stored(store, trace, 3), what="the trace")
    with live.client() as http:  # over the read limit: narrow the window
        too_much = http.get("/api/traces")
        assert too_much.status_code == 400 and "read too much" in too_much.json()["detail"]
        assert http.get(f"/api/traces/{trace}").status_code == 400
    unreachable = start_collector(url="http://agentflight:x@127.0.0.1:9")
    with unreachable.client() as http:  # ClickHouse away: 503, try again
        away = http.get("/api/traces")
        assert away.status_code == 503 and away.headers["retry-after"]
    store.command("DETACH TABLE {db:Identifier}.genai_spans")  # a broken deployment: a bug
    try:
        with start_collector().client() as http:
            broken = http.get("/api/traces")
            assert broken.status_code == 500 and "request id" in broken.json()["detail"]
    finally:
        store.command("ATTACH TABLE {db:Identifier}.genai_spans")
