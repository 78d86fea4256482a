"""SLO attainment: the share of requests that met every latency objective, each on its own.

GuideLLM's rule: a request that failed (an error or a timeout) never conforms. A successful
request conforms when its TTFT and its end-to-end latency meet the ``ttft_pNN`` and
``e2e_pNN`` thresholds, and the percentile of its own token gaps meets the ``tbt_pNN`` ones
(an answer of one token has no gaps and meets them). Rate objectives concern a whole stage,
not a request. Goodput is conforming requests per second.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadtest._slo import Objective
from loadtest._stats import RequestResult
from tracer import percentile

__all__ = ["conforms", "request_value"]


def request_value(objective: Objective, result: RequestResult) -> float | None:
    """One request's own figure for a latency objective: its TTFT, its e2e, or the
    objective's percentile of its gaps (``None`` when it has none)."""
    if objective.metric == "ttft":
        return result.ttft_ms
    if objective.metric == "e2e":
        return result.e2e_ms
    assert objective.quantile is not None
    gaps = sorted(result.gaps_ms)
    return percentile(gaps, objective.quantile) if gaps else None


def conforms(result: RequestResult, objectives: Sequence[Objective]) -> bool:
    """Whether ``result`` counts towards SLO attainment."""
    if result.outcome != "ok":
        return False
    for objective in objectives:
        if objective.quantile is None:
            continue
        value = request_value(objective, result)
        if value is None:
            if objective.metric == "tbt":
                continue
            return False
        if not objective.met_by(value):
            return False
    return True
