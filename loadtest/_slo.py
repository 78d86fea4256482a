"""Service-level objectives: ``--slo "ttft_p95<800ms,tbt_p99<80ms,error_rate<1%"``.

Metrics: ``ttft_pNN``, ``tbt_pNN`` and ``e2e_pNN`` (any percentile, ``p99.9`` too) with a
duration (``800ms``, ``1.5s``; a bare number is milliseconds), and ``error_rate`` /
``timeout_rate`` with a rate (``1%`` or ``0.01``). Operators: ``<`` and ``<=``. A stage
meets an objective only if it has data for it: a stage without a single first token fails
``ttft_p95<...``.

Errors and timeouts count against the latency objectives: in a check, each failed request
is one more sample above every threshold (``docs/loadtest.md``, "Honest figures").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analytics import _slo as grammar
from loadtest._units import InputError

if TYPE_CHECKING:
    from loadtest._stats import Histogram, StageStats

__all__ = ["Check", "Objective", "evaluate", "parse_slo"]


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    """``ttft``, ``tbt``, ``e2e``, ``error_rate`` or ``timeout_rate``."""
    quantile: float | None
    """``q`` in ``[0, 1]`` for latencies (``p95`` is 0.95), ``None`` for rates."""
    op: str
    threshold: float
    """Milliseconds for latencies, a fraction for rates."""
    text: str

    @property
    def unit(self) -> str:
        return "ms" if self.quantile is not None else ""

    def observe(self, stage: StageStats) -> float | None:
        """The stage's figure for this objective; ``math.inf`` when failed requests reach
        the percentile, ``None`` without data."""
        if self.metric == "error_rate":
            return stage.error_rate if stage.requests else None
        if self.metric == "timeout_rate":
            return stage.timeout_rate if stage.requests else None
        assert self.quantile is not None
        return self.histogram(stage).percentile(self.quantile, misses=stage.failed)

    def histogram(self, stage: StageStats) -> Histogram:
        """The successful requests' samples this objective is checked on."""
        return {"ttft": stage.ok_ttft, "tbt": stage.ok_tbt, "e2e": stage.ok_e2e}[self.metric]

    def met_by(self, observed: float | None) -> bool:
        if observed is None:
            return False
        return observed < self.threshold if self.op == "<" else observed <= self.threshold


@dataclass(frozen=True, slots=True)
class Check:
    objective: Objective
    observed: float | None
    passed: bool

    def to_json(self) -> dict[str, object]:
        failed = self.observed is not None and math.isinf(self.observed)
        observed = None if self.observed is None or failed else round(self.observed, 6)
        data: dict[str, object] = {
            "slo": self.objective.text,
            "observed": observed,
            "passed": self.passed,
        }
        if failed:
            data["note"] = "failed requests reach this percentile"
        return data

    def describe(self) -> str:
        obj = self.objective
        if self.observed is None:
            return f"{obj.text}: no data"
        if math.isinf(self.observed):
            return f"{obj.text}: failed requests reach this percentile"
        if obj.quantile is None:
            return f"{obj.text}: observed {self.observed:.2%}"
        return f"{obj.text}: observed {self.observed:.1f}ms"


def parse_slo(text: str) -> list[Objective]:
    """Parse a comma-separated list of objectives (analytics' grammar: ``agentflight report
    --slo`` reads the same text the same way); raises :class:`InputError`."""
    try:
        parsed = grammar.parse_slo(text)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return [Objective(o.metric, o.quantile, o.op, o.threshold, o.text) for o in parsed.objectives]


def evaluate(objectives: list[Objective], stage: StageStats) -> list[Check]:
    """Check every objective against one stage. A stage with no requests fails them all."""
    checks = []
    for objective in objectives:
        observed = objective.observe(stage)
        checks.append(Check(objective, observed, objective.met_by(observed)))
    return checks
