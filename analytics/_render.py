"""The report for people: rich tables in a terminal, or Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_report", "report_markdown"]


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.2%}"


def _usd(value: Any) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def _triple(value: dict[str, float] | None) -> str:
    if not value:
        return "-"
    return " / ".join(_f(value[k]) for k in ("p50", "p95", "p99"))


def _slope(r: dict[str, Any]) -> str:
    lo, hi = r["slope_ci95"]
    return f"{_f(r['slope_ms_per_concurrent'], 2)} ({_f(lo, 2)}..{_f(hi, 2)})"


def _sections(report: dict[str, Any]) -> Iterator[tuple[str, list[str], list[list[str]]]]:
    yield (
        "Latency (ms, p50 / p95 / p99)",
        ["operation", "model", "agent", "calls", "error rate", "TTFT", "TBT (pooled)", "duration"],
        [
            [
                r["operation"],
                r["model"],
                r["agent"],
                _f(r["calls"]),
                _pct(r["error_rate"]),
                _triple(r["ttft_ms"]),
                _triple(r["tbt_ms"]),
                _triple(r["duration_ms"]),
            ]
            for r in report["latency"]
        ],
    )
    yield (
        "Latency against load (Theil-Sen)",
        [
            "model",
            "metric",
            "source",
            "n",
            "ms at 0",
            "ms per concurrent (95% CI)",
            "R²",
            "concurrency seen",
            "SLO crossed at",
        ],
        [
            [
                r["model"],
                r["metric"],
                r["source"] + (f" {r['loadtest_run_id']}" if r["loadtest_run_id"] else ""),
                _f(r["n"]),
                _f(r["intercept_ms"]),
                _slope(r),
                _f(r["r2"], 2),
                f"{_f(r['concurrency_range'][0], 0)}..{_f(r['concurrency_range'][1], 0)}",
                _f(r["slo_crossing_concurrency"]),
            ]
            for r in report["load"]
        ],
    )
    yield (
        f"Token waste (reasoning latency p95: {_f(report['reasoning_latency_ms_p95'])} ms)",
        ["cause", "tokens", "share of output", "cost"],
        [
            [r["cause"], _f(r["tokens"]), _pct(r["share"]), _usd(r["cost_usd"])]
            for r in report["waste"]
        ],
    )
    yield (
        "Timeout risk",
        [
            "agent",
            "deadline ms",
            "runs",
            "timed out",
            "observed",
            "at 1.5x / 2x / 3x",
            "breaks at",
            "slowest 1%: ttft / output / reasoning / skills / other ms",
        ],
        [
            [
                r["agent"],
                _f(r["timeout_ms"], 0),
                _f(r["runs"]),
                _f(r["timed_out"]),
                _pct(r["observed_rate"]),
                " / ".join(_pct(v) for v in r["projected"].values()),
                "-" if r["breaking_multiplier"] is None else f"{r['breaking_multiplier']}x",
                " / ".join(_f(v, 0) for v in (r["slow_run_budget"] or {}).values()) or "-",
            ]
            for r in report["timeout_risk"]
        ],
    )
    total = report["cost_total"]
    yield (
        "Cost (USD)",
        ["model", "calls", "input", "cached", "output", "reasoning", "cost"],
        [
            [
                r["model"],
                _f(r["calls"]),
                _f(r["input_tokens"]),
                _f(r["cached_tokens"]),
                _f(r["output_tokens"]),
                _f(r["reasoning_tokens"]),
                _usd(r["cost_usd"]),
            ]
            for r in report["cost"]
        ]
        + [
            [
                "total",
                _f(total["calls"]),
                _f(total["input_tokens"]),
                _f(total["cached_tokens"]),
                _f(total["output_tokens"]),
                _f(total["reasoning_tokens"]),
                _usd(total["cost_usd"]),
            ]
        ],
    )
    yield (
        "Cost per successful run",
        ["agent", "runs", "successful", "cost", "per successful run"],
        [
            [
                r["agent"],
                _f(r["runs"]),
                _f(r["successful_runs"]),
                _usd(r["cost_usd"]),
                _usd(r["cost_per_successful_run"]),
            ]
            for r in report["cost_per_successful_run"]
        ],
    )


def _title(report: dict[str, Any]) -> str:
    window = report["window"]
    return f"agentflight report {window['since']} .. {window['until']}"


def _notes(report: dict[str, Any]) -> list[str]:
    notes = []
    if report["unpriced_models"]:
        notes.append("Not priced (cost n/a): " + ", ".join(report["unpriced_models"]))
    prices = report.get("prices") or {}
    notes.append(f"Prices: {prices.get('source')} (taken {prices.get('taken') or 'unknown'})")
    return notes


def report_markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown document."""
    lines = [f"# {_title(report)}", ""]
    for title, header, rows in _sections(report):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["(none)", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
        lines.append("")
    lines += [f"- {note}" for note in _notes(report)]
    return "\n".join(lines) + "\n"


def print_report(report: dict[str, Any], console: Console) -> None:
    """The report as rich tables."""
    console.print(f"[bold]{_title(report)}[/bold]")
    for title, header, rows in _sections(report):
        table = Table(title=title, title_justify="left", show_lines=False)
        for name in header:
            table.add_column(name)
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.add_row(*(["(none)"] + [""] * (len(header) - 1)))
        console.print(table)
    for note in _notes(report):
        console.print(note)
