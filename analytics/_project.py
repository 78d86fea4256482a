"""Re-timing recorded runs at a load multiplier (docs/analytics.md, "Timeout risk").

Each LLM call's latency moves along the fitted lines of its model: its TTFT and mean TBT
become ``fit(c') + (observed - fit(c))``, so a call grows by
``(g_ttft(c') - g_ttft(c)) + (g_tbt(c') - g_tbt(c)) * output_tokens``. ``g`` is the
production fit over the concurrency production has seen and, beyond it, a load-test run's
fit of the same model when that run measured higher concurrency (continuous at the edge).
``c'`` follows Little's law at ``m`` times the traffic, ``c' = m * c * W'/W`` (``W`` the
call's recorded duration, ``W'`` its projected one). The laws are lines, so where the fixed
point lies on the line the call starts on, it is solved in closed form; elsewhere (across a
load-test edge, decreasing laws) by fixed-point iteration. A call without a fixed point below
``CAPACITY``, or whose iteration does not converge, is past capacity and its run counts as
timed out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics._fit import LineFit

__all__ = ["Law", "critical_paths", "project_calls", "run_critical_path"]

MAX_ITERATIONS = 500
TOLERANCE = 1e-7
CAPACITY = 1e6
"""A projected concurrency beyond this is treated as divergence."""


@dataclass(frozen=True, slots=True)
class Law:
    """Latency against concurrency for one model and metric: production, then a load test."""

    production: LineFit | None
    loadtest: LineFit | None = None

    def __call__(self, c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=np.float64)
        prod, test = self.production, self.loadtest
        if prod is None and test is None:
            return np.zeros_like(c)
        if prod is None:
            assert test is not None
            return test.predict(c)
        base = prod.predict(c)
        if test is None or test.x_hi <= prod.x_hi:
            return base
        edge = prod.x_hi
        beyond = prod.predict(edge) + test.predict(c) - test.predict(edge)
        return np.where(c > edge, beyond, base)

    def pieces(self) -> tuple[float, float, float, float, float]:
        """The law as two lines: ``(edge, intercept, slope, intercept, slope)``, the first
        line up to ``edge`` (included), the second beyond it (``edge`` infinite: one line)."""
        prod, test = self.production, self.loadtest
        if prod is None:
            line = (0.0, 0.0) if test is None else (test.intercept, test.slope)
            return (math.inf, *line, 0.0, 0.0)
        if test is None or test.x_hi <= prod.x_hi:
            return (math.inf, prod.intercept, prod.slope, 0.0, 0.0)
        edge = prod.x_hi  # beyond: prod(edge) + test(c) - test(edge)
        beyond = prod.intercept + (prod.slope - test.slope) * edge
        return (edge, prod.intercept, prod.slope, beyond, test.slope)


def _two_lines(
    x: np.ndarray, edge: np.ndarray, a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray
) -> np.ndarray:
    """A law of :meth:`Law.pieces` at ``x``: ``a1 + b1 x`` up to ``edge``, ``a2 + b2 x`` beyond."""
    return np.where(x > edge, a2 + b2 * x, a1 + b1 * x)


def project_calls(
    m: float,
    concurrency: np.ndarray,
    duration: np.ndarray,
    tokens: np.ndarray,
    ttft: list[Law],
    tbt: list[Law],
    model_index: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each call's added latency (ms) at ``m`` times the traffic, and whether it converged.

    ``model_index`` points each call at its laws in ``ttft``/``tbt``.
    """
    c = np.asarray(concurrency, dtype=np.float64)
    w = np.asarray(duration, dtype=np.float64)
    k = np.asarray(tokens, dtype=np.float64)
    # Each call's laws as per-call coefficients (a model index out of range: no growth), so
    # that an iteration is a few array operations over the calls still moving.
    table = np.array([(*t.pieces(), *b.pieces()) for t, b in zip(ttft, tbt, strict=True)])
    table = np.vstack([table.reshape(-1, 10), (math.inf, 0, 0, 0, 0) * 2])
    models = np.asarray(model_index)
    known = (models >= 0) & (models < len(ttft))
    coef = table[np.where(known, models, len(ttft))]

    e1, a1, b1, a2, b2, e3, a3, b3, a4, b4 = coef.T
    base = _two_lines(c, e1, a1, b1, a2, b2) + _two_lines(c, e3, a3, b3, a4, b4) * k
    added = np.zeros(c.size)
    converged = w <= 0  # untimed calls grow with nothing
    cp = m * c
    # On the line where the iteration starts (latency A + S c'), the fixed point is
    # c* = m c (W + A - base) / (W - m c S). With 0 <= m c S / W < 1 the iteration climbs to it
    # without leaving the line when c* is on that line too: take it directly.
    past_first, past_token = cp > e1, cp > e3
    slope = np.where(past_first, b2, b1) + np.where(past_token, b4, b3) * k
    level = np.where(past_first, a2, a1) + np.where(past_token, a4, a3) * k
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = m * c * slope / w
        star = m * c * (w + level - base) / (w - m * c * slope)
    direct = (
        ~converged
        & (ratio >= 0)
        & (ratio < 1)
        & (star > 0)
        & (star < CAPACITY)
        & ((star > e1) == past_first)
        & ((star > e3) == past_token)
    )
    added[direct] = level[direct] + slope[direct] * star[direct] - base[direct]
    converged |= direct
    # With m c S / W >= 1 on a line that goes on for ever, a first step up never stops
    # climbing: past capacity, as the iteration would find after many steps.
    endless = (past_first | np.isinf(e1)) & (past_token | np.isinf(e3))
    with np.errstate(divide="ignore", invalid="ignore"):
        climbs = m * c * (w + level + slope * cp - base) / w > cp
    active = np.flatnonzero(~converged & ~(endless & (ratio >= 1) & climbs))
    state = (cp[active], m * c[active], w[active], k[active], base[active], coef[active].T)
    _iterate(active, *state, added, converged)
    return np.where(converged, added, np.inf), converged


def _iterate(
    calls: np.ndarray,
    cp: np.ndarray,
    mc: np.ndarray,
    w: np.ndarray,
    k: np.ndarray,
    base: np.ndarray,
    coef: np.ndarray,
    added: np.ndarray,
    converged: np.ndarray,
) -> None:
    """The fixed-point iteration of ``calls`` (``cp`` their starting concurrency, ``mc``
    ``m * c``, the rest theirs, ``coef`` their 10 law coefficients as rows); writes the
    converged ones' ``added`` and ``converged``.

    A call whose next value is the one it had two steps before alternates for ever (a step
    depends on the previous value alone) and never converges: it stops there, as it would
    after ``MAX_ITERATIONS``. The arrays are cut down to the calls still moving once half
    have stopped, so that a step is a few operations on contiguous arrays.
    """
    e1, a1, b1, a2, b2, e3, a3, b3, a4, b4 = coef
    edges = bool(np.isfinite(e1).any() or np.isfinite(e3).any())  # else one line each
    before = np.full(cp.size, np.nan)
    live = np.ones(cp.size, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):  # stopped calls may run off to inf
        for _ in range(MAX_ITERATIONS):
            if edges:
                first = _two_lines(cp, e1, a1, b1, a2, b2)
                per_token = _two_lines(cp, e3, a3, b3, a4, b4)
            else:
                first, per_token = a1 + b1 * cp, a3 + b3 * cp
            grow = first + per_token * k - base
            nxt = mc * np.maximum(w + grow, 0.0) / w
            done = np.abs(nxt - cp) <= TOLERANCE * np.maximum(1.0, nxt)
            ok = live & done & (nxt < CAPACITY)
            if ok.any():
                added[calls[ok]] = grow[ok]
                converged[calls[ok]] = True
            live &= ~ok & (nxt < CAPACITY * 10) & (nxt != before)
            before, cp = cp, nxt
            moving = np.count_nonzero(live)
            if moving == 0:
                return
            if 2 * moving <= live.size:
                arrays = (calls, cp, before, mc, w, k, base, e1, a1, b1, a2, b2, e3, a3, b3, a4, b4)
                calls, cp, before, mc, w, k, base, e1, a1, b1, a2, b2, e3, a3, b3, a4, b4 = (
                    a[live] for a in arrays
                )
                live = np.ones(moving, dtype=bool)
                edges = bool(np.isfinite(e1).any() or np.isfinite(e3).any())


def run_critical_path(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which of a run's spans lie on its critical path, walking back from the end.

    The span that ends last is on it; then, among the spans that end before that one
    starts, the one that ends last; and so on. Spans nested in or overlapping a chosen one
    are off the path. For a run whose calls follow one another it is every call.
    """
    order = np.argsort(-np.asarray(ends, dtype=np.float64), kind="stable")
    on = np.zeros(len(order), dtype=bool)
    boundary = np.inf
    for i in order:
        if ends[i] <= boundary:
            on[i] = True
            boundary = starts[i]
    return on


def critical_paths(runs: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """:func:`run_critical_path` for the spans of many runs at once (``runs``: run ids)."""
    order = np.lexsort((-np.asarray(ends, dtype=np.float64), np.asarray(runs)))
    on = np.zeros(len(order), dtype=bool)
    run_of, start_of, end_of = runs[order].tolist(), starts[order].tolist(), ends[order].tolist()
    current, boundary = None, np.inf
    for k, (run, start, end) in enumerate(zip(run_of, start_of, end_of, strict=True)):
        if run != current:
            current, boundary = run, np.inf
        if end <= boundary:
            on[order[k]] = True
            boundary = start
    return on
