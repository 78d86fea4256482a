"""Latency: TTFT, pooled TBT and duration percentiles, by operation and model, agent, route
and skill (over time: :mod:`analytics._series`).

Definitions (docs/analytics.md, "Latency"): percentiles are exact
(``quantilesExactInclusive``: linear interpolation between order statistics, as numpy's
default); TBT percentiles are pooled over every inter-token gap of every call (the merged
gap histograms, within 1.09 %).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import polars as pl

from analytics._agents import agent_calls, agent_runs
from analytics._filters import Filters, scope, scope_params, window
from analytics._histogram import percentiles_of
from analytics._measures import IS_ERROR, IS_LLM, LATENCY_QUANTILES, MODEL, PERCENTILES, frame
from analytics._rollup import ROLLUP_IS_LLM, window_sums_sql
from collector import Store

__all__ = ["DURATION_BY_COLUMNS", "LATENCY_COLUMNS", "duration_by", "latency_summary"]

LATENCY_COLUMNS = (
    "operation",
    "model",
    "agent",
    "provider",
    "calls",
    "errors",
    "error_rate",
    "timeouts",
    "timeout_rate",
    "streamed",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "tbt_gaps",
    "tbt_p50",
    "tbt_p95",
    "tbt_p99",
    "duration_p50",
    "duration_p95",
    "duration_p99",
)
DURATION_BY_COLUMNS = (
    "name",
    "target",
    "calls",
    "errors",
    "error_rate",
    "timeouts",
    "duration_p50",
    "duration_p95",
    "duration_p99",
)
_SUFFIXES = ("p50", "p95", "p99")

_GROUPS = f"""
    count() AS calls,
    countIf({IS_ERROR}) AS errors,
    countIf(timed_out) AS timeouts,
    countIf(ttft_ms IS NOT NULL) AS streamed,
    {LATENCY_QUANTILES}(ttft_ms) AS ttft,
    {LATENCY_QUANTILES}(duration_ms) AS duration"""

_BY_OPERATION = """
SELECT operation, if({is_llm}, {model}, '') AS model, '' AS agent, any(provider) AS provider,
{groups}
FROM {{db:Identifier}}.genai_spans
WHERE {scope}
GROUP BY operation, model
"""

_DURATION_BY = {
    "agent": ("agent_name", "''", "operation = 'invoke_agent' AND agent_name != ''"),
    "skill": ("skill_name", "''", "operation = 'execute_tool' AND skill_name != ''"),
    "route": ("route_name", "route_target", "operation = 'route' AND route_name != ''"),
}
_DURATION_BY_SQL = """
SELECT {name} AS name, {target} AS target,
    count() AS calls,
    countIf({is_error}) AS errors,
    countIf(timeout_ms IS NOT NULL AND duration_ms > timeout_ms) AS timeouts,
    {quantiles}(duration_ms) AS duration
FROM {{db:Identifier}}.genai_spans
WHERE {scope} AND {kind}
GROUP BY name, target
ORDER BY name, target
"""


def latency_summary(
    store: Store, since: datetime, until: datetime, filters: Filters | None = None
) -> pl.DataFrame:
    """One row per ``(operation, model)`` (model empty for non-LLM operations) and one per
    agent (``operation = "invoke_agent"``, ``agent`` set: its runs' duration, errors and
    timeouts, and the TTFT and TBT of the LLM calls in its runs' traces).

    Columns: :data:`LATENCY_COLUMNS`. Percentiles in ms, null when nothing was measured.
    """
    win = window(since, until)
    params = scope_params(win, filters)
    fmt = {"is_llm": IS_LLM, "model": MODEL, "groups": _GROUPS}
    ops = frame(store, _BY_OPERATION.format(scope=scope(filters), **fmt), params)
    # Pooled TBT: the gap histograms add up, so most of them come from the rollup.
    dims = [
        ("operation", "operation", "operation"),
        ("model", f"if({ROLLUP_IS_LLM}, model, '')", f"if({IS_LLM}, {MODEL}, '')"),
    ]
    tbt = frame(store, window_sums_sql(filters, dims, llm_only=False), params)
    ops = ops.join(
        tbt.select("operation", "model", "tbt_keys", "tbt_counts"),
        on=["operation", "model"],
        how="left",
    )
    runs = agent_runs(store, win, filters).select(
        operation=pl.lit("invoke_agent"),
        model=pl.lit(""),
        agent="agent",
        provider=pl.lit(""),
        calls="runs",
        errors="errors",
        timeouts="timeouts",
        duration="duration",
    )
    calls = agent_calls(store, win, filters, "latency")
    calls = calls.select("agent", "streamed", "ttft", "tbt_keys", "tbt_counts")
    agents = runs.join(calls, on="agent", how="left") if not runs.is_empty() else runs
    parts = [_shape(ops), _shape(agents)]
    out = pl.concat([p for p in parts if not p.is_empty()] or parts[:1], how="vertical")
    return out.select(LATENCY_COLUMNS).sort(["agent", "operation", "model"], nulls_last=True)


def duration_by(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    by: Literal["agent", "route", "skill"] = "agent",
) -> pl.DataFrame:
    """Duration percentiles of agent runs, routing decisions or skill calls, by name.

    Columns: :data:`DURATION_BY_COLUMNS`; ``target`` is the route's target (empty for
    agents and skills); ``timeouts`` counts spans longer than their deadline.
    """
    if by not in _DURATION_BY:
        raise ValueError(f"by must be one of {', '.join(_DURATION_BY)}, got {by!r}")
    win = window(since, until)
    name, target, kind = _DURATION_BY[by]
    sql = _DURATION_BY_SQL.format(
        name=name,
        target=target,
        kind=kind,
        scope=scope(filters, model="trace"),
        is_error=IS_ERROR,
        quantiles=LATENCY_QUANTILES,
    )
    df = frame(store, sql, scope_params(win, filters))
    df = df.with_columns(error_rate=_rate("errors", "calls"))
    return _percentiles(df, "duration", "duration").select(DURATION_BY_COLUMNS)


def _rate(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def _with_ttft_nulls(df: pl.DataFrame) -> pl.DataFrame:
    """Null TTFT percentiles where nothing streamed (ClickHouse gives NaN)."""
    return df.with_columns(pl.col("ttft").list.eval(pl.element().fill_nan(None)).alias("ttft"))


def _percentiles(df: pl.DataFrame, column: str, prefix: str) -> pl.DataFrame:
    if column not in df.columns:
        return df.with_columns([pl.lit(None, pl.Float64).alias(f"{prefix}_{s}") for s in _SUFFIXES])
    return df.with_columns(
        [
            pl.col(column).list.get(i, null_on_oob=True).fill_nan(None).alias(f"{prefix}_{s}")
            for i, s in enumerate(_SUFFIXES)
        ]
    )


def _tbt(df: pl.DataFrame) -> pl.DataFrame:
    """Pooled TBT percentiles from each row's merged gap histogram."""
    if "tbt_keys" not in df.columns:
        empty = [pl.lit(None, pl.Float64).alias(f"tbt_{s}") for s in _SUFFIXES]
        return df.with_columns([pl.lit(0, pl.UInt64).alias("tbt_gaps"), *empty])
    values = percentiles_of(df["tbt_keys"], df["tbt_counts"], PERCENTILES)
    return df.with_columns(
        df["tbt_counts"].list.sum().fill_null(0).cast(pl.UInt64).alias("tbt_gaps"),
        *[
            pl.Series(f"tbt_{s}", values[:, i], dtype=pl.Float64).fill_nan(None)
            for i, s in enumerate(_SUFFIXES)
        ],
    )


def _shape(df: pl.DataFrame) -> pl.DataFrame:
    """A summary frame with every latency column, whichever query it came from."""
    for name, dtype in (("streamed", pl.UInt64), ("timeouts", pl.UInt64)):
        if name not in df.columns:
            df = df.with_columns(pl.lit(0, dtype).alias(name))
    df = df.with_columns(pl.col("streamed").fill_null(0))
    if "ttft" in df.columns:
        df = _with_ttft_nulls(df)
    df = _percentiles(df, "ttft", "ttft")
    df = _percentiles(df, "duration", "duration")
    df = _tbt(df)
    df = df.with_columns(
        error_rate=_rate("errors", "calls"),
        timeout_rate=_rate("timeouts", "calls"),
        calls=pl.col("calls").cast(pl.UInt64),
        errors=pl.col("errors").cast(pl.UInt64),
        timeouts=pl.col("timeouts").cast(pl.UInt64),
        streamed=pl.col("streamed").cast(pl.UInt64),
    )
    return df.select(LATENCY_COLUMNS)
