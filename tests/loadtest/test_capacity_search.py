"""``agentflight loadtest --search``: capacity searches against the simulator, end to end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loadtest import Capacity, predict
from tests.loadtest.conftest import GateRun, Simulator

# Hidden reasoning tokens make TTFT grow linearly with the batch: each of the 10 reasoning
# steps lasts 8 ms per sequence decoding, so TTFT = 10 + 10 * 8 * users ms (64 slots: no
# queueing). 2 users: 170 ms; 3 users: 250 ms. The objective sits 40 ms from both.
MODEL = {
    "max_batch": 64,
    "prefill_base_ms": 10,
    "prefill_ms_per_token": 0,
    "tbt_base_ms": 0,
    "tbt_slope_ms": 8,
    "reasoning_tokens": 10,
    "output_tokens": 2,
}
SLO_MS = 210


@pytest.fixture(scope="module")
def sim(simulator_factory: Callable[..., Simulator]) -> Simulator:
    return simulator_factory(profile={"models": {"linear": MODEL, "fast": {"tbt_base_ms": 1}}})


def test_a_concurrency_search_finds_where_ttft_p95_crosses_the_slo(
    sim: Simulator, run_gate: Callable[..., GateRun]
) -> None:
    capacity = Capacity.from_mapping(MODEL)
    expected = max(
        users
        for users in range(1, 64)
        if predict(capacity, users, prompt_tokens=16, output_tokens=2).ttft_ms < SLO_MS
    )
    assert expected == 2
    run = run_gate(
        *("--target", sim.url, "--model", "linear", "--prompt-tokens", "16"),
        *("--search", "concurrency", "--max", "4"),
        # p90: its interval needs fewer requests than p95's, so a busy machine (slower
        # requests, fewer of them per level) still decides every level.
        *("--slo", f"ttft_p90<{SLO_MS}ms", "--level-duration", "5s", "--timeout", "5s"),
    )
    assert run.code == 0, run.stdout + run.stderr
    report = run.report
    assert report is not None
    found = report["capacity"]
    assert (found["metric"], found["verdict"], found["tolerance"]) == ("concurrency", "passed", 1)
    assert abs(found["value"] - expected) <= found["tolerance"]
    assert found["value"] <= expected < found["upper"]  # the search errs on the safe side
    assert report["capacity_users"] == found["value"] and report["verdict"] == "passed"
    levels = {level["level"]: level for level in found["levels"]}
    assert list(levels) == [1, 2, 4, 3]  # doubled until a level failed, then bisected
    for users, level in levels.items():
        predicted = predict(capacity, users, prompt_tokens=16, output_tokens=2).ttft_ms
        assert level["verdict"] == ("passed" if predicted < SLO_MS else "failed")
        (check,) = level["checks"]
        low, high = check["ci95"]
        if level["verdict"] == "passed":  # the whole interval under the objective
            assert high < SLO_MS and level["attainment"] > 0.95
            assert level["goodput_per_s"] == pytest.approx(level["requests_per_s"], rel=0.1)
        else:  # the whole interval over it; every request missed it
            assert low >= SLO_MS and level["goodput_per_s"] == 0
        assert check["observed"] >= 0.95 * predicted  # never early
    assert [stage["users"] for stage in report["stages"]] == [1, 2, 4, 3]
    assert "CAPACITY: 2 users, within 1 users; the SLO breaks at 3 users" in run.stdout


def test_a_search_whose_first_level_cannot_decide_is_inconclusive(
    sim: Simulator, run_gate: Callable[..., GateRun]
) -> None:
    """A p99 objective needs about 380 requests that all meet it; one second of one user
    sends far fewer, so the level (and the search) is inconclusive: exit 3."""
    run = run_gate(
        *("--target", sim.url, "--model", "fast", "--search", "concurrency", "--max", "1"),
        *("--slo", "e2e_p99<10s", "--level-duration", "1s", "--max-tokens", "3"),
    )
    assert run.code == 3, run.stdout + run.stderr
    assert run.report is not None
    found = run.report["capacity"]
    (level,) = found["levels"]
    assert (found["verdict"], found["value"], level["verdict"]) == (
        "inconclusive",
        None,
        "inconclusive",
    )
    assert level["requests"] < 380 and level["needed_requests"] == 382
    (check,) = level["checks"]
    assert check["ci95"][1] is None and check["needed_samples"] == 382
    assert "INCONCLUSIVE" in run.stdout and "about 382 requests would decide" in run.stdout
    assert run.report["verdict"] == "inconclusive" and run.report["exit_code"] == 3


def test_a_rate_search_sends_poisson_arrivals_and_exits_1_below_its_first_level(
    sim: Simulator, run_gate: Callable[..., GateRun]
) -> None:
    since = sim.last_seq()
    run = run_gate(
        *("--target", sim.url, "--model", "fast", "--search", "rate", "--search-from", "30"),
        *("--slo", "ttft_p50<0.01ms", "--level-duration", "2s", "--max-tokens", "2"),
    )
    assert run.code == 1, run.stdout + run.stderr
    assert run.report is not None
    found = run.report["capacity"]
    assert (found["metric"], found["verdict"], found["value"]) == ("rate", "breached", None)
    (level,) = found["levels"]
    served = [r for r in sim.records(since) if r["model"] == "fast"]
    stage = run.report["stages"][0]
    # Every request sent was counted, and the level planned a Poisson count around 30/s.
    assert len(served) == level["requests"] == stage["requests"] > 0
    assert stage["rate"] == 30 and 20 <= stage["planned_requests"] <= 100
    assert "BREACHED: the SLO does not hold at 30 req/s" in run.stdout
