"""The window at a glance, against the window of equal length just before it."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics._cost import cost
from analytics._filters import Filters, Window, scope, scope_params, window
from analytics._histogram import pooled_percentiles
from analytics._measures import IS_LLM, frame
from analytics._prices import PriceTable, load_prices
from analytics._rollup import window_sums_sql
from analytics._timeout import timeout_risk
from collector import Store

__all__ = ["OVERVIEW_METRICS", "agents_at_risk", "overview"]

OVERVIEW_METRICS = (
    "calls",
    "error_rate",
    "ttft_p95_ms",
    "tbt_p99_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
# TTFT p95 is exact over the spans; the rest are sums (mostly from the rollup).
_SQL = f"""
SELECT s.calls AS calls, s.errors AS errors, s.input_tokens AS input_tokens,
       s.output_tokens AS output_tokens, s.tbt_keys AS tbt_keys, s.tbt_counts AS tbt_counts,
       (SELECT quantileExactInclusive(0.95)(ttft_ms) FROM {{{{db:Identifier}}}}.genai_spans
        WHERE {{scope}} AND {IS_LLM}) AS ttft_p95
FROM ({{sums}}) AS s
"""


def _figures(
    store: Store, win: Window, filters: Filters | None, prices: PriceTable
) -> dict[str, float | None]:
    sums = window_sums_sql(filters, [], llm_only=True)
    sql = _SQL.format(scope=scope(filters), sums=sums)
    row = frame(store, sql, scope_params(win, filters)).row(0, named=True)
    calls = int(row["calls"])
    ttft = row["ttft_p95"]
    (tbt,) = pooled_percentiles(row["tbt_keys"] or [], row["tbt_counts"] or [], (0.99,))
    priced = cost(store, win.since, win.until, filters, prices)["cost_usd"]
    return {
        "calls": float(calls),
        "error_rate": row["errors"] / calls if calls else None,
        "ttft_p95_ms": None if ttft is None or ttft != ttft else float(ttft),
        "tbt_p99_ms": tbt,
        "input_tokens": float(row["input_tokens"]),
        "output_tokens": float(row["output_tokens"]),
        "cost_usd": float(priced.sum()) if priced.is_not_null().any() else None,
    }


def overview(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    prices: PriceTable | None = None,
) -> pl.DataFrame:
    """LLM calls, error rate, TTFT p95, pooled TBT p99, tokens and cost (of the priced
    models) of the window, each with the previous window of equal length and the change.

    Columns: ``metric`` (:data:`OVERVIEW_METRICS`), ``value``, ``previous``, ``change``
    (``(value - previous) / previous``; null when previous is 0 or null). The agents most
    at risk of timing out are :func:`agents_at_risk`.
    """
    win = window(since, until)
    table = prices or load_prices()
    now = _figures(store, win, filters, table)
    before = _figures(store, win.previous(), filters, table)
    rows = []
    for metric in OVERVIEW_METRICS:
        value, previous = now[metric], before[metric]
        change = (value - previous) / previous if value is not None and previous else None
        rows.append({"metric": metric, "value": value, "previous": previous, "change": change})
    schema = {
        "metric": pl.String,
        "value": pl.Float64,
        "previous": pl.Float64,
        "change": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def agents_at_risk(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    limit: int = 5,
) -> pl.DataFrame:
    """The agents with the highest projected timeout rate at 2x traffic (then observed),
    as :func:`timeout_risk` rows."""
    risk = timeout_risk(store, since, until, filters, multipliers=(1.5, 2, 3))
    if risk.is_empty():
        return risk
    return (
        risk.with_columns(at_2x=pl.col("projected").struct.field("2"))
        .sort(["at_2x", "observed_rate"], descending=True, nulls_last=True)
        .drop("at_2x")
        .head(limit)
    )
