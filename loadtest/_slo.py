"""Service-level objectives: ``--slo "ttft_p95<800ms,tbt_p99<80ms,error_rate<1%"``.

Metrics: ``ttft_pNN``, ``tbt_pNN`` and ``e2e_pNN`` (any percentile, ``p99.9`` too) with a
duration (``800ms``, ``1.5s``; a bare number is milliseconds), and ``error_rate`` /
``timeout_rate`` with a rate (``1%`` or ``0.01``). Operators: ``<`` and ``<=``. A stage
meets an objective only if it has data for it: a stage without a single first token fails
``ttft_p95<...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loadtest._stats import StageStats
from loadtest._units import InputError, parse_duration_ms, parse_rate

__all__ = ["Check", "Objective", "evaluate", "parse_slo"]

_LATENCY = re.compile(r"^(ttft|tbt|e2e)_p(\d{1,2}(?:\.\d+)?)$")
_RATES = ("error_rate", "timeout_rate")
_SPEC = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|<)\s*(\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    """``ttft``, ``tbt``, ``e2e``, ``error_rate`` or ``timeout_rate``."""
    percentile: float | None
    op: str
    threshold: float
    """Milliseconds for latencies, a fraction for rates."""
    text: str

    @property
    def unit(self) -> str:
        return "ms" if self.percentile is not None else ""

    def observe(self, stage: StageStats) -> float | None:
        if self.metric == "error_rate":
            return stage.error_rate if stage.requests else None
        if self.metric == "timeout_rate":
            return stage.timeout_rate if stage.requests else None
        histogram = {"ttft": stage.ttft, "tbt": stage.tbt, "e2e": stage.e2e}[self.metric]
        assert self.percentile is not None
        return histogram.percentile(self.percentile)

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
        observed = None if self.observed is None else round(self.observed, 6)
        return {"slo": self.objective.text, "observed": observed, "passed": self.passed}

    def describe(self) -> str:
        obj = self.objective
        if self.observed is None:
            return f"{obj.text}: no data"
        if obj.percentile is None:
            return f"{obj.text}: observed {self.observed:.2%}"
        return f"{obj.text}: observed {self.observed:.1f}ms"


def parse_slo(text: str) -> list[Objective]:
    """Parse a comma-separated list of objectives; raises :class:`InputError`."""
    if not text or not text.strip():
        raise InputError('--slo is empty; expected e.g. "ttft_p95<800ms,error_rate<1%"')
    objectives: list[Objective] = []
    for part in text.split(","):
        item = part.strip()
        match = _SPEC.match(item)
        if match is None:
            raise InputError(f"--slo entry {item!r} is not METRIC<VALUE (e.g. ttft_p95<800ms)")
        name, op, value = match.groups()
        name = name.lower()
        latency = _LATENCY.match(name)
        if latency is not None:
            pct = float(latency.group(2))
            if not 0 < pct < 100:
                raise InputError(f"--slo entry {item!r}: percentile must be between 0 and 100")
            threshold = parse_duration_ms(value, what=f"--slo entry {item!r}: threshold")
            objectives.append(Objective(latency.group(1), pct, op, threshold, item))
        elif name in _RATES:
            threshold = parse_rate(value, what=f"--slo entry {item!r}: threshold")
            objectives.append(Objective(name, None, op, threshold, item))
        else:
            raise InputError(
                f"--slo entry {item!r}: unknown metric {name!r}; use ttft_pNN, tbt_pNN, "
                "e2e_pNN, error_rate or timeout_rate"
            )
    return objectives


def evaluate(objectives: list[Objective], stage: StageStats) -> list[Check]:
    """Check every objective against one stage. A stage with no requests fails them all."""
    checks = []
    for objective in objectives:
        observed = objective.observe(stage)
        checks.append(Check(objective, observed, objective.met_by(observed)))
    return checks
