"""Agents: their runs, and the LLM calls in the traces of their runs.

The agent rows of ``latency_summary`` and ``cost_per_run`` read them; a report asks for
both parts of the calls in one query (see :func:`agent_calls`), so it joins the calls to
the runs once. A call belongs to every agent that has a run in its trace, in the window.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from analytics._filters import Filters, Window, scope, scope_params
from analytics._measures import IS_ERROR, IS_LLM, LATENCY_QUANTILES, frame, sharing
from collector import Store

__all__ = ["agent_calls", "agent_runs"]

_OVER_DEADLINE = "(timeout_ms IS NOT NULL AND duration_ms > timeout_ms)"

_RUNS = f"""
SELECT agent_name AS agent, count() AS runs,
       countIf({IS_ERROR}) AS errors,
       countIf({_OVER_DEADLINE}) AS timeouts,
       countIf(NOT {IS_ERROR} AND NOT {_OVER_DEADLINE}) AS successful_runs,
       {LATENCY_QUANTILES}(duration_ms) AS duration
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND operation = 'invoke_agent' AND agent_name != ''
GROUP BY agent_name
ORDER BY agent_name
"""

# The LLM calls of each agent's traces, joined to the runs by trace once, then rolled up:
# per agent and model the token sums (``tokens``), per agent (model '') the TTFT
# percentiles and the merged TBT histogram (``latency``).
_TOKENS = (
    "sum(calls) AS calls",
    "sum(input_tokens) AS input_tokens",
    "sum(cached_tokens) AS cached_tokens",
    "sum(output_tokens) AS output_tokens",
    "sum(reasoning_tokens) AS reasoning_tokens",
)
_LATENCY = (
    "sum(streamed) AS streamed",
    f"{LATENCY_QUANTILES.replace('(0.5', 'Merge(0.5')}(ttft) AS ttft",
    "sumMap(tbt_map) AS tbt_merged",
    "mapKeys(tbt_merged) AS tbt_keys",
    "mapValues(tbt_merged) AS tbt_counts",
)
_INNER_TOKENS = (
    "count() AS calls",
    "sum(c.input_tokens) AS input_tokens",
    "sum(c.cached_tokens) AS cached_tokens",
    "sum(c.output_tokens) AS output_tokens",
    "sum(c.reasoning_tokens) AS reasoning_tokens",
)
_INNER_LATENCY = (
    "countIf(c.ttft_ms IS NOT NULL) AS streamed",
    f"{LATENCY_QUANTILES.replace('(0.5', 'State(0.5')}(c.ttft_ms) AS ttft",
    "sumMap(c.tbt_histogram) AS tbt_map",
)
_GROUPING = {
    ("latency",): "GROUP BY agent",
    ("tokens",): "GROUP BY agent, model",
    ("latency", "tokens"): "GROUP BY GROUPING SETS ((agent, model), (agent))",
}
_CALLS = f"""
SELECT agent, {{model}}, {{outer}}
FROM (
    SELECT arrayJoin(a.agents) AS agent,
           if(c.request_model != '', c.request_model, c.response_model) AS model, {{inner}}
    FROM (SELECT trace_key, request_model, response_model, input_tokens, cached_tokens,
                 output_tokens, reasoning_tokens, ttft_ms, tbt_histogram
          FROM {{{{db:Identifier}}}}.genai_spans WHERE {{call_scope}} AND {IS_LLM}) AS c
    INNER JOIN (SELECT trace_key, groupUniqArray(agent_name) AS agents
                FROM {{{{db:Identifier}}}}.genai_spans
                WHERE {{run_scope}} AND operation = 'invoke_agent' AND agent_name != ''
                GROUP BY trace_key) AS a
    USING trace_key
    GROUP BY agent, c.request_model, c.response_model
)
{{grouping}}
ORDER BY agent, model
"""


def agent_runs(store: Store, win: Window, filters: Filters | None) -> pl.DataFrame:
    """Per agent: ``runs``, ``errors``, ``timeouts`` (runs longer than their deadline),
    ``successful_runs`` (neither) and ``duration`` (exact p50/p95/p99, ms)."""
    sql = _RUNS.format(scope=scope(filters, model="trace"))
    return frame(store, sql, scope_params(win, filters))


def agent_calls(
    store: Store, win: Window, filters: Filters | None, part: Literal["latency", "tokens"]
) -> pl.DataFrame:
    """The LLM calls in the traces of each agent's runs: ``tokens``, per ``(agent, model)``
    the calls and token sums; ``latency``, per agent (``model == ""``) ``streamed``,
    ``ttft`` (exact p50/p95/p99) and the merged TBT histogram (``tbt_keys``,
    ``tbt_counts``). Within :func:`shared_queries` (a report, which needs both) one query
    answers both parts."""
    parts = ("latency", "tokens") if sharing() else (part,)
    inner = [*(_INNER_LATENCY if "latency" in parts else ()), *_INNER_TOKENS]
    outer = [*(_LATENCY if "latency" in parts else ()), *(_TOKENS if "tokens" in parts else ())]
    sql = _CALLS.format(
        model="model" if "tokens" in parts else "'' AS model",
        outer=", ".join(outer),
        inner=", ".join(inner),
        grouping=_GROUPING[parts],
        call_scope=scope(filters),
        run_scope=scope(filters, model="trace"),
    )
    df = frame(store, sql, scope_params(win, filters))
    return df.filter(pl.col("model") == "" if part == "latency" else pl.col("model") != "")
