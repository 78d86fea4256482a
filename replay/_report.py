"""A replay run's report: the summary over its traces, the JSON, the terminal tables.

Summary figures (docs/replay.md, "The summary"), over the traces that replayed (status not
``error``) unless said otherwise:

- ``route_agreement``: the share whose routes all agreed, in [0, 1];
- ``mean_similarity``: the mean of the traces' output similarity;
- ``tokens_delta_pct``, ``cost_delta_pct``: (replayed total - recorded total) / recorded
  total * 100, over traces where both are known;
- ``p95_latency_delta_pct``: (p95 of the replayed traces' LLM latency - p95 of the recorded
  ones) / the recorded p95 * 100, p95 by ``tracer.percentile`` (linear between ranks);
- ``divergences``, ``errors``: counts over all traces (``errors`` counts error records, and
  traces that could not be replayed at all).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from tracer import percentile

from ._diff import TraceResult
from ._failif import Condition

__all__ = ["RunReport", "summarise"]


def _pct(before: float, after: float) -> float | None:
    return None if before == 0 else (after - before) / before * 100


def _p95(values: Sequence[float]) -> float:
    return percentile(sorted(values), 0.95)  # agentflight's one percentile rule


def summarise(results: Sequence[TraceResult]) -> dict[str, Any]:
    """The summary figures of a run (see the module docstring)."""
    done = [r for r in results if r.status != "error" or r.replay_trace_id]
    similarities = [r.similarity for r in done if r.similarity is not None]
    costed = [r for r in done if r.cost_delta_usd is not None]
    latency = [r for r in done if r.recorded.latency_ms > 0]
    return {
        "traces": len(results),
        "route_agreement": (sum(not r.route_changed for r in done) / len(done) if done else None),
        "mean_similarity": sum(similarities) / len(similarities) if similarities else None,
        "tokens_delta_pct": _pct(
            sum(r.recorded.tokens for r in done), sum(r.replayed.tokens for r in done)
        ),
        "cost_delta_pct": _pct(
            sum(r.recorded.cost_usd or 0.0 for r in costed),
            sum(r.replayed.cost_usd or 0.0 for r in costed),
        )
        if costed
        else None,
        "p95_latency_delta_pct": _pct(
            _p95([r.recorded.latency_ms for r in latency]),
            _p95([r.replayed.latency_ms for r in latency]),
        )
        if latency
        else None,
        "divergences": sum(len(r.divergences) for r in results),
        "errors": sum(len(r.errors) or (r.status == "error") for r in results),
    }


@dataclass
class RunReport:
    """A replay run: its id, settings, traces and summary, and the gate's verdict."""

    run_id: str
    settings: dict[str, Any]
    results: list[TraceResult] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    created_ns: int = 0
    traces_json: list[dict[str, Any]] | None = None  # when read back from storage

    def finish(self) -> RunReport:
        self.summary = summarise(self.results)
        return self

    @property
    def failed_conditions(self) -> list[str]:
        return [c.text for c in self.conditions if c.holds(self.summary)]

    @property
    def unknown_conditions(self) -> list[str]:
        return [c.text for c in self.conditions if c.holds(self.summary) is None]

    @property
    def passed(self) -> bool:
        """No ``--fail-if`` condition holds."""
        return not self.failed_conditions

    def to_json(self) -> dict[str, Any]:
        traces = self.traces_json
        if traces is None:
            traces = [r.to_json() for r in self.results]
        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "summary": self.summary,
            "traces": traces,
            "fail_if": [c.text for c in self.conditions],
            "failed_conditions": self.failed_conditions,
            "not_evaluated": self.unknown_conditions,
            "settings": self.settings,
        }

    def write_json(self, stream: IO[str]) -> None:
        json.dump(self.to_json(), stream, indent=2, ensure_ascii=False, default=str)
        stream.write("\n")

    def print(self, console: Console) -> None:
        """Per-trace rows, then the summary table and the verdict."""
        traces = (
            self.traces_json
            if self.traces_json is not None
            else [r.to_json() for r in self.results]
        )
        table = Table(title=f"replay run {self.run_id}", title_justify="left")
        for column in ("trace", "status", "route", "skills", "similarity", "tokens Δ",
                       "cost Δ $", "latency Δ ms", "TTFT Δ ms"):  # fmt: skip
            table.add_column(column, justify="left" if column in ("trace", "status") else "right")
        for t in traces:
            skills = t["skills"]
            table.add_row(
                t["trace_id"][:16], t["status"],
                "changed" if t["route_changed"] else "same",
                f"{skills.get('stubbed', 0)} stub / {skills.get('live', 0)} live",
                _fmt(t["similarity"], ".2f"), _fmt(t["tokens_delta"], "+d"),
                _fmt(t["cost_delta_usd"], "+.6f"), _fmt(t["latency_delta_ms"], "+.0f"),
                _fmt(t["ttft_delta_ms"], "+.0f"),
            )  # fmt: skip
        console.print(table)
        for t in traces:
            for line in [*t["errors"], *(f"{n['step']}: {n['reason']}" for n in t.get(
                    "not_replayed", []))]:  # fmt: skip
                console.print(f"[yellow]{t['trace_id'][:16]}[/] {line}", highlight=False)
            for change in t.get("routes", []):
                console.print(
                    f"{t['trace_id'][:16]} route {change['route']}: "
                    f"{change['from']} -> {change['to']}", highlight=False,
                )  # fmt: skip
        s = self.summary
        summary = Table(title="summary", title_justify="left", show_header=True)
        for column in ("traces", "route agreement", "mean similarity", "tokens Δ", "cost Δ",
                       "p95 latency Δ", "divergences", "errors"):  # fmt: skip
            summary.add_column(column, justify="right")
        summary.add_row(
            str(s["traces"]), _fmt(s["route_agreement"], ".1%"),
            _fmt(s["mean_similarity"], ".3f"), _fmt(s["tokens_delta_pct"], "+.1f", "%"),
            _fmt(s["cost_delta_pct"], "+.1f", "%"), _fmt(s["p95_latency_delta_pct"], "+.1f", "%"),
            str(s["divergences"]), str(s["errors"]),
        )  # fmt: skip
        console.print(summary)
        if self.conditions:
            verdict = "[red]FAILED[/]" if not self.passed else "[green]passed[/]"
            held = ", ".join(self.failed_conditions) or "none"
            console.print(f"gate {verdict}: conditions that hold: {held}", highlight=False)
            if self.unknown_conditions:
                console.print(
                    f"not evaluated (figure unknown): {', '.join(self.unknown_conditions)}"
                )


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    return format(value, spec) + suffix
