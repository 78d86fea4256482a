"""Timeout risk: observed, and the projection against a hand-computed case."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from analytics import timeout_risk
from analytics._project import Law, project_calls, run_critical_path
from collector import Store
from tests.analytics.synth import Span, agent_attrs, insert, llm_attrs, new_id, past

# One model, one LLM call per run, exact linear laws:
TTFT_A, TTFT_B = 100.0, 10.0  # TTFT = 100 + 10 c
TBT_A, TBT_B = 5.0, 1.0  # TBT = 5 + 1 c
TOKENS = 20
DEADLINE = 700.0
OVERHEAD = 100.0  # run time outside its LLM call
SLOPE = TTFT_B + TBT_B * TOKENS  # ms a call grows per unit of concurrency: 30


def call_ms(c: int) -> float:
    return TTFT_A + TTFT_B * c + (TBT_A + TBT_B * c) * TOKENS  # 200 + 30 c


def hand_projection(c: int, m: float) -> float:
    """Little's law fixed point, solved by hand: c' = m c (W - S c) / (W - m c S)."""
    w = call_ms(c)
    if m * c * SLOPE >= w:
        return np.inf  # past capacity: no fixed point
    c_new = m * c * (w - SLOPE * c) / (w - m * c * SLOPE)
    return w + OVERHEAD + SLOPE * (c_new - c)


LEVELS = list(range(1, 9)) * 2


@pytest.fixture
def agent_runs(store: Store):  # type: ignore[no-untyped-def]
    t0 = past(hours=2)
    spans, offset = [], 0.0
    for c in LEVELS:
        for _ in range(c):  # c runs start together: each call's concurrency is c
            trace = new_id(32)
            start = t0 + timedelta(seconds=offset)
            run = Span(
                trace,
                start,
                call_ms(c) + OVERHEAD,
                "invoke_agent support",
                agent_attrs("support", timeout_ms=DEADLINE),
            )
            gaps = np.full(TOKENS, TBT_A + TBT_B * c)
            spans.append(run)
            spans.append(
                Span(
                    trace,
                    start + timedelta(milliseconds=50),
                    call_ms(c),
                    "chat law-m",
                    llm_attrs(
                        "law-m", ttft_ms=TTFT_A + TTFT_B * c, gaps_ms=gaps, output_tokens=TOKENS
                    ),
                    parent=run.span_id,
                )
            )
        offset += 2.0
    # A run over its deadline, without LLM calls.
    spans.append(
        Span(
            new_id(32),
            t0 + timedelta(seconds=offset),
            900,
            "invoke_agent support",
            agent_attrs("support", timeout_ms=DEADLINE),
        )
    )
    # An agent without a deadline has no row.
    spans.append(Span(new_id(32), t0, 50, "invoke_agent free", agent_attrs("free")))
    insert(store, spans)
    return t0


def test_projection_equals_the_hand_computed_case(store: Store, agent_runs) -> None:  # type: ignore[no-untyped-def]
    t0 = agent_runs
    df = timeout_risk(store, t0, t0 + timedelta(hours=1), multipliers=(1.5, 2, 3))
    (row,) = df.iter_rows(named=True)
    runs = [c for c in LEVELS for _ in range(c)]
    assert (row["agent"], row["timeout_ms"]) == ("support", DEADLINE)
    assert (row["runs"], row["timed_out"]) == (len(runs) + 1, 1)
    assert row["observed_rate"] == pytest.approx(1 / (len(runs) + 1))
    for m in (1.5, 2.0, 3.0):
        projected = [hand_projection(c, m) for c in runs] + [900.0]
        expected = np.mean(np.array(projected) > DEADLINE)
        assert row["projected"][f"{m:g}"] == pytest.approx(expected), m
    # Breaking multiplier: the smallest m whose projected p99 run exceeds the deadline.
    grid = np.arange(1.0, 10.0, 0.001)
    p99 = [
        np.percentile(np.minimum([hand_projection(c, m) for c in runs] + [900.0], 1e300), 99)
        for m in grid
    ]
    first = grid[int(np.argmax(np.array(p99) > DEADLINE))]
    assert row["breaking_multiplier"] == pytest.approx(first, abs=0.011)
    # The slowest 1 % of 73 runs is one run: the 900 ms one, with no calls: all "other".
    assert row["slow_run_budget"] == {
        "ttft_ms": 0.0,
        "visible_output_ms": 0.0,
        "reasoning_ms": 0.0,
        "skills_ms": 0.0,
        "other_ms": 900.0,
    }


def test_slow_run_budget_splits_the_critical_path(store: Store) -> None:
    t0 = past(hours=2)
    trace = new_id(32)
    run = Span(trace, t0, 1000, "invoke_agent a", agent_attrs("a", timeout_ms=2000))
    at = lambda ms: t0 + timedelta(milliseconds=ms)  # noqa: E731
    spans = [
        run,
        # 40 reasoning tokens at 5 ms inside a 300 ms TTFT; 200 ms of visible output.
        Span(
            trace,
            at(100),
            500,
            "chat",
            llm_attrs(
                "r", ttft_ms=300, gaps_ms=np.full(40, 5.0), output_tokens=80, reasoning_tokens=40
            ),
            parent=run.span_id,
        ),
        Span(
            trace,
            at(650),
            250,
            "execute_tool s",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "s"},
            parent=run.span_id,
        ),
        # Nested in the skill call: off the critical path.
        Span(trace, at(700), 100, "chat", llm_attrs("r", output_tokens=5), parent=run.span_id),
    ]
    insert(store, spans)
    (row,) = timeout_risk(store, t0 - timedelta(minutes=1), t0 + timedelta(hours=1)).iter_rows(
        named=True
    )
    assert row["slow_run_budget"] == {
        "ttft_ms": 100.0,
        "visible_output_ms": 200.0,
        "reasoning_ms": 200.0,
        "skills_ms": 250.0,
        "other_ms": 250.0,
    }


def test_critical_path_and_capacity() -> None:
    starts = np.array([0, 10, 20, 60, 65])
    ends = np.array([50, 30, 55, 100, 90])
    assert run_critical_path(starts, ends).tolist() == [False, False, True, True, False]
    # Past capacity: the fixed point does not exist, the call never converges.
    from analytics._fit import fit_line

    x = np.arange(1, 20, dtype=float)
    law = Law(fit_line(x, 10 * x))
    zero = Law(None)
    added, ok = project_calls(
        3.0,
        np.array([1.0, 10.0]),
        np.array([100.0, 100.0]),
        np.array([0.0, 0.0]),
        [law],
        [zero],
        np.array([0, 0]),
    )
    # c = 1: 3 * 10 < 100 converges to c' = 3 * 90 / 70; c = 10: 3 * 10 * 10 > 100 does not.
    assert ok.tolist() == [True, False]
    assert added[0] == pytest.approx(10 * (3 * 90 / 70 - 1))
    assert added[1] == np.inf


def test_a_law_past_its_production_edge_follows_the_load_test() -> None:
    from analytics._fit import fit_line

    production = fit_line(np.arange(1, 11, dtype=float), 100 + 5 * np.arange(1, 11))
    loadtest = fit_line(np.arange(1, 41, dtype=float), 80 + 9 * np.arange(1, 41))
    law = Law(production, loadtest)
    edge, a1, b1, a2, b2 = law.pieces()
    assert edge == 10
    c = np.linspace(0, 40, 401)
    by_pieces = np.where(c > edge, a2 + b2 * c, a1 + b1 * c)
    assert by_pieces == pytest.approx(law(c))
    assert law(np.array([10.0, 20.0])) == pytest.approx([150.0, 150.0 + 9 * 10])
    # Per-call coefficients give the calls of each model their own law.
    added, ok = project_calls(
        1.5,
        np.array([4.0, 4.0, 4.0]),
        np.array([1000.0, 1000.0, 1000.0]),
        np.array([10.0, 10.0, 10.0]),
        [law, Law(None), law],
        [Law(None), Law(None), Law(None)],
        np.array([0, 1, 7]),  # 7: no law at all
    )
    assert ok.all() and added[0] > 0 and added[1] == 0 and added[2] == 0


def test_decreasing_laws_damped_converge_and_alternating_are_past_capacity() -> None:
    """On a decreasing law the iteration swings around its fixed point. Damped (m c S / W =
    -0.95 here), it settles after about 300 steps; at -3 it hits zero concurrency and then
    alternates between 0 and 50 for ever: past capacity, as the plain iteration finds."""
    from analytics._fit import fit_line

    x = np.arange(1, 21, dtype=float)
    damped, alternating = Law(fit_line(x, 1000 - 47.5 * x)), Law(fit_line(x, 5000 - 150 * x))
    c, w, k = np.array([10.0, 10.0]), np.array([1000.0, 1000.0]), np.array([0.0, 0.0])
    laws, zero = [damped, alternating], [Law(None), Law(None)]
    added, ok = project_calls(2.0, c, w, k, laws, zero, np.array([0, 1]))
    assert ok.tolist() == [True, False]
    # c' = 20 - 0.95 (c' - 10): c' = 29.5 / 1.95, 47.5 ms faster per unit of concurrency
    assert added[0] == pytest.approx(-47.5 * (29.5 / 1.95 - 10), rel=1e-6)
    assert added[1] == np.inf
    for law, i in ((damped, 0), (alternating, 1)):
        want, want_ok, _ = _iterated(2.0, c[:1], w[:1], k[:1], law, Law(None))
        assert want_ok[0] == ok[i]
        assert want[0] == pytest.approx(added[i], rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_each_call_is_projected_as_if_alone(seed: int) -> None:
    """Calls that stop early (converged, alternating, past capacity) are left alone while the
    others go on: a batch gives each call exactly what it gets on its own."""
    from analytics._fit import fit_line

    rng = np.random.default_rng(seed)
    x = np.arange(1, 21, dtype=float)
    laws = [Law(fit_line(x, 2000 + rng.uniform(-150, 40) * x)) for _ in range(4)]
    tbt = [Law(fit_line(x, 20 + rng.uniform(-1, 1) * x)) for _ in range(4)]
    n = 120
    c, w = rng.uniform(1, 20, n), rng.uniform(200, 3000, n)
    k, models = rng.integers(0, 50, n).astype(float), rng.integers(0, 4, n)
    added, ok = project_calls(2.5, c, w, k, laws, tbt, models)
    assert 0 < ok.sum() < n  # some settle, some do not
    for i in range(n):
        one = slice(i, i + 1)
        alone, alone_ok = project_calls(2.5, c[one], w[one], k[one], laws, tbt, models[one])
        assert (alone_ok[0], alone[0]) == (ok[i], added[i])


def _iterated(
    m: float, c: np.ndarray, w: np.ndarray, k: np.ndarray, ttft: Law, tbt: Law
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plain fixed-point iteration of docs/analytics.md, call by call, to convergence:
    the oracle. Also which calls needed more steps than ``project_calls`` allows itself."""
    added, ok = np.full(c.size, np.inf), np.zeros(c.size, dtype=bool)
    slow = np.zeros(c.size, dtype=bool)
    for i in range(c.size):
        base = float(ttft(c[i]) + tbt(c[i]) * k[i])
        cp, steps = m * c[i], 0
        while steps < 20_000:
            steps += 1
            grow = float(ttft(cp) + tbt(cp) * k[i]) - base
            nxt = m * c[i] * max(w[i] + grow, 0.0) / w[i]
            if abs(nxt - cp) <= 1e-10 * max(1.0, nxt):
                if nxt < 1e6:
                    added[i], ok[i] = grow, True
                break
            if nxt > 1e7:
                break
            cp = nxt
        slow[i] = steps > 300
    return added, ok, slow


@pytest.mark.parametrize("seed", range(6))
def test_the_closed_form_and_the_iteration_agree(seed: int) -> None:
    from analytics._fit import fit_line

    rng = np.random.default_rng(seed)
    x = np.arange(1, 21, dtype=float)
    x_far = np.arange(1, 61, dtype=float)
    ttft = Law(
        fit_line(x, 200 + rng.uniform(-2, 20) * x),
        fit_line(x_far, 100 + rng.uniform(0, 40) * x_far) if seed % 2 else None,
    )
    tbt = Law(
        fit_line(x, 20 + rng.uniform(-0.05, 0.5) * x),
        fit_line(x_far, 5 + 1.5 * x_far) if seed % 3 else None,
    )
    n = 400
    c = rng.uniform(0.5, 30, n)
    w = rng.uniform(300, 5000, n)
    k = rng.integers(0, 300, n).astype(float)
    for m in (1.5, 2.0, 3.0):
        added, ok = project_calls(m, c, w, k, [ttft], [tbt], np.zeros(n, dtype=np.int64))
        want, want_ok, slow = _iterated(m, c, w, k, ttft, tbt)
        # Near capacity the iteration may give up (past capacity) where the closed form
        # still finds the fixed point: either answer is allowed there, nowhere else.
        assert ok[~slow].tolist() == want_ok[~slow].tolist()
        both = ok & want_ok
        assert added[both] == pytest.approx(want[both], rel=1e-5)
        assert slow.sum() < n // 10 and both.sum() > n // 8
