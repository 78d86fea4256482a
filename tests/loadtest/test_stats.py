"""Histograms, stage statistics, SLO evaluation, the report, and the client's SSE reading."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest import RequestResult, parse_slo
from loadtest._attainment import conforms
from loadtest._report import build_report, stage_report
from loadtest._slo import evaluate
from loadtest._sse import StreamMeter
from loadtest._stats import Histogram, StageStats
from tracer import percentile


def test_one_percentile_rule_on_one_scale_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.5) == 2.5 == float(np.percentile(values, 50))
    assert percentile(values, 0) == 1.0
    assert percentile(values, 1) == 4.0
    assert percentile(values, 0.95) == pytest.approx(float(np.percentile(values, 95)))
    histogram = Histogram()
    histogram.extend(values)
    assert histogram.percentile(0.5) == 2.5 and histogram.percentile(0.95) == pytest.approx(3.85)
    assert Histogram().percentile(0.5) is None


@given(st.lists(st.floats(0.01, 60_000, allow_nan=False), min_size=1, max_size=300))
def test_histogram_percentiles_stay_within_its_precision(values: list[float]) -> None:
    histogram = Histogram()
    histogram.extend(values)
    exact = sorted(values)
    for q in (0, 0.5, 0.95, 0.99, 1):
        expected = percentile(exact, q)
        got = histogram.percentile(q)
        assert expected is not None and got is not None
        assert got == pytest.approx(expected, rel=0.011, abs=0.051)


def test_histogram_of_many_samples_stays_small() -> None:
    rng = random.Random(3)
    histogram = Histogram()
    for _ in range(200_000):
        histogram.add(rng.lognormvariate(3, 1))
    assert len(histogram.buckets) < 5000
    assert histogram.count == 200_000
    assert histogram.summary()["p50"] == pytest.approx(20.1, rel=0.03)  # e**3


def _stage() -> StageStats:
    stage = StageStats(index=0, users=10, planned_s=60)
    stage.started_at, stage.ended_at = 100.0, 110.0
    for i in range(96):
        stage.add(
            RequestResult(
                "ok", 0, e2e_ms=500 + i, ttft_ms=100 + i, gaps_ms=[10.0] * 9, output_tokens=10
            )
        )
    stage.add(RequestResult("error", 0, e2e_ms=5, error="HTTP 503: simulated server error"))
    stage.add(RequestResult("error", 0, e2e_ms=5, error="HTTP 503: simulated server error"))
    stage.add(RequestResult("timeout", 0, e2e_ms=30_000, ttft_ms=900, gaps_ms=[50.0]))
    stage.add(RequestResult("error", 0, e2e_ms=40, ttft_ms=50, error="stream ended before [DONE]"))
    return stage


def test_stage_stats_count_outcomes_and_keep_latencies() -> None:
    stage = _stage()
    assert (stage.requests, stage.errors, stage.timeouts, stage.failed) == (100, 3, 1, 4)
    assert stage.error_rate == 0.03 and stage.timeout_rate == 0.01
    assert stage.ok_e2e.count == 96  # success only
    assert stage.e2e.count == 97  # and the timeout, at its timeout
    assert stage.e2e.max == 30_000
    assert stage.ttft.count == 98  # every first token counts
    assert stage.ok_ttft.count == 96
    assert stage.tbt.count == 96 * 9 + 1 and stage.ok_tbt.count == 96 * 9
    assert stage.error_samples == {
        "HTTP 503: simulated server error": 2,
        "timeout": 1,
        "stream ended before [DONE]": 1,
    }


def test_a_timeout_counts_in_the_percentiles_at_its_timeout() -> None:
    """Saturation: half the requests time out at 10 s. Success-only percentiles look fine;
    the reported ones do not."""
    stage = StageStats(index=0, users=10, planned_s=60)
    for i in range(50):
        stage.add(RequestResult("ok", 0, e2e_ms=1000 + i, ttft_ms=100 + i))
    for i in range(50):
        ttft = None if i % 2 else 9000.0  # half never saw a first token
        stage.add(RequestResult("timeout", 0, e2e_ms=10_000, ttft_ms=ttft))
    assert stage.ok_e2e.summary()["p95"] == pytest.approx(1047, rel=0.01)
    honest = stage.e2e.summary()
    assert (honest["p95"], honest["p99"]) == (10_000, 10_000)
    assert honest["p50"] == pytest.approx((1049 + 10_000) / 2, rel=0.01)
    assert stage.ttft.percentile(0.95) == 10_000  # no first token by the timeout
    assert stage.ok_ttft.percentile(0.95) == pytest.approx(146.55, abs=0.1)


def test_failed_requests_are_misses_in_latency_checks() -> None:
    stage = StageStats(index=0, users=10, planned_s=60)
    for _ in range(90):
        stage.add(RequestResult("ok", 0, e2e_ms=200, ttft_ms=50, gaps_ms=[5.0]))
    for _ in range(10):  # fail at once: fast, but failed
        stage.add(RequestResult("error", 0, e2e_ms=1, ttft_ms=1, gaps_ms=[1.0]))
    checks = evaluate(parse_slo("ttft_p50<60ms,ttft_p95<60ms,e2e_p89<1s,tbt_p85<10ms"), stage)
    assert [c.passed for c in checks] == [True, False, True, True]
    assert checks[0].observed == 50
    assert checks[1].observed == math.inf
    assert checks[1].to_json() == {
        "slo": "ttft_p95<60ms",
        "observed": None,
        "passed": False,
        "note": "failed requests reach this percentile",
    }
    assert checks[1].describe() == "ttft_p95<60ms: failed requests reach this percentile"


def test_attainment_counts_requests_meeting_every_objective_on_their_own() -> None:
    objectives = parse_slo("ttft_p95<100ms,tbt_p50<20ms,e2e_p99<1s,error_rate<5%")
    good = RequestResult("ok", 0, e2e_ms=500, ttft_ms=90, gaps_ms=[10, 30, 15])
    one_token = RequestResult("ok", 0, e2e_ms=95, ttft_ms=90)
    slow_gaps = RequestResult("ok", 0, e2e_ms=500, ttft_ms=90, gaps_ms=[25, 30, 15])
    late = RequestResult("ok", 0, e2e_ms=500, ttft_ms=100, gaps_ms=[10])
    failed = RequestResult("error", 0, e2e_ms=5, ttft_ms=1)
    assert [conforms(r, objectives) for r in (good, one_token, slow_gaps, late, failed)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    stage = StageStats(index=0, users=1, planned_s=1)
    stage.started_at, stage.ended_at = 0.0, 2.0
    for result in (good, one_token, slow_gaps, late, failed):
        stage.add(result, conforming=conforms(result, objectives))
    report = stage_report(stage, evaluate(objectives, stage), users=1)
    assert (report["attainment"], report["goodput_per_s"]) == (0.4, 1.0)


def test_evaluation_checks_every_objective() -> None:
    stage = _stage()
    checks = evaluate(
        parse_slo("ttft_p50<200ms,tbt_p99<=50ms,error_rate<1%,timeout_rate<2%"), stage
    )
    assert [c.passed for c in checks] == [True, True, False, True]
    assert checks[2].observed == 0.03
    assert "observed 3.00%" in checks[2].describe()


def test_a_stage_without_data_fails_its_objectives() -> None:
    checks = evaluate(parse_slo("ttft_p95<1s,error_rate<1%"), StageStats(0, 5, 10))
    assert [(c.observed, c.passed) for c in checks] == [(None, False), (None, False)]
    assert checks[0].describe().endswith("no data")


def test_the_report_has_the_issue_fields_and_capacity_is_the_last_stage_before_a_breach() -> None:
    good = _stage()
    objectives = parse_slo("ttft_p95<1s")
    first = stage_report(good, evaluate(objectives, good), users=10)
    assert set(first) >= {
        "users",
        "requests",
        "passed",
        "ttft_ms",
        "tbt_ms",
        "e2e_ms",
        "error_rate",
        "timeout_rate",
    }
    assert set(first["ttft_ms"]) == {"p50", "p95", "p99"}
    assert set(first["success_only"]) == {"ttft_ms", "tbt_ms", "e2e_ms"}
    assert first["requests_per_s"] == 10.0
    second = dict(first, users=25)
    broken = dict(first, users=50, passed=False)
    report = build_report([first, second, broken], planned_stages=4, run={"run_id": "r"})
    assert report["passed"] is False
    assert report["capacity_users"] == 25
    assert report["stopped_early"] is True
    assert build_report([first, second], planned_stages=2, run={})["passed"] is True
    assert build_report([first], planned_stages=2, run={})["passed"] is False  # not all ran
    assert build_report([broken], planned_stages=1, run={})["capacity_users"] is None


def _feed(meter: StreamMeter, lines: list[bytes], step: float = 0.01) -> bool:
    now = meter.start
    for line in lines:
        now += step
        if meter.feed(line, now):
            return True
    return False


def test_the_meter_times_content_chunks_only() -> None:
    role = b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}'
    token = b'data: {"choices":[{"delta":{"content":"hi"}}]}'
    usage = (
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,'
        b'"completion_tokens_details":{"reasoning_tokens":7}}}'
    )
    meter = StreamMeter(start=0.0)
    assert _feed(
        meter, [role, b"\n", token, b"\n", token, b": ping\n", token, usage, b"data: [DONE]\n"]
    )
    assert meter.done and meter.error is None
    assert meter.ttft_ms == pytest.approx(30.0)  # the role chunk is not the first token
    assert meter.gaps_ms == pytest.approx([20.0, 20.0])
    assert (meter.output_tokens, meter.reasoning_tokens, meter.prompt_tokens) == (9, 7, 3)


def test_the_meter_reports_broken_streams() -> None:
    token = b'data: {"choices":[{"delta":{"content":"hi"}}]}'
    ended = StreamMeter(start=0.0)
    assert _feed(ended, [token, b""])
    assert ended.error == "stream ended before [DONE]"
    failed = StreamMeter(start=0.0)
    assert _feed(failed, [token, b'data: {"error":{"code":"timeout","message":"late"}}'])
    assert failed.error == "timeout"
    agent = StreamMeter(start=0.0, any_event_is_content=True)
    assert _feed(agent, [b"data: step one", b'data: {"x":1}', b""])
    assert agent.done and agent.content_chunks == 2 and agent.error is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["choices", "delta", "content", "usage", "error", "finish_reason", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(st.lists(st.binary(max_size=80) | JSON.map(lambda v: b"data: " + json.dumps(v).encode())))
def test_the_meter_never_raises_on_what_a_server_may_send(lines: list[bytes]) -> None:
    meter = StreamMeter(start=0.0)
    _feed(meter, lines)
    assert meter.output_tokens >= 0
