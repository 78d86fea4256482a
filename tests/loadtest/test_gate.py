"""``agentflight loadtest`` end to end: real Locust runs against a real simulator on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtest import Capacity, GateOptions, InputError, predict, read_trace
from loadtest._trace import ArrivalSchedule
from tests.loadtest.conftest import GateRun, Simulator, child_env
from tests.otlp_receiver import OtlpReceiver
from tracer import semconv

RAMP = {
    "max_batch": 4,
    "prefill_base_ms": 40,
    "prefill_ms_per_token": 0,
    "tbt_base_ms": 10,
    "tbt_slope_ms": 2,
    "output_tokens": 200,
}
PROFILE = {
    "defaults": {"prefill_base_ms": 5, "tbt_base_ms": 2, "tbt_slope_ms": 0, "output_tokens": 10},
    "models": {
        "ramp": RAMP,
        "flaky-slow": {"error_rate": 0.5, "output_tokens": 100, "tbt_base_ms": 5},
    },
}
LOOSE = "ttft_p95<5s,tbt_p99<500ms,error_rate<1%,timeout_rate<1%"


@pytest.fixture(scope="module")
def sim(simulator_factory: Callable[..., Simulator]) -> Simulator:
    return simulator_factory(profile=PROFILE)


def _one_line_error(run: GateRun, fragment: str) -> None:
    assert run.code == 2, run.stdout + run.stderr
    assert fragment in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_ramp_within_capacity_passes_with_the_latencies_the_model_predicts(
    sim: Simulator, run_gate: Callable[..., GateRun], tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    run = run_gate(
        *("--target", sim.url, "--model", "ramp", "--shape", "ramp", "--stages", "2:3,8:3"),
        *("--prompt-tokens", "16", "--max-tokens", "20", "--slo", LOOSE, "--timeout", "10s"),
        *("--html-out", str(html), "--csv-out", str(tmp_path / "locust")),
    )
    assert run.code == 0, run.stdout + run.stderr
    report = run.report
    assert report is not None
    assert (report["passed"], report["capacity_users"], report["stopped_early"]) == (True, 8, False)
    assert [s["users"] for s in report["stages"]] == [2, 8]
    capacity = Capacity.from_mapping(RAMP)
    for stage in report["stages"]:
        expected = predict(capacity, stage["users"], prompt_tokens=16, output_tokens=20)
        assert stage["passed"] and stage["requests"] >= 10
        assert (stage["error_rate"], stage["timeout_rate"]) == (0.0, 0.0)
        # Lower bounds only: a busy machine makes every figure late, never early, and the
        # simulator sends nothing before the model says it is due.
        assert stage["tbt_ms"]["p50"] >= 0.8 * expected.tbt_ms - 2
        assert stage["ttft_ms"]["p50"] >= 0.7 * expected.ttft_ms - 10
        assert stage["e2e_ms"]["p50"] >= 0.7 * expected.e2e_ms - 10
        assert stage["ttft_ms"]["p50"] < stage["e2e_ms"]["p50"]
        assert [c["passed"] for c in stage["checks"]] == [True] * 4
    # 8 users on 4 batch slots: TTFT includes a whole service time of queueing.
    assert report["stages"][1]["ttft_ms"]["p50"] > 5 * report["stages"][0]["ttft_ms"]["p50"]
    assert "PASSED" in run.stdout and "TTFT ms p50/p95/p99" in run.stdout
    assert "chat ttft" in html.read_text() and "chat tbt" in html.read_text()
    stats = (tmp_path / "locust_stats.csv").read_text()
    assert "chat e2e" in stats and "chat tbt" in stats


def test_every_request_is_traced_with_the_run_id_and_its_stage(
    sim: Simulator, run_gate: Callable[..., GateRun], otlp_receiver: OtlpReceiver
) -> None:
    run = run_gate(
        *("--target", sim.url, "--model", "traced", "--stages", "1:1,2:1"),
        *("--slo", LOOSE, "--max-tokens", "4"),
        env={"AGENTFLIGHT_ENDPOINT": otlp_receiver.url},
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.report is not None and run.report["warnings"] == []
    spans = [{"name": span["name"], **span["attributes"]} for span in otlp_receiver.spans()]
    assert len(spans) == sum(stage["requests"] for stage in run.report["stages"])
    assert {span[semconv.LOADTEST_RUN_ID] for span in spans} == {run.report["run_id"]}
    assert {span[semconv.LOADTEST_STAGE] for span in spans} == {1, 2}
    span = spans[0]
    assert span["name"] == "chat traced"
    assert span[semconv.GEN_AI_REQUEST_MODEL] == "traced"
    assert span[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 4
    assert span[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert span[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["length"]
    assert 0 < span[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < 1
    assert span[semconv.LLM_TBT_COUNT] == 3 and span[semconv.LLM_CHUNK_COUNT] == 4
    assert span[semconv.LLM_STREAMED] is True
    # The tracer's own TBT summary and gap histogram (3 gaps), which analytics pools.
    histogram = dict(part.split(":") for part in span[semconv.LLM_TBT_HISTOGRAM].split(","))
    assert sum(int(n) for n in histogram.values()) == 3
    assert 0 < span[semconv.LLM_TBT_P50_MS] <= span[semconv.LLM_TBT_MAX_MS]
    assert span[semconv.GEN_AI_RESPONSE_ID].startswith("chatcmpl-sim")
    assert semconv.GEN_AI_INPUT_MESSAGES not in span  # synthetic prompts are not captured


def test_an_impossible_slo_stops_the_ramp_after_the_first_stage(
    sim: Simulator, run_gate: Callable[..., GateRun]
) -> None:
    """Also: with no trace collector listening, the run works and says so."""
    run = run_gate(
        *("--target", sim.url, "--model", "fast", "--stages", "2:2,4:2,8:2"),
        *("--slo", "ttft_p50<0.01ms,error_rate<1%"),
        env={"AGENTFLIGHT_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert run.code == 1, run.stdout + run.stderr
    report = run.report
    assert report is not None
    assert (report["passed"], report["capacity_users"], report["stopped_early"]) == (
        False,
        None,
        True,
    )
    assert len(report["stages"]) == 1 and report["planned_stages"] == 3
    checks = report["stages"][0]["checks"]
    assert [(c["slo"], c["passed"]) for c in checks] == [
        ("ttft_p50<0.01ms", False),
        ("error_rate<1%", True),
    ]
    assert report["duration_s"] < 5  # not the 6 s the whole ramp would take
    assert "stage 1 breached ttft_p50<0.01ms" in run.stdout and "FAILED" in run.stdout
    assert report["warnings"] == [
        "no trace collector at http://127.0.0.1:9: this run's spans were not exported"
    ]


def test_errors_and_timeouts_are_counted_apart(
    sim: Simulator, run_gate: Callable[..., GateRun]
) -> None:
    since = sim.last_seq()
    run = run_gate(
        *("--target", sim.url, "--model", "flaky-slow", "--stages", "4:2"),
        *("--timeout", "300ms", "--slo", "error_rate<=100%,timeout_rate<=100%"),
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.report is not None
    stage = run.report["stages"][0]
    # Half fail at once with HTTP 5xx; the rest need 500 ms and hit the 300 ms timeout.
    # The simulator's own record says how many failed: the gate must count exactly those.
    served = [r for r in sim.records(since) if r["model"] == "flaky-slow"]
    failed = sum(r["http_status"] >= 500 for r in served)
    requests = stage["requests"]
    assert 0 < failed < len(served)
    # One request may straddle the end of the run (sent, but not counted in the stage).
    assert abs(requests - len(served)) <= 1
    assert abs(round(stage["error_rate"] * requests) - failed) <= 1
    assert stage["error_rate"] + stage["timeout_rate"] == pytest.approx(1, abs=1e-3)
    # No request finished: the successful-only e2e has no data, while the reported e2e
    # counts every timeout at its timeout. Errors count against every latency objective.
    assert stage["success_only"]["e2e_ms"]["p50"] is None
    assert stage["e2e_ms"]["p99"] == 300.0
    assert stage["attainment"] == 0.0 and stage["goodput_per_s"] == 0.0
    assert set(stage["error_samples"]) <= {
        "HTTP 500: simulated server error",
        "HTTP 503: simulated server error",
        "no complete answer within 0.3s",
    }


def test_a_trace_replay_sends_each_row_with_its_token_counts(
    sim: Simulator, run_gate: Callable[..., GateRun], tmp_path: Path
) -> None:
    trace = tmp_path / "trace.csv"
    rows = [
        f"2023-11-16 18:{15 + i // 30:02d}:{(2 * i) % 60:02d}.1234567,{40 + 8 * i},{3 + i % 5}"
        for i in range(60)
    ]
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "\n".join(rows) + "\n")
    since = sim.last_seq()
    run = run_gate(
        *("--target", sim.url, "--model", "trace", "--shape", "trace", "--trace-csv", str(trace)),
        *("--time-scale", "60", "--trace-window", "1s", "--slo", LOOSE),
    )
    assert run.code == 0, run.stdout + run.stderr
    report = run.report
    assert report is not None and report["passed"] and report["shape"] == "trace"
    schedule = ArrivalSchedule(read_trace(trace), time_scale=60, window_s=1)
    per_window = Counter(arrival.stage for arrival in schedule)
    assert [s["requests"] for s in report["stages"]] == [per_window[0], per_window[1]]
    assert all(s["users"] >= 1 for s in report["stages"])
    served = [r for r in sim.records(since) if r["model"] == "trace"]
    assert sorted((r["prompt_tokens"], r["completion_tokens"]) for r in served) == sorted(
        (row.prompt_tokens, row.output_tokens) for row in read_trace(trace)
    )


# The gate's worker, with the user who sends a trace's last arrival waking a second late.
LATE_LAST_ARRIVAL = """
import sys
import gevent
from loadtest import _worker, users

on_time = users.TraceChatUser._wait_until_due

def late(shape, schedule, due_s):
    due = on_time(shape, schedule, due_s)
    if due_s == schedule.arrivals[-1].due_s:
        gevent.sleep(1.0)  # a busy machine: past the end of the arrival's stage
    return due

users.TraceChatUser._wait_until_due = staticmethod(late)
sys.exit(_worker.main())
"""


def test_an_arrival_sent_late_still_counts_in_its_stage(sim: Simulator, tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    rows = "".join(f"{i / 10},{20 + i},3\n" for i in range(20))
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows)
    options = GateOptions(
        target=sim.url, model="late", shape="trace", trace_csv=str(trace), slo=LOOSE, timeout="5s"
    )
    since = sim.last_seq()
    done = subprocess.run(
        [sys.executable, "-c", LATE_LAST_ARRIVAL],
        input=json.dumps({"options": options.to_json()}),
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=child_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    (report,) = [event["report"] for event in events if event["event"] == "done"]
    assert [stage["requests"] for stage in report["stages"]] == [20]
    served = [r for r in sim.records(since) if r["model"] == "late"]
    assert sorted(r["prompt_tokens"] for r in served) == list(range(20, 40))


def test_an_unreachable_target_is_one_line(run_gate: Callable[..., GateRun]) -> None:
    run = run_gate("--target", "http://127.0.0.1:9/v1", "--model", "m", "--stages", "1:1")
    _one_line_error(run, "cannot reach --target http://127.0.0.1:9/v1")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--stages", "10-60"), "--stages entry '10-60' is not USERS:SECONDS"),
        (("--slo", "ttft<800ms"), "--slo entry 'ttft<800ms': unknown metric"),
    ],
)
def test_malformed_flags_are_one_line(
    sim: Simulator, run_gate: Callable[..., GateRun], flags: tuple[str, ...], fragment: str
) -> None:
    _one_line_error(run_gate("--target", sim.url, "--model", "m", *flags), fragment)


def test_a_csv_with_the_wrong_columns_is_one_line(
    sim: Simulator, run_gate: Callable[..., GateRun], tmp_path: Path
) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text("time,prompt,output\n1,2,3\n")
    run = run_gate(
        *("--target", sim.url, "--model", "m", "--shape", "trace", "--trace-csv", str(trace))
    )
    _one_line_error(run, "has columns time,prompt,output; expected TIMESTAMP,ContextTokens")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"target": "127.0.0.1:8000"}, "is not an http(s) base URL"),
        ({"model": " "}, "--model is empty"),
        ({"timeout": "soon"}, "--timeout 'soon' is not a duration"),
        ({"timeout": "0s"}, "--timeout must be positive"),
        ({"shape": "trace"}, "--shape trace needs --trace-csv FILE"),
        ({"shape": "spike"}, "--shape must be ramp, trace or recorded"),
        ({"model": None}, "--shape ramp needs --model NAME"),
        ({"since": "24h"}, "--since is for --shape recorded only"),
        ({"shape": "recorded"}, "--shape recorded needs --since (e.g. --since 24h)"),
        ({"shape": "recorded", "since": "yesterday"}, "--since 'yesterday' is neither a duration"),
        ({"shape": "recorded", "since": "1h", "until": "2h"}, "is not before --until '2h'"),
        ({"shape": "recorded", "since": "1h", "multiplier": 0}, "--multiplier must be a positive"),
        ({"multiplier": 2.0}, "--multiplier is for --shape trace or recorded"),
        ({"shape": "recorded", "since": "1h", "messages": "all"}, "--messages must be synthetic"),
        ({"messages": "recorded"}, "--messages recorded is for --shape recorded only"),
        ({"shape": "recorded", "since": "1d", "stages": "2h,1h"}, "positive and increasing"),
        ({"search": "users"}, "--search must be concurrency or rate"),
        ({"search": "rate", "shape": "trace", "trace_csv": "t.csv"}, "leave --shape at ramp"),
        ({"search": "concurrency", "stages": "1:1"}, "drop --stages"),
        ({"attainment": "99%"}, "--attainment is for --search only"),
        ({"search": "rate", "attainment": "100%"}, "--attainment must be above 0% and below 100%"),
        ({"search": "concurrency", "max_level": 0.5}, "--max must be at least --search-from (1)"),
        ({"search": "concurrency", "search_from": 1.5}, "must be a whole number of users"),
        ({"search": "rate", "tolerance": "fast"}, "--tolerance 'fast' is not a number"),
        ({"search": "rate", "level_duration": "0.5s"}, "--level-duration must be at least 1s"),
        ({"max_tokens": 0}, "--max-tokens must be at least 1"),
        ({"json_out": "/nonexistent-dir/r.json"}, "--json-out /nonexistent-dir/r.json: directory"),
        ({"shape": "trace", "trace_csv": "t.csv", "time_scale": 0}, "--time-scale must be"),
        ({"shape": "trace", "trace_csv": "t.csv", "trace_window": "0.5s"}, "at least 1s"),
    ],
)
def test_every_option_is_checked_before_any_load(
    options: dict[str, Any], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,3\n")
    merged: dict[str, Any] = {"target": "http://127.0.0.1:8000/v1", "model": "m", **options}
    with pytest.raises(InputError) as caught:
        GateOptions(**merged).validate()
    assert fragment in str(caught.value)


def test_a_trace_plan_sizes_its_user_pool_from_the_peak_in_flight(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(f"{i / 10},5,5\n" for i in range(50))
    )
    plan = GateOptions(
        target="http://h/v1", model="m", shape="trace", trace_csv=str(trace), timeout="1s"
    ).validate()
    assert plan.trace_users == 12  # 11 arrivals fit in a closed 1 s window, plus one spare
    assert plan.planned_stages == 1
