"""The capacity search's decisions: the bisection, confidence intervals, sample sizes."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest import InputError, RequestResult, parse_slo
from loadtest._levels import Z_95, decide_level, needed_samples, wilson
from loadtest._search import Search, SearchSpec, parse_tolerance
from loadtest._stats import StageStats


def _spec(metric: str = "concurrency", **overrides: float | bool | None) -> SearchSpec:
    values: dict[str, object] = {
        "metric": metric,
        "start": 1.0,
        "maximum": 256.0,
        "tolerance": 1.0,
        "relative": False,
        "level_s": 10.0,
        **overrides,
    }
    return SearchSpec(**values)  # type: ignore[arg-type]


def _run(search: Search, verdict_of: Callable[[float], str]) -> list[float]:
    levels = []
    while (level := search.next_level()) is not None:
        levels.append(level)
        search.record(level, verdict_of(level), {})
    return levels


def test_concurrency_doubles_then_bisects_to_one_user() -> None:
    search = Search(_spec())
    levels = _run(search, lambda level: "passed" if level <= 37 else "failed")
    assert levels == [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]
    result = search.result()
    assert (result["value"], result["upper"], result["verdict"]) == (37, 38, "passed")
    assert result["tolerance"] == 1.0 and not result["reached_max"]
    assert [level["level"] for level in result["levels"]] == levels
    assert all(isinstance(level, int) for level in levels)


@given(st.integers(1, 500), st.integers(1, 8))
def test_the_found_concurrency_is_the_capacity_within_the_tolerance(
    capacity: int, tolerance: int
) -> None:
    search = Search(_spec(maximum=512.0, tolerance=float(tolerance)))
    _run(search, lambda level: "passed" if level <= capacity else "failed")
    result = search.result()
    assert result["verdict"] == "passed"
    assert result["value"] <= capacity < result["upper"]
    assert result["upper"] - result["value"] <= tolerance


@given(st.floats(1.0, 900.0))
def test_a_rate_search_brackets_the_capacity_within_ten_percent(capacity: float) -> None:
    search = Search(_spec("rate", maximum=1000.0, tolerance=0.1, relative=True))
    _run(search, lambda level: "passed" if level <= capacity else "failed")
    result = search.result()
    assert result["value"] <= capacity < result["upper"]
    assert result["upper"] - result["value"] <= 0.1 * result["value"] + 1e-9


def test_the_search_stops_at_max_and_below_the_first_level() -> None:
    capped = Search(_spec(maximum=10.0))
    assert _run(capped, lambda level: "passed") == [1, 2, 4, 8, 10]
    assert capped.result()["reached_max"] and capped.verdict == "passed"
    low = Search(_spec(start=4.0))
    assert _run(low, lambda level: "failed") == [4]
    assert (low.verdict, low.result()["value"]) == ("breached", None)


def test_an_undecided_level_is_not_a_pass_and_can_make_the_result_inconclusive() -> None:
    verdicts = {1: "passed", 2: "passed", 4: "inconclusive", 3: "passed"}
    search = Search(_spec())
    assert _run(search, verdicts.__getitem__) == [1, 2, 4, 3]
    assert (search.verdict, search.result()["value"], search.result()["upper"]) == (
        "inconclusive",
        3,
        4,
    )
    # The lowest level that did not pass bounds the capacity: undecided there, undecided
    # result; undecided beyond a failed level, the bracket is decided.
    first = Search(_spec(tolerance=1.0))
    first.record(1, "passed", {})
    first.record(3, "failed", {})
    first.record(2, "inconclusive", {})
    assert first.verdict == "inconclusive"  # 2 bounds the capacity from above
    decided = Search(_spec())
    decided.record(1, "passed", {})
    decided.record(4, "inconclusive", {})
    decided.record(2, "passed", {})
    decided.record(3, "failed", {})
    assert (decided.verdict, decided.above) == ("passed", 3)
    first_undecided = Search(_spec())
    assert _run(first_undecided, lambda level: "inconclusive") == [1]
    assert first_undecided.verdict == "inconclusive"


@pytest.mark.parametrize(
    ("text", "metric", "expected"),
    [
        (None, "concurrency", (1.0, False)),
        (None, "rate", (0.1, True)),
        ("2", "concurrency", (2.0, False)),
        ("5%", "rate", (0.05, True)),
        ("0.5", "rate", (0.5, False)),
    ],
)
def test_tolerance(text: str | None, metric: str, expected: tuple[float, bool]) -> None:
    assert parse_tolerance(text, metric) == expected


@pytest.mark.parametrize("text", ["0", "-1", "x", "%"])
def test_bad_tolerance(text: str) -> None:
    with pytest.raises(InputError, match="--tolerance"):
        parse_tolerance(text, "rate")


def test_wilson_interval_and_sample_sizes() -> None:
    low, high = wilson(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(95, 100)
    assert (low, high) == (pytest.approx(0.8882, abs=1e-4), pytest.approx(0.9785, abs=1e-4))
    # Every sample under the threshold: a p95 objective is decided after about
    # z^2 * q / (1 - q) = 73 samples, a p99 one after 381.
    assert needed_samples(1.0, 0.95) == math.ceil(Z_95**2 * 0.95 / 0.05) + 1 == 74
    assert needed_samples(1.0, 0.99) == 382
    assert needed_samples(0.95, 0.95) is None


def _level(ttfts: list[float], failed: int = 0) -> StageStats:
    stage = StageStats(0, 1, 10)
    for ttft in ttfts:
        stage.add(RequestResult("ok", 0, e2e_ms=ttft + 10, ttft_ms=ttft))
    for _ in range(failed):
        stage.add(RequestResult("error", 0, e2e_ms=1, error="HTTP 503"))
    return stage


def test_a_level_passes_fails_or_is_inconclusive_by_its_confidence_interval() -> None:
    objectives = parse_slo("ttft_p95<100ms")
    rng = random.Random(4)
    well_under = _level([rng.uniform(10, 50) for _ in range(200)])
    well_over = _level([rng.uniform(150, 200) for _ in range(200)])
    too_few = _level([rng.uniform(10, 50) for _ in range(30)])
    assert decide_level(objectives, well_under).verdict == "passed"
    assert decide_level(objectives, well_over).verdict == "failed"
    undecided = decide_level(objectives, too_few)
    assert undecided.verdict == "inconclusive"
    (check,) = undecided.checks
    assert check.high == math.inf  # 30 samples cannot bound a p95 from above
    assert undecided.needed_requests == 74
    # 94% under the threshold: the interval straddles it until thousands of samples.
    close = _level([50.0] * 188 + [150.0] * 12)
    result = decide_level(objectives, close)
    assert result.verdict == "inconclusive"
    assert result.checks[0].to_json()["needed_samples"] == needed_samples(0.94, 0.95)


def test_failed_requests_decide_a_level_against_the_slo() -> None:
    objectives = parse_slo("ttft_p90<100ms")
    fast_but_failing = _level([20.0] * 150, failed=50)  # 25% fail at once
    result = decide_level(objectives, fast_but_failing)
    assert result.verdict == "failed"
    assert result.checks[0].observed == math.inf
    assert result.checks[0].to_json()["observed"] is None


def test_rates_are_point_checks_and_attainment_gets_an_interval() -> None:
    objectives = parse_slo("ttft_p50<100ms,error_rate<10%")
    stage = _level([20.0] * 95, failed=5)
    for check in decide_level(objectives, stage).checks:
        assert check.verdict == "met"
    for _ in range(95):  # conforming requests, for the attainment target
        stage.conforming += 1
    assert decide_level(objectives, stage, attainment=0.8).verdict == "passed"
    assert decide_level(objectives, stage, attainment=0.99).verdict == "failed"
    assert decide_level(objectives, stage, attainment=0.93).verdict == "inconclusive"
    assert decide_level(objectives, StageStats(0, 1, 1)).verdict == "failed"  # no requests
