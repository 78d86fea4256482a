"""Recorded traffic as the load shape: production LLM calls, recorded through the tracer
into the embedded ClickHouse, replayed against the simulator; and the runs kept there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector import Store
from loadtest import GateOptions, InputError, TraceRow
from loadtest import run_gate as run_gate_in_process
from loadtest._completions import count_tokens
from loadtest._recorded import to_openai_messages
from loadtest._trace import ArrivalSchedule, multiply
from loadtest._window import parse_window
from tests.collector.conftest import LiveCollector, count, wait_until
from tests.loadtest.conftest import AGENTFLIGHT, GateRun, Simulator, child_env

# --- the arrival process and the messages, without a database ---------------------------


def _rows(offsets: list[float]) -> list[TraceRow]:
    return [TraceRow(offset, 10 + i, 1 + i) for i, offset in enumerate(offsets)]


def test_a_multiplier_fills_or_thins_the_recorded_arrival_curve() -> None:
    rows = _rows([0.0, 1.0, 3.0, 7.0])
    doubled = multiply(rows, 2)
    assert [r.offset_s for r in doubled] == [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0]
    assert [r.prompt_tokens for r in doubled] == [10, 10, 11, 11, 12, 12, 13]
    halved = multiply(rows, 0.5)
    assert [(r.offset_s, r.prompt_tokens) for r in halved] == [(0.0, 10), (3.0, 12)]
    assert multiply(rows, 1) == rows
    # 1.5: positions 0, 2/3, 4/3, 2, 8/3 along the curve (index + fraction of the next gap).
    assert [r.offset_s for r in multiply(rows, 1.5)] == pytest.approx(
        [0.0, 2 / 3, 1 + 2 * (1 / 3), 3.0, 3 + 4 * (2 / 3)]
    )
    with pytest.raises(InputError, match="--multiplier"):
        multiply(rows, 0)


@pytest.mark.parametrize("multiplier", [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0])
def test_a_multiplier_scales_the_count_and_keeps_the_shape(multiplier: float) -> None:
    rng = np.random.default_rng(3)
    offsets = np.cumsum(np.concatenate([rng.exponential(0.1, 200), rng.exponential(1.0, 100)]))
    rows = _rows([0.0, *offsets.tolist()])
    out = multiply(rows, multiplier)
    assert len(out) == int((len(rows) - 1) * multiplier + 1e-9) + 1
    times = [r.offset_s for r in out]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] <= rows[-1].offset_s
    # The busy first part keeps its share of the requests (the shape of the curve).
    busy = sum(t <= rows[200].offset_s for t in times) / len(times)
    assert busy == pytest.approx(200 / 300, abs=0.02 + 1 / len(times))


def test_recorded_stages_are_cut_at_offsets_of_the_recording() -> None:
    rows = _rows([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    schedule = ArrivalSchedule(rows, time_scale=2, window_s=10, cuts_s=[2.5, 4.0])
    assert [a.stage for a in schedule] == [0, 0, 0, 1, 2, 2]
    assert [schedule.stage_start(k) for k in range(3)] == [0.0, 1.25, 2.0]
    assert schedule.stage_end(2) == 2.5 and schedule.stage_count == 3


def test_the_window_is_relative_to_now_or_a_date_time() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_window("24h", None, now) == (now - timedelta(hours=24), now)
    assert parse_window("2025-03-01 08:00", "2025-03-01T09:30+01:00", now) == (
        datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 8, 30, tzinfo=UTC),
    )
    assert parse_window("7d", "1d", now)[0] == now - timedelta(days=7)


def test_recorded_messages_become_openai_messages() -> None:
    recorded = [
        {"role": "user", "parts": [{"type": "text", "content": "Where is order 7?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"id": 7}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "sent"}]},
    ]
    instructions = [{"type": "text", "content": "Be brief."}]
    assert to_openai_messages(json.dumps(recorded), json.dumps(instructions)) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is order 7?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"id": 7}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sent"},
    ]
    assert to_openai_messages(json.dumps(recorded)[:40]) is None  # cut at the capture limit
    assert to_openai_messages("[]") is None


# --- recorded through the tracer, replayed against the simulator ------------------------

PHASES = ((75, 0.040), (75, 0.100))
"""The recording: 75 calls 40 ms apart, then 75 calls 100 ms apart (replayed twice as dense:
20 ms and 50 ms, a pace a busy 2-core machine keeps)."""

AGENT = textwrap.dedent(
    """
    import json, sys, time
    import tracer

    tracer.configure(service_name="shop-assistant", endpoint=sys.argv[1], capture_content=True)
    phases = json.loads(sys.argv[2])

    @tracer.llm(provider="openai")
    def chat(model, messages, stream):
        output = 1 + len(messages[0]["content"]) % 3
        tracer.current_span().set_usage(input_tokens=500, output_tokens=output)
        if stream:
            return (piece for piece in ("a", "b"))
        return "ab"

    @tracer.agent("shop")
    def shop(i):
        content = "question %d %s" % (i, "x" * (i % 9))
        result = chat("shop-model", [{"role": "user", "content": content}], i % 3 != 0)
        if not isinstance(result, str):
            "".join(result)

    @tracer.llm(provider="openai")
    def other(model, messages):
        return "other"

    start, due, i = time.monotonic(), 0.0, 0
    for calls, gap in phases:
        for _ in range(calls):
            time.sleep(max(0.0, start + due - time.monotonic()))
            shop(i)
            i += 1
            due += gap
    other("other-model", [{"role": "user", "content": "not the shop"}])
    assert tracer.force_flush(30_000)
    tracer.shutdown()
    """
)


def _record(collector: LiveCollector, store: Store) -> None:
    done = subprocess.run(
        [sys.executable, "-c", AGENT, collector.url, json.dumps(PHASES)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in child_env().items() if not k.startswith(("OTEL_", "AGENTFLIGHT_"))},
    )
    assert done.returncode == 0, done.stderr
    calls = sum(n for n, _ in PHASES) + 1
    wait_until(lambda: count(store, "operation = 'chat'", "genai_spans") == calls, what="calls")


def _db_env(store: Store, **extra: str) -> dict[str, str]:
    return {
        "AGENTFLIGHT_CLICKHOUSE_URL": store.url,
        "AGENTFLIGHT_DATABASE": store.database,
        **extra,
    }


def _recorded(store: Store) -> list[dict[str, Any]]:
    result = store.query(
        "SELECT toUnixTimestamp64Nano(timestamp) / 1e9 AS start_s, input_tokens, output_tokens, "
        "streamed, span_id FROM {db:Identifier}.genai_spans "
        "WHERE operation = 'chat' AND request_model = 'shop-model' ORDER BY timestamp, span_id"
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AGENTFLIGHT, "loadtest", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=child_env(COLUMNS="200", **env),
    )


def test_recorded_traffic_replays_twice_as_dense_and_the_run_is_kept(
    start_collector: Callable[..., LiveCollector],
    store: Store,
    simulator_factory: Callable[..., Simulator],
    run_gate: Callable[..., GateRun],
    tmp_path: Path,
) -> None:
    collector = start_collector()
    _record(collector, store)
    recording = _recorded(store)
    assert len(recording) == 150
    sim = simulator_factory("--prefill-base-ms", "1", "--tbt-base-ms", "1", "--tbt-slope-ms", "0")
    run = run_gate(
        *("--target", sim.url, "--shape", "recorded", "--since", "1h", "--agent", "shop"),
        *("--multiplier", "2", "--messages", "recorded", "--stages", "3s"),
        *("--slo", "ttft_p95<5s,error_rate<1%", "--timeout", "10s"),
        env=_db_env(store, AGENTFLIGHT_ENDPOINT=collector.url),
    )
    assert run.code == 0, run.stdout + run.stderr
    report = run.report
    assert report is not None and report["shape"] == "recorded"

    # Every recorded call twice, minus one: 2 * (150 - 1) + 1 requests, with the recorded
    # model, streaming, output length and messages (not the recorded 500-token size).
    served = sorted(sim.records(), key=lambda r: r["received_at"])
    assert len(served) == 2 * (150 - 1) + 1 == sum(s["requests"] for s in report["stages"])
    rows = [
        TraceRow(
            r["start_s"] - recording[0]["start_s"],
            count_tokens(f"question {i} {'x' * (i % 9)}"),
            r["output_tokens"],
            stream=r["streamed"],
        )
        for i, r in enumerate(recording)
    ]
    expected = multiply(rows, 2)
    assert sorted((r["prompt_tokens"], r["completion_tokens"], r["stream"]) for r in served) == (
        sorted((row.prompt_tokens, row.output_tokens, row.stream) for row in expected)
    )
    assert {r["model"] for r in served} == {"shop-model"}  # the other agent's call is not sent

    # Spacing: the replay's arrival times follow the doubled recording (a least-squares
    # slope of 1, whatever the constant delay), so each phase's gaps are halved.
    sent = np.array([r["received_at"] - served[0]["received_at"] for r in served])
    due = np.array([row.offset_s for row in expected])
    slope = np.polyfit(due, sent, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.1)
    # Twice as dense, on the same timeline: request 2i is recorded call i, so the requests
    # from 2 * first to 2 * last (twice as many) take as long as calls first..last did.
    # (Phase spans, not single gaps: on a busy machine a sender that falls behind catches up
    # in a burst, which moves gaps, not phase ends.)
    starts = [r["start_s"] for r in recording]
    for first, last in ((10, 70), (85, 145)):  # well inside each phase
        recorded_span = starts[last] - starts[first]
        replayed_span = sent[2 * last] - sent[2 * first]
        assert replayed_span / recorded_span == pytest.approx(1.0, abs=0.15)
    # Stages cut at 3 s of the recording: the 40 ms phase, then the 100 ms one.
    cut = multiply([r for r in rows], 2)
    assert [s["requests"] for s in report["stages"]] == [
        sum(row.offset_s < 3 for row in cut),
        sum(row.offset_s >= 3 for row in cut),
    ]

    # The run is kept beside the spans it produced.
    run_id = report["run_id"]
    assert f"report stored as run {run_id} in ClickHouse database {store.database}" in run.stdout
    wait_until(
        lambda: count(store, "loadtest_run_id = {r:String}", "genai_spans", r=run_id) == 299,
        what="the run's spans",
    )
    show = _cli("show", run_id, "--json", env=_db_env(store), cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout) == report
    table = _cli("show", run_id[:6], env=_db_env(store), cwd=tmp_path)
    assert table.returncode == 0 and "PASSED" in table.stdout and "recorded shape" in table.stdout
    listed = _cli("list", "--json", env=_db_env(store), cwd=tmp_path)
    (row,) = json.loads(listed.stdout)
    assert (row["run_id"], row["verdict"], row["exit_code"], row["requests"]) == (
        run_id,
        "passed",
        0,
        299,
    )
    assert row["shape"] == "recorded" and row["stages"] == 2


def _one_line_error(done: subprocess.CompletedProcess[str] | GateRun, fragment: str) -> None:
    stderr = done.stderr
    code = done.returncode if isinstance(done, subprocess.CompletedProcess) else done.code
    assert code == 2, done.stdout + stderr
    assert fragment in stderr
    assert "Traceback" not in stderr + done.stdout
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_bad_recorded_selections_and_a_missing_database_are_one_line(
    store: Store, run_gate: Callable[..., GateRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.insert_spans(
        [_llm_row(datetime.now(UTC) - timedelta(minutes=5), "support", "gpt-4o-mini")],
        column_oriented=False,
    )
    target = ("--target", "http://127.0.0.1:9/v1", "--shape", "recorded")
    # The command: one line on stderr, exit 2, before any load (nothing listens at --target).
    quiet = run_gate(*target, "--since", "1h", "--service", "billing", env=_db_env(store))
    _one_line_error(quiet, "no recorded LLM calls between")
    assert "for service 'billing'" in quiet.stderr
    dead = {"AGENTFLIGHT_CLICKHOUSE_URL": "http://127.0.0.1:9"}
    for args in (("list",), ("show", "abc")):
        _one_line_error(_cli(*args, env=dead, cwd=tmp_path), "cannot reach ClickHouse at")
    unknown = _cli("show", "nope", env=_db_env(store), cwd=tmp_path)
    _one_line_error(unknown, f"no load-test run 'nope' in ClickHouse database {store.database}")
    empty_list = _cli("list", env=_db_env(store), cwd=tmp_path)
    assert empty_list.returncode == 0
    assert f"No load-test runs stored in ClickHouse database {store.database} yet." in (
        empty_list.stdout
    )

    # The same checks in this process (the command prints their message and exits 2).
    def refused(env: dict[str, str], **options: Any) -> str:
        for name in ("AGENTFLIGHT_CLICKHOUSE_URL", "AGENTFLIGHT_DATABASE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AGENTFLIGHT_DATA_DIR", str(tmp_path / "no-database"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        merged = {"target": "http://127.0.0.1:9/v1", "shape": "recorded", **options}
        with pytest.raises(InputError) as caught:
            run_gate_in_process(GateOptions(**merged))
        message = str(caught.value)
        assert "\n" not in message
        return message

    db = _db_env(store)
    assert refused(db, since="2h", until="1h").startswith("no recorded LLM calls between")
    assert "for agent 'shop'" in refused(db, since="1h", agent="shop")
    assert "for model 'gpt-4o'" in refused(db, since="1h", model="gpt-4o")
    assert refused(db, since="1h", messages="recorded").startswith(
        "--messages recorded: none of the 1 recorded LLM calls"
    )
    assert refused(dead, since="1h").startswith("cannot reach ClickHouse at http://127.0.0.1:9")
    assert refused({}, since="1h").startswith("no ClickHouse server: none is running on")


def _llm_row(start: datetime, service: str, model: str) -> list[Any]:
    return [
        start.replace(tzinfo=None),
        "ab" * 16,
        "cd" * 8,
        "",
        "",
        f"chat {model}",
        "Client",
        service,
        {"service.name": service},
        "agentflight",
        "0.1",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": "12",
            "gen_ai.usage.output_tokens": "3",
        },
        50_000_000,
        "Ok",
        "",
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    ]


def test_without_a_database_the_run_says_where_its_report_went(
    simulator_factory: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = simulator_factory("--output-tokens", "2", "--tbt-base-ms", "1")
    env = {
        "AGENTFLIGHT_DATA_DIR": str(tmp_path / "none"),
        "AGENTFLIGHT_ENDPOINT": "http://127.0.0.1:9",
    }
    done = _cli(
        *("--target", sim.url, "--model", "m", "--stages", "1:1", "--slo", "ttft_p50<5s"),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (written,) = tmp_path.glob("agentflight-loadtest-*.json")
    report = json.loads(written.read_text())
    assert f"report written to {written}" in done.stdout
    assert "report not stored: no database (no ClickHouse server" in done.stdout
    assert report["verdict"] == "passed" and report["settings"]["model"] == "m"
    assert os.path.basename(written) == f"agentflight-loadtest-{report['run_id']}.json"
