"""Token waste by cause: output tokens paid for that never reached the user.

Each wasted token is counted under one cause, so shares add up (docs/analytics.md, "Waste"):

- a call marked by the tracer (``agentflight.waste.cause``: ``failed``, ``retried``,
  ``parse_error``, ``abandoned``, ``truncated``, ``duplicate``): all its output tokens;
- else a ``duplicate``: a call whose request fingerprint equals that of an earlier call in
  the same trace (the first of identical requests is not waste): all its output tokens;
- else ``reasoning``: its hidden reasoning tokens.

``share`` is the cause's tokens over all output tokens of the window's LLM calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from analytics._filters import Filters, scope, scope_params, window
from analytics._latency import choose_bucket
from analytics._measures import IS_LLM, MODEL, frame
from analytics._prices import PriceTable, load_prices
from collector import Store
from tracer import semconv

__all__ = ["CAUSES", "WASTE_COLUMNS", "reasoning_latency", "waste", "waste_over_time"]

CAUSES = (
    "reasoning",
    semconv.WASTE_FAILED,
    semconv.WASTE_RETRIED,
    semconv.WASTE_PARSE_ERROR,
    semconv.WASTE_ABANDONED,
    semconv.WASTE_TRUNCATED,
    semconv.WASTE_DUPLICATE,
)
WASTE_COLUMNS = ("cause", "tokens", "cost_usd", "share")
_MARKED = ", ".join(f"'{c}'" for c in sorted(semconv.WASTE_CAUSES))

# Each LLM call with its waste cause and the tokens it wasted, plus its trace's agent and
# route (the first agent run and routing decision of the trace).
_CALLS = f"""
SELECT c.*, t.agent AS agent, t.route AS route
FROM (
    SELECT trace_id, timestamp, model, output_tokens, reasoning_tokens, ttft_ms, tbt_mean_ms,
           multiIf(waste_cause IN ({_MARKED}), waste_cause,
                   dup > 1, 'duplicate', reasoning_tokens > 0, 'reasoning', '') AS cause,
           if(cause = 'reasoning', reasoning_tokens, if(cause = '', 0, output_tokens))
               AS wasted,
           if(cause = 'reasoning', reasoning_tokens, if(cause = '', 0,
              least(reasoning_tokens, output_tokens))) AS wasted_reasoning
    FROM (
        SELECT trace_id, timestamp, {MODEL} AS model, output_tokens, reasoning_tokens,
               ttft_ms, tbt_mean_ms, waste_cause,
               if(request_fingerprint = '', 0,
                  row_number() OVER (PARTITION BY trace_id, request_fingerprint
                                     ORDER BY timestamp, span_id)) AS dup
        FROM {{{{db:Identifier}}}}.genai_spans
        WHERE {{scope}} AND {IS_LLM}
    )
) AS c
LEFT JOIN (
    SELECT trace_id,
           argMinIf(agent_name, timestamp, operation = 'invoke_agent' AND agent_name != '')
               AS agent,
           argMinIf(route_name, timestamp, operation = 'route' AND route_name != '') AS route
    FROM {{{{db:Identifier}}}}.genai_spans
    WHERE {{trace_scope}}
    GROUP BY trace_id
) AS t USING trace_id
"""

_BY = """
SELECT {key} AS key, model, cause, sum(wasted) AS tokens,
       sum(wasted_reasoning) AS reasoning, sum(output_tokens) AS output
FROM ({calls})
GROUP BY key, model, cause
"""

_OVER_TIME = """
SELECT toDateTime64(toStartOfInterval(toDateTime(timestamp, 'UTC'),
                                      toIntervalSecond({{bucket_s:UInt32}})), 0, 'UTC') AS bucket,
       cause, sum(wasted) AS tokens, sum(output_tokens) AS output
FROM ({calls})
GROUP BY bucket, cause
ORDER BY bucket, cause
"""

_KEYS = {"cause": "''", "agent": "agent", "model": "model", "route": "route"}


def _calls_sql(filters: Filters | None) -> str:
    trace_scope = scope(filters, model="none").replace(
        "timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})",
        "timestamp >= fromUnixTimestamp64Nano({since_ns:Int64}) - INTERVAL 1 HOUR",
    )
    return _CALLS.format(scope=scope(filters), trace_scope=trace_scope)


def waste(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    by: Literal["cause", "agent", "model", "route"] = "cause",
    prices: PriceTable | None = None,
) -> pl.DataFrame:
    """Wasted tokens by cause (every cause, zeros included), or by agent, model or route and
    cause. Columns: ``cause, tokens, cost_usd, share``, after ``agent``/``model``/``route``
    when ``by`` is one of those. ``share`` is over all output tokens of the window (of the
    group, with ``by``); ``cost_usd`` prices the wasted output tokens (reasoning ones at the
    reasoning price), null when no model of them is priced.
    """
    if by not in _KEYS:
        raise ValueError(f"by must be one of {', '.join(_KEYS)}, got {by!r}")
    win = window(since, until)
    table = prices or load_prices()
    df = frame(
        store, _BY.format(key=_KEYS[by], calls=_calls_sql(filters)), scope_params(win, filters)
    )
    groups = [""] if by == "cause" else sorted(set(df["key"].to_list()))
    rows = []
    for key in groups:
        mine = df.filter(pl.col("key") == key)
        output = int(mine["output"].sum() or 0)
        for cause in CAUSES:
            part = mine.filter(pl.col("cause") == cause)
            tokens = int(part["tokens"].sum() or 0)
            row: dict[str, object] = {} if by == "cause" else {by: key}
            row |= {
                "cause": cause,
                "tokens": tokens,
                "cost_usd": _cost(part, table),
                "share": tokens / output if output else None,
            }
            rows.append(row)
    schema: dict[str, type[pl.DataType]] = {} if by == "cause" else {by: pl.String}
    schema |= {"cause": pl.String, "tokens": pl.Int64, "cost_usd": pl.Float64, "share": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def _cost(part: pl.DataFrame, table: PriceTable) -> float | None:
    if part.is_empty() or int(part["tokens"].sum() or 0) == 0:
        return 0.0
    total, priced = 0.0, False
    for row in part.iter_rows(named=True):
        reasoning = int(row["reasoning"])
        visible = int(row["tokens"]) - reasoning
        value = table.cost(
            row["model"],
            input_tokens=0,
            output_tokens=visible + reasoning,
            reasoning_tokens=reasoning,
        )
        if value is not None:
            total, priced = total + value, True
    return total if priced else None


def waste_over_time(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    bucket: timedelta | None = None,
) -> pl.DataFrame:
    """Wasted tokens per time bucket and cause: ``bucket, cause, tokens, share`` (share of the
    bucket's output tokens). Causes with no waste in a bucket are left out."""
    win = window(since, until)
    step = bucket or choose_bucket(win.length)
    params = scope_params(win, filters) | {"bucket_s": int(step.total_seconds())}
    df = frame(store, _OVER_TIME.format(calls=_calls_sql(filters)), params)
    totals = df.group_by("bucket").agg(pl.col("output").sum().alias("all_output"))
    return (
        df.filter(pl.col("cause") != "")
        .join(totals, on="bucket")
        .with_columns(
            share=pl.when(pl.col("all_output") > 0)
            .then(pl.col("tokens") / pl.col("all_output"))
            .otherwise(None)
        )
        .select("bucket", "cause", "tokens", "share")
        .sort("bucket", "cause")
    )


_REASONING = f"""
SELECT {MODEL} AS model, reasoning_tokens * tbt_mean_ms AS extra_ms
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND {IS_LLM} AND reasoning_tokens > 0 AND tbt_mean_ms IS NOT NULL
"""
_REASONING_AGG = """
SELECT model, count() AS calls, sum(extra_ms) AS total_ms,
       quantilesExactInclusive(0.5, 0.95, 0.99)(extra_ms) AS q
FROM ({inner})
GROUP BY model
ORDER BY model
"""


def reasoning_latency(
    store: Store, since: datetime, until: datetime, filters: Filters | None = None
) -> pl.DataFrame:
    """What hidden reasoning costs in time: per call, reasoning tokens x the call's mean TBT
    (the time the model spent decoding tokens nobody sees), over streamed calls with
    reasoning tokens. Per model and for all (``model = "*"``): ``calls``, ``total_ms``,
    ``p50_ms``, ``p95_ms``, ``p99_ms``."""
    win = window(since, until)
    params = scope_params(win, filters)
    inner = _REASONING.format(scope=scope(filters))
    per_model = frame(store, _REASONING_AGG.format(inner=inner), params)
    everything = frame(
        store,
        "SELECT '*' AS model, count() AS calls, sum(extra_ms) AS total_ms, "
        "quantilesExactInclusive(0.5, 0.95, 0.99)(extra_ms) AS q FROM (" + inner + ")",
        params,
    )
    df = pl.concat([per_model, everything], how="vertical_relaxed")
    out = df.with_columns(
        [
            pl.col("q").list.get(i).fill_nan(None).alias(name)
            for i, name in enumerate(("p50_ms", "p95_ms", "p99_ms"))
        ]
    ).select("model", "calls", "total_ms", "p50_ms", "p95_ms", "p99_ms")
    return out.with_columns(
        pl.when(pl.col("calls") > 0).then(pl.col("total_ms")).otherwise(None).alias("total_ms")
    )
