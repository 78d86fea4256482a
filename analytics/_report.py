"""The report: every figure of a window as one JSON document (``agentflight report --json``).

Keys are fixed (docs/analytics.md, "The report"): ``window``, ``latency``, ``load``,
``waste``, ``reasoning_latency_ms_p95``, ``timeout_risk``, ``cost``, ``cost_total``,
``cost_per_successful_run``, ``unpriced_models``; more may be added.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import polars as pl

from analytics._cost import cost, cost_per_run
from analytics._filters import Filters, scope, scope_params, window
from analytics._latency import latency_summary
from analytics._load import fits_frame
from analytics._measures import shared_queries
from analytics._prices import PriceTable, load_prices
from analytics._slo import SLO
from analytics._timeout import fits_and_risk
from analytics._waste import reasoning_latency, waste
from collector import Store

__all__ = ["build_report", "count_spans", "run_report"]

_TOKEN_KEYS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens")


def count_spans(
    store: Store, since: datetime, until: datetime, filters: Filters | None = None
) -> int:
    """How many spans the window and filters select (0: an empty window)."""
    win = window(since, until)
    sql = f"SELECT count() FROM {{db:Identifier}}.genai_spans WHERE {scope(filters)}"
    return int(store.query(sql, scope_params(win, filters)).result_rows[0][0])


def build_report(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    slo: SLO | None = None,
    prices: PriceTable | None = None,
) -> dict[str, Any]:
    """Every figure of the window, as the JSON report of ``agentflight report --json``."""
    with shared_queries():
        return _build(store, since, until, filters, slo, prices)


def _build(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None,
    slo: SLO | None,
    prices: PriceTable | None,
) -> dict[str, Any]:
    win = window(since, until)
    table = prices or load_prices()
    # Independent parts run side by side: the server's cores stay busy while one part
    # waits on a single-threaded step (a join's build, a sort) or on Python fits.
    parts = {
        "fits_and_risk": lambda: fits_and_risk(store, win, filters, filters, (1.5, 2, 3)),
        "agents": lambda: (
            latency_summary(store, since, until, filters),
            cost_per_run(store, since, until, filters, table),
        ),
        "waste": lambda: (
            waste(store, since, until, filters, prices=table),
            reasoning_latency(store, since, until, filters).filter(pl.col("model") == "*"),
        ),
        "cost": lambda: cost(store, since, until, filters, table),
    }
    done = _side_by_side(parts)
    lines, risk = done["fits_and_risk"]
    latency, runs = done["agents"]
    wasted, reasoning = done["waste"]
    by_model = done["cost"]
    unpriced = table.unknown(by_model["model"].to_list())
    priced = by_model["cost_usd"]
    total: dict[str, Any] = {
        "calls": int(by_model["calls"].sum() or 0),
        **{key: int(by_model[key].sum() or 0) for key in _TOKEN_KEYS},
        "cost_usd": float(priced.sum()) if priced.is_not_null().any() else None,
        "unpriced_models": unpriced,
    }
    return {
        "window": {"since": _iso(win.since), "until": _iso(win.until)},
        "filters": (filters or Filters()).describe(),
        "slo": slo.text if slo else None,
        "prices": {"source": table.source, "taken": table.taken},
        "latency": [_latency_item(r) for r in latency.iter_rows(named=True)],
        "load": [
            _load_item(r) for r in fits_frame(lines, slo, "concurrency").iter_rows(named=True)
        ],
        "waste": _clean(wasted.to_dicts()),
        "reasoning_latency_ms_p95": _num(reasoning["p95_ms"][0]) if reasoning.height else None,
        "timeout_risk": [_risk_item(r) for r in risk.iter_rows(named=True)],
        "cost": _clean(by_model.to_dicts()),
        "cost_total": total,
        "cost_per_successful_run": _clean(runs.to_dicts()),
        "unpriced_models": unpriced,
    }


def _side_by_side(parts: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Each part's result, the parts run in threads (sharing this context's query memo)."""
    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="report") as pool:
        futures = {
            name: pool.submit(contextvars.copy_context().run, part) for name, part in parts.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _num(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _num(v) for k, v in row.items()} for row in rows]


def _triple(row: dict[str, Any], prefix: str, present: bool) -> dict[str, Any] | None:
    if not present:
        return None
    return {s: _num(row[f"{prefix}_{s}"]) for s in ("p50", "p95", "p99")}


def _latency_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "operation": row["operation"],
        "model": row["model"],
        "agent": row["agent"],
        "calls": row["calls"],
        "errors": row["errors"],
        "error_rate": _num(row["error_rate"]),
        "ttft_ms": _triple(row, "ttft", bool(row["streamed"]) and row["ttft_p50"] is not None),
        "tbt_ms": _triple(row, "tbt", bool(row["tbt_gaps"])),
        "duration_ms": _triple(row, "duration", row["duration_p50"] is not None),
        "provider": row["provider"],
        "timeouts": row["timeouts"],
        "timeout_rate": _num(row["timeout_rate"]),
        "tbt_gaps": row["tbt_gaps"],
    }


def _load_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": row["model"],
        "metric": row["metric"],
        "source": row["source"],
        "n": row["n"],
        "intercept_ms": row["intercept_ms"],
        "slope_ms_per_concurrent": row["slope_ms_per_concurrent"],
        "slope_ci95": [row["slope_ci95_lo"], row["slope_ci95_hi"]],
        "r2": _num(row["r2"]),
        "concurrency_range": [row["concurrency_lo"], row["concurrency_hi"]],
        "slo_crossing_concurrency": _num(row["slo_crossing_concurrency"]),
        "slo": row["slo"],
        "loadtest_run_id": row["loadtest_run_id"],
        "load_measure": row["load_measure"],
    }


def _risk_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent": row["agent"],
        "timeout_ms": row["timeout_ms"],
        "runs": row["runs"],
        "timed_out": row["timed_out"],
        "observed_rate": _num(row["observed_rate"]),
        "projected": {k: _num(v) for k, v in (row["projected"] or {}).items()},
        "breaking_multiplier": row["breaking_multiplier"],
        "slow_run_budget": row["slow_run_budget"],
        "sampled_runs": row["sampled_runs"],
    }


def run_report(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    *,
    slo: SLO | None = None,
    prices: PriceTable | None = None,
    progress: bool = False,
) -> dict[str, Any] | None:
    """:func:`build_report`, or None when the window has no span; ``progress`` shows a
    spinner on stderr while the queries run."""
    if count_spans(store, since, until, filters) == 0:
        return None
    if not progress:
        return build_report(store, since, until, filters, slo, prices)
    from rich.console import Console

    with Console(stderr=True).status("Computing the report in ClickHouse..."):
        return build_report(store, since, until, filters, slo, prices)
