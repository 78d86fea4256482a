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
from analytics._measures import IS_LLM, MODEL, frame
from analytics._prices import PriceTable, load_prices
from analytics._series import choose_bucket
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

# A call's output tokens for waste: as reported, but an abandoned stream closed before its
# usage arrived (0 output tokens) counts the content chunks it delivered (an estimate).
OUTPUT = (
    f"if(output_tokens = 0 AND waste_cause = '{semconv.WASTE_ABANDONED}' AND ttft_ms IS NOT NULL,"
    " toUInt64(tbt_count) + 1, output_tokens)"
)
_MARK = f"(waste_cause IN ({_MARKED}))"

# Every LLM call, under its mark, else as reasoning (its hidden reasoning tokens). Duplicates
# are not known per call: _DUPLICATES moves them from there.
_CALLS = f"""
SELECT key, if(request_model != '', request_model, response_model) AS model, bucket,
       multiIf(mark IN ({_MARKED}), mark, reasoned, 'reasoning', '') AS cause,
       toInt64(sum(tokens)) AS tokens, toInt64(sum(hidden)) AS reasoning,
       toInt64(sum(output)) AS output
FROM (
    SELECT key, request_model, response_model, bucket, mark, reasoned,
           sum(if(mark IN ({_MARKED}), out, if(reasoned, reasoning_tokens, 0))) AS tokens,
           sum(if(mark IN ({_MARKED}), least(reasoning_tokens, out), if(reasoned,
                  reasoning_tokens, 0))) AS hidden,
           sum(out) AS output
    FROM (
        SELECT {{key}} AS key, request_model, response_model, {{bucket}} AS bucket,
               waste_cause AS mark, reasoning_tokens > 0 AS reasoned, {OUTPUT} AS out,
               reasoning_tokens
        FROM {{{{db:Identifier}}}}.genai_spans {{join}}
        WHERE {{scope}} AND {IS_LLM}
    )
    GROUP BY key, request_model, response_model, bucket, mark, reasoned
)
GROUP BY key, model, bucket, cause
"""

# Identical requests of a trace (same fingerprint and model), two or more: every unmarked
# call but the first (by start time, ties by span id hash) is a duplicate, so its output
# tokens move to `duplicate` and its reasoning tokens leave `reasoning`.
_ORDER = "bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(timestamp)), 64), cityHash64(span_id))"
_REQUEST_KEY = f"cityHash64(trace_key, request_fingerprint, {MODEL})"
_FINGERPRINTED = f"""
SELECT trace_key, {_REQUEST_KEY} AS request_key, {MODEL} AS model, {_ORDER} AS position,
       NOT {_MARK} AS unmarked, output_tokens, reasoning_tokens, {{bucket}} AS bucket
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND {IS_LLM} AND request_fingerprint != ''
  AND {_REQUEST_KEY} IN (
      SELECT {_REQUEST_KEY} AS request_key FROM {{{{db:Identifier}}}}.genai_spans
      WHERE {{scope}} AND {IS_LLM} AND request_fingerprint != ''
      GROUP BY request_key HAVING count() > 1)
"""
# Without time buckets: per group, the sums over its unmarked calls less its first call.
_GROUPS = """
SELECT trace_key, any(model) AS model, toDateTime(0, 'UTC') AS bucket,
       argMin(unmarked, position) AS first_unmarked,
       toInt64(sumIf(output_tokens, unmarked)
               - if(first_unmarked, argMin(output_tokens, position), 0)) AS moved,
       toInt64(sumIf(reasoning_tokens, unmarked)
               - if(first_unmarked, argMin(reasoning_tokens, position), 0)) AS unreasoned,
       toInt64(sumIf(least(reasoning_tokens, output_tokens), unmarked)
               - if(first_unmarked, argMin(least(reasoning_tokens, output_tokens), position), 0))
           AS moved_hidden
FROM ({calls})
GROUP BY request_key, trace_key
"""
# With time buckets: each unmarked call but the first, in its own bucket.
_GROUP_CALLS = """
SELECT trace_key, model, call.1 AS bucket, toInt64(call.2) AS moved,
       toInt64(call.3) AS unreasoned, toInt64(least(call.2, call.3)) AS moved_hidden
FROM (
    SELECT trace_key, any(model) AS model, min(position) AS first,
           groupArrayIf(position, unmarked) AS positions,
           arrayZip(groupArrayIf(bucket, unmarked), groupArrayIf(output_tokens, unmarked),
                    groupArrayIf(reasoning_tokens, unmarked)) AS calls
    FROM ({calls})
    GROUP BY request_key, trace_key
)
ARRAY JOIN arrayFilter((c, p) -> p != first, calls, positions) AS call
"""
_DUPLICATES = """
SELECT key, model, bucket, move.1 AS cause, move.2 AS tokens, move.3 AS reasoning,
       toInt64(0) AS output
FROM (
    SELECT {key} AS key, model, bucket, sum(moved) AS m, sum(moved_hidden) AS h,
           sum(unreasoned) AS u
    FROM ({groups}) AS g
    {join}
    GROUP BY key, model, bucket
)
ARRAY JOIN [('duplicate', m, h), ('reasoning', -u, -u)] AS move
"""
# A trace's agent and route: its first agent run and routing decision.
_TRACES = """
LEFT JOIN (
    SELECT trace_key,
           argMinIf(agent_name, timestamp, operation = 'invoke_agent' AND agent_name != '')
               AS agent,
           argMinIf(route_name, timestamp, operation = 'route' AND route_name != '') AS route
    FROM {{db:Identifier}}.genai_spans
    WHERE {trace_scope} AND operation IN ('invoke_agent', 'route')
    GROUP BY trace_key
) AS t USING trace_key
"""

_BY = """
SELECT key, model, cause, sum(tokens) AS tokens, sum(reasoning) AS reasoning,
       sum(output) AS output
FROM ({calls} UNION ALL {duplicates})
GROUP BY key, model, cause
"""

_OVER_TIME = """
SELECT toDateTime64(bucket, 0, 'UTC') AS bucket, cause, sum(tokens) AS tokens,
       sum(output) AS output
FROM ({calls} UNION ALL {duplicates})
GROUP BY bucket, cause
ORDER BY bucket, cause
"""

_KEYS = {"cause": "''", "agent": "t.agent", "model": "model", "route": "t.route"}
_BUCKET = "toStartOfInterval(toDateTime(timestamp, 'UTC'), toIntervalSecond({bucket_s:UInt32}))"


def _waste_sql(template: str, filters: Filters | None, by: str, bucket: bool) -> str:
    key = _KEYS[by]
    join = ""
    if key.startswith("t."):
        trace_scope = scope(filters, model="none").replace(
            "timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})",
            "timestamp >= fromUnixTimestamp64Nano({since_ns:Int64}) - INTERVAL 1 HOUR",
        )
        join = _TRACES.format(trace_scope=trace_scope)
    at = _BUCKET if bucket else "toDateTime(0, 'UTC')"
    calls = _CALLS.format(key=key, bucket=at, scope=scope(filters), join=join)
    fingerprinted = _FINGERPRINTED.format(bucket=at, scope=scope(filters))
    groups = (_GROUP_CALLS if bucket else _GROUPS).format(calls=fingerprinted)
    duplicates = _DUPLICATES.format(key=key, groups=groups, join=join)
    return template.format(calls=calls, duplicates=duplicates)


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
    df = frame(store, _waste_sql(_BY, filters, by, bucket=False), scope_params(win, filters))
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
    df = frame(store, _waste_sql(_OVER_TIME, filters, "cause", bucket=True), params)
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


# Per model, and for all (model '' here, "*" in the frame), in one pass.
_REASONING = f"""
SELECT model, count() AS calls, sum(extra_ms) AS total_ms,
       quantilesExactInclusive(0.5, 0.95, 0.99)(extra_ms) AS q
FROM (
    SELECT {MODEL} AS model, reasoning_tokens * tbt_mean_ms AS extra_ms
    FROM {{{{db:Identifier}}}}.genai_spans
    WHERE {{scope}} AND {IS_LLM} AND reasoning_tokens > 0 AND tbt_mean_ms IS NOT NULL
)
GROUP BY GROUPING SETS ((model), ())
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
    df = frame(store, _REASONING.format(scope=scope(filters)), params)
    total = pl.col("model") == ""
    everything = df.filter(total).with_columns(model=pl.lit("*"))
    if everything.is_empty():  # no call at all: the row for all is still there
        everything = pl.DataFrame(
            {"model": ["*"], "calls": [0], "total_ms": [0.0], "q": [[None, None, None]]},
            schema={
                "model": pl.String,
                "calls": pl.UInt64,
                "total_ms": pl.Float64,
                "q": pl.List(pl.Float64),
            },
        )
    df = pl.concat([df.filter(~total).sort("model"), everything], how="vertical_relaxed")
    out = df.with_columns(
        [
            pl.col("q").list.get(i).fill_nan(None).alias(name)
            for i, name in enumerate(("p50_ms", "p95_ms", "p99_ms"))
        ]
    ).select("model", "calls", "total_ms", "p50_ms", "p95_ms", "p99_ms")
    return out.with_columns(
        pl.when(pl.col("calls") > 0).then(pl.col("total_ms")).otherwise(None).alias("total_ms")
    )
