"""Latency: TTFT, pooled TBT and duration percentiles, by model, agent, route, skill and time.

Definitions (docs/analytics.md, "Latency"): percentiles over the raw table are exact
(``quantilesExactInclusive``: linear interpolation between order statistics, as numpy's
default); TBT percentiles are pooled over every inter-token gap of every call (the merged
gap histograms, within 1.09 %); rollup figures use DDSketch (within 1 %).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from analytics._filters import Filters, rollup_scope, scope, scope_params, window
from analytics._histogram import pooled_percentiles, pooled_sql
from analytics._measures import IS_ERROR, IS_LLM, LATENCY_QUANTILES, MODEL, PERCENTILES, frame
from collector import Store

__all__ = [
    "DURATION_BY_COLUMNS",
    "LATENCY_COLUMNS",
    "OVER_TIME_COLUMNS",
    "ROLLUP_AFTER",
    "choose_bucket",
    "duration_by",
    "latency_over_time",
    "latency_summary",
]

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
OVER_TIME_COLUMNS = (
    "bucket",
    "model",
    "calls",
    "errors",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "tbt_gaps",
    "tbt_p50",
    "tbt_p95",
    "tbt_p99",
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
ROLLUP_AFTER = timedelta(hours=6)
"""Windows longer than this read the per-minute rollup (when the filters allow it)."""
_BUCKETS = (
    (timedelta(hours=1), timedelta(minutes=1)),
    (timedelta(hours=6), timedelta(minutes=5)),
    (timedelta(days=1), timedelta(minutes=15)),
    (timedelta(days=7), timedelta(hours=1)),
    (timedelta(days=31), timedelta(hours=6)),
)
_SUFFIXES = ("p50", "p95", "p99")

_GROUPS = f"""
    count() AS calls,
    countIf({IS_ERROR}) AS errors,
    countIf(timed_out) AS timeouts,
    countIf(ttft_ms IS NOT NULL) AS streamed,
    {LATENCY_QUANTILES}(ttft_ms) AS ttft,
    {LATENCY_QUANTILES}(duration_ms) AS duration,
    sumMap(tbt_histogram) AS tbt_map,
    mapKeys(tbt_map) AS tbt_keys,
    mapValues(tbt_map) AS tbt_counts"""

_BY_OPERATION = """
SELECT operation, if({is_llm}, {model}, '') AS model, '' AS agent, any(provider) AS provider,
{groups}
FROM {{db:Identifier}}.genai_spans
WHERE {scope}
GROUP BY operation, model
"""

_AGENT_RUNS = """
SELECT 'invoke_agent' AS operation, '' AS model, agent_name AS agent, '' AS provider,
    count() AS calls,
    countIf({is_error}) AS errors,
    countIf(timeout_ms IS NOT NULL AND duration_ms > timeout_ms) AS timeouts,
    {quantiles}(duration_ms) AS duration
FROM {{db:Identifier}}.genai_spans
WHERE {scope} AND operation = 'invoke_agent' AND agent_name != ''
GROUP BY agent_name
"""

# LLM calls in the traces of each agent's runs.
_AGENT_CALLS = """
SELECT a.agent_name AS agent,
    countIf(c.ttft_ms IS NOT NULL) AS streamed,
    {quantiles}(c.ttft_ms) AS ttft,
    sumMap(c.tbt_histogram) AS tbt_map,
    mapKeys(tbt_map) AS tbt_keys,
    mapValues(tbt_map) AS tbt_counts
FROM (SELECT trace_id, ttft_ms, tbt_histogram FROM {{db:Identifier}}.genai_spans
      WHERE {call_scope} AND {is_llm}) AS c
INNER JOIN (SELECT DISTINCT trace_id, agent_name FROM {{db:Identifier}}.genai_spans
            WHERE {run_scope} AND operation = 'invoke_agent' AND agent_name != '') AS a
USING trace_id
GROUP BY a.agent_name
"""

_OVER_TIME_RAW = """
SELECT toDateTime64(toStartOfInterval(toDateTime(timestamp, 'UTC'),
                                         toIntervalSecond({{bucket_s:UInt32}})), 0, 'UTC')
           AS bucket,
    {model} AS model,
    count() AS calls,
    countIf({is_error}) AS errors,
    {quantiles}(ttft_ms) AS ttft,
    sumMap(tbt_histogram) AS tbt_map,
    mapKeys(tbt_map) AS tbt_keys,
    mapValues(tbt_map) AS tbt_counts,
    {tbt_sql}
FROM {{db:Identifier}}.genai_spans
WHERE {scope} AND {is_llm}
GROUP BY bucket, model
ORDER BY bucket, model
"""

_OVER_TIME_ROLLUP = """
SELECT toDateTime64(toStartOfInterval(toDateTime(minute, 'UTC'),
                                         toIntervalSecond({{bucket_s:UInt32}})), 0, 'UTC')
           AS bucket,
    model,
    sum(calls) AS calls,
    sum(errors) AS errors,
    quantilesDDMerge(0.01, 0.5, 0.95, 0.99)(ttft_ms) AS ttft,
    sum(streamed) AS streamed,
    sumMap(tbt_histogram) AS tbt_map,
    mapKeys(tbt_map) AS tbt_keys,
    mapValues(tbt_map) AS tbt_counts,
    {tbt_sql}
FROM {{db:Identifier}}.genai_minutes
WHERE {scope} AND model != '' AND operation NOT IN ('invoke_agent', 'execute_tool', 'route')
GROUP BY bucket, model
ORDER BY bucket, model
"""

_TBT_SQL = ",\n    ".join(
    f"{pooled_sql('tbt_keys', 'tbt_counts', q)} AS tbt_{s}"
    for q, s in zip(PERCENTILES, ("p50", "p95", "p99"), strict=True)
)

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
    runs = frame(
        store,
        _AGENT_RUNS.format(
            scope=scope(filters, model="trace"), is_error=IS_ERROR, quantiles=LATENCY_QUANTILES
        ),
        params,
    )
    calls = frame(
        store,
        _AGENT_CALLS.format(
            call_scope=scope(filters),
            run_scope=scope(filters, model="trace"),
            is_llm=IS_LLM,
            quantiles=LATENCY_QUANTILES,
        ),
        params,
    )
    agents = runs.join(calls, on="agent", how="left") if not runs.is_empty() else runs
    parts = [_shape(ops), _shape(agents)]
    out = pl.concat([p for p in parts if not p.is_empty()] or parts[:1], how="vertical")
    return out.select(LATENCY_COLUMNS).sort(["agent", "operation", "model"], nulls_last=True)


def latency_over_time(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    bucket: timedelta | None = None,
    *,
    source: Literal["auto", "raw", "rollup"] = "auto",
) -> pl.DataFrame:
    """LLM calls per time bucket and model: calls, errors, TTFT and pooled TBT percentiles.

    ``bucket`` defaults to :func:`choose_bucket` of the window. ``source="auto"`` reads the
    per-minute rollup for windows longer than :data:`ROLLUP_AFTER` when the bucket is whole
    minutes and no agent/route/skill filter is set, else the raw table. Columns:
    :data:`OVER_TIME_COLUMNS` (``bucket``: the bucket's start, UTC) plus ``source``.
    """
    win = window(since, until)
    step = bucket or choose_bucket(win.length)
    if step.total_seconds() < 1 or step.total_seconds() != int(step.total_seconds()):
        raise ValueError(f"bucket must be a whole number of seconds, got {step}")
    params = scope_params(win, filters) | {"bucket_s": int(step.total_seconds())}
    rolled = rollup_scope(filters)
    whole_minutes = step.total_seconds() % 60 == 0
    use_rollup = source == "rollup" or (
        source == "auto" and win.length > ROLLUP_AFTER and whole_minutes and rolled is not None
    )
    if use_rollup:
        if rolled is None:
            raise ValueError("the rollup has no agent, route or skill dimension; use raw")
        sql = _OVER_TIME_ROLLUP.format(scope=rolled, tbt_sql=_TBT_SQL)
    else:
        sql = _OVER_TIME_RAW.format(
            scope=scope(filters),
            model=MODEL,
            is_error=IS_ERROR,
            is_llm=IS_LLM,
            quantiles=LATENCY_QUANTILES,
            tbt_sql=_TBT_SQL,
        )
    df = frame(store, sql, params)
    if "streamed" not in df.columns:
        df = df.with_columns(streamed=pl.lit(None, pl.UInt64))
    df = _with_ttft_nulls(df)
    shaped = _percentiles(df, "ttft", "ttft").with_columns(
        tbt_gaps=pl.col("tbt_counts").list.sum().fill_null(0).cast(pl.UInt64)
    )
    return shaped.select(*OVER_TIME_COLUMNS).with_columns(
        source=pl.lit("rollup" if use_rollup else "raw")
    )


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


def choose_bucket(length: timedelta) -> timedelta:
    """The time bucket for a window: about 60 to 300 points whatever its length."""
    for longest, step in _BUCKETS:
        if length <= longest:
            return step
    return timedelta(days=1)


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
    keys = df["tbt_keys"].to_list()
    counts = df["tbt_counts"].to_list()
    rows = [
        pooled_percentiles(k or [], c or [], PERCENTILES) for k, c in zip(keys, counts, strict=True)
    ]
    gaps = [sum(c or []) for c in counts]
    return df.with_columns(
        pl.Series("tbt_gaps", gaps, dtype=pl.UInt64),
        *[
            pl.Series(f"tbt_{s}", [r[i] for r in rows], dtype=pl.Float64)
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
