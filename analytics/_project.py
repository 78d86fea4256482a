"""Re-timing recorded runs at a load multiplier (docs/analytics.md, "Timeout risk").

Each LLM call's latency moves along the fitted lines of its model: its TTFT and mean TBT
become ``fit(c') + (observed - fit(c))``, so a call grows by
``(g_ttft(c') - g_ttft(c)) + (g_tbt(c') - g_tbt(c)) * output_tokens``. ``g`` is the
production fit over the concurrency production has seen and, beyond it, a load-test run's
fit of the same model when that run measured higher concurrency (continuous at the edge).
``c'`` follows Little's law at ``m`` times the traffic, ``c' = m * c * W'/W`` (``W`` the
call's recorded duration, ``W'`` its projected one), solved by fixed-point iteration; a call
whose iteration does not converge is past capacity and its run counts as timed out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics._fit import LineFit

__all__ = ["Law", "project_calls", "run_critical_path"]

MAX_ITERATIONS = 500
TOLERANCE = 1e-9
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
    base = np.zeros_like(c)
    for i, (law_ttft, law_tbt) in enumerate(zip(ttft, tbt, strict=True)):
        sel = model_index == i
        base[sel] = law_ttft(c[sel]) + law_tbt(c[sel]) * k[sel]

    def delta(cp: np.ndarray) -> np.ndarray:
        out = np.zeros_like(cp)
        for i, (law_ttft, law_tbt) in enumerate(zip(ttft, tbt, strict=True)):
            sel = model_index == i
            out[sel] = law_ttft(cp[sel]) + law_tbt(cp[sel]) * k[sel] - base[sel]
        return out

    timed = w > 0
    cp = m * c
    converged = np.zeros(c.shape, dtype=bool)
    converged[~timed] = True
    for _ in range(MAX_ITERATIONS):
        grown = np.maximum(w + delta(cp), 0.0)
        nxt = np.where(timed, m * c * grown / np.where(timed, w, 1.0), m * c)
        done = np.abs(nxt - cp) <= TOLERANCE * np.maximum(1.0, np.abs(nxt))
        converged |= done & (nxt < CAPACITY)
        cp = np.where(converged, cp, np.minimum(nxt, CAPACITY * 10))
        if converged.all():
            break
    added = delta(cp)
    return np.where(converged, added, np.inf), converged


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
