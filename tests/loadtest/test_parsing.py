"""Parsing what people type: --stages, --slo, durations, rates, and trace CSVs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest import InputError, Stage, example_trace_path, parse_slo, parse_stages, read_trace
from loadtest._trace import ArrivalSchedule, TraceRow
from loadtest._units import parse_duration_ms, parse_duration_s, parse_rate
from tests.loadtest.conftest import AZURE_TRACES


def test_stages_parse_users_and_seconds_with_optional_units() -> None:
    assert parse_stages("10:60,25:60, 50 : 90s,100:2m") == [
        Stage(10, 60.0),
        Stage(25, 60.0),
        Stage(50, 90.0),
        Stage(100, 120.0),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("10", "is not USERS:SECONDS"),
        ("10:", "is not USERS:SECONDS"),
        ("ten:60", "is not a whole number"),
        ("0:60", "at least 1"),
        ("10:soon", "is not a duration"),
        ("10:0.5", "at least 1 s"),
        ("10:60,,20:60", "is not USERS:SECONDS"),
    ],
)
def test_malformed_stages_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_stages(text)
    assert "\n" not in str(caught.value)


@given(st.lists(st.tuples(st.integers(1, 10_000), st.integers(1, 3600)), min_size=1, max_size=8))
def test_stages_round_trip(pairs: list[tuple[int, int]]) -> None:
    stages = parse_stages(",".join(f"{u}:{s}" for u, s in pairs))
    assert [(s.users, s.seconds) for s in stages] == [(u, float(s)) for u, s in pairs]
    assert parse_stages(",".join(str(s) for s in stages)) == stages


def test_the_issue_slo_parses_to_four_objectives() -> None:
    objectives = parse_slo("ttft_p95<800ms,tbt_p99<80ms,error_rate<1%,timeout_rate<0.5%")
    assert [(o.metric, o.quantile, o.op, o.threshold) for o in objectives] == [
        ("ttft", 0.95, "<", 800.0),
        ("tbt", 0.99, "<", 80.0),
        ("error_rate", None, "<", 0.01),
        ("timeout_rate", None, "<", 0.005),
    ]


def test_slo_accepts_other_units_percentiles_and_operators() -> None:
    (e2e, tbt, rate) = parse_slo("E2E_p99.9 <= 1.5s, tbt_p50<12, error_rate<=0.02")
    assert (e2e.metric, e2e.quantile, e2e.op, e2e.threshold) == ("e2e", 0.999, "<=", 1500.0)
    assert tbt.threshold == 12.0  # a bare number is milliseconds
    assert (rate.op, rate.threshold) == ("<=", 0.02)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("ttft_p95", "is not METRIC<VALUE"),
        ("ttft_p95>800ms", "is not METRIC<VALUE"),
        ("latency<800ms", "unknown metric"),
        ("ttft_p100<800ms", "unknown metric"),
        ("ttft_p95<fast", "is not a duration"),
        ("error_rate<lots", "is not a rate"),
        ("error_rate<150%", "outside 0%..100%"),
    ],
)
def test_malformed_slo_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_slo(text)
    assert "\n" not in str(caught.value)


def test_durations_and_rates() -> None:
    assert parse_duration_ms("800ms") == 800
    assert parse_duration_ms("250us") == 0.25
    assert parse_duration_ms("1.5s") == 1500
    assert parse_duration_s("30s") == 30
    assert parse_duration_s("2m") == 120
    assert parse_duration_s("45") == 45
    assert parse_rate("1%") == 0.01
    assert parse_rate("0.5 %") == 0.005
    assert parse_rate("0.25") == 0.25
    with pytest.raises(InputError):
        parse_duration_s("-1s")


def test_the_shipped_example_trace_reads(tmp_path: Path) -> None:
    rows = read_trace(example_trace_path())
    assert 100 <= len(rows) <= 500
    assert rows[0].offset_s == 0
    assert all(a.offset_s <= b.offset_s for a, b in itertools.pairwise(rows))
    assert all(r.prompt_tokens >= 0 and r.output_tokens >= 1 for r in rows)


def test_the_real_azure_traces_read() -> None:
    code = read_trace(AZURE_TRACES / "AzureLLMInferenceTrace_code.csv")
    conv = read_trace(AZURE_TRACES / "AzureLLMInferenceTrace_conv.csv")
    assert (len(code), len(conv)) == (8819, 19366)
    assert 3300 < code[-1].offset_s < 3700  # about an hour of traffic
    schedule = ArrivalSchedule(conv, time_scale=60, window_s=10)
    assert schedule.duration_s == pytest.approx(conv[-1].offset_s / 60)
    assert schedule.stage_count == 6
    assert schedule.peak_arrivals(1.0) > 5  # bursts


def test_timestamps_may_be_seconds_and_rows_are_sorted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n12.5,10,3\n10,20,4\n\n11,0,1\n")
    assert read_trace(path) == [TraceRow(0.0, 20, 4), TraceRow(1.0, 0, 1), TraceRow(2.5, 10, 3)]
    schedule = ArrivalSchedule(read_trace(path), time_scale=2, window_s=1)
    assert [a.due_s for a in schedule] == [0.0, 0.5, 1.25]
    assert [a.stage for a in schedule] == [0, 0, 1]
    assert schedule.peak_arrivals(0.5) == 2
    assert [schedule.claim(), schedule.claim()][1] is not None
    assert schedule.next_stage == 1 and schedule.remaining == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,prompt,output\n1,2,3\n", "has columns time,prompt,output; expected TIMESTAMP"),
        ("TIMESTAMP,ContextTokens\n1,2\n", "expected TIMESTAMP,ContextTokens,GeneratedTokens"),
        ("", "has columns (none)"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "has no requests"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n1,2\n", "line 2: expected 3 values"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\nnoon,2,3\n", "line 2: 'noon,2,3'"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,0\n", "GeneratedTokens >= 1"),
    ],
)
def test_bad_traces_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_trace(path)


def test_a_missing_trace_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read trace"):
        read_trace(tmp_path / "nope.csv")
