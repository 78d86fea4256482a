"""Cost: tokens by model priced with a :class:`PriceTable`, and cost per successful run.

Token sums are taken in ClickHouse per model; the price table is applied to the sums (cost
is linear in tokens). A model the table cannot price costs null, never 0; totals add the
priced models and say which models were left out.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics._filters import Filters, scope, scope_params, window
from analytics._measures import IS_ERROR, IS_LLM, MODEL, frame
from analytics._prices import PriceTable, load_prices
from collector import Store

__all__ = ["COST_COLUMNS", "RUN_COST_COLUMNS", "cost", "cost_per_run", "price_frame"]

COST_COLUMNS = (
    "model",
    "calls",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
)
RUN_COST_COLUMNS = (
    "agent",
    "runs",
    "successful_runs",
    "cost_usd",
    "cost_per_successful_run",
    "unpriced_models",
)
_TOKENS = """
    count() AS calls,
    sum(input_tokens) AS input_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens"""

_BY_MODEL = f"""
SELECT {MODEL} AS model, {_TOKENS}
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND {IS_LLM}
GROUP BY model
ORDER BY model
"""

# The runs of each agent, and the tokens of the LLM calls in their traces, by model.
_RUNS = f"""
SELECT agent_name AS agent, count() AS runs,
       countIf(NOT {IS_ERROR} AND NOT (timeout_ms IS NOT NULL AND duration_ms > timeout_ms))
           AS successful_runs
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{run_scope}} AND operation = 'invoke_agent' AND agent_name != ''
GROUP BY agent_name
"""
_RUN_CALLS = f"""
SELECT a.agent_name AS agent, c.model AS model, {_TOKENS}
FROM (SELECT trace_id, {MODEL} AS model, input_tokens, cached_tokens, output_tokens,
             reasoning_tokens
      FROM {{{{db:Identifier}}}}.genai_spans WHERE {{call_scope}} AND {IS_LLM}) AS c
INNER JOIN (SELECT DISTINCT trace_id, agent_name FROM {{{{db:Identifier}}}}.genai_spans
            WHERE {{run_scope}} AND operation = 'invoke_agent' AND agent_name != '') AS a
USING trace_id
GROUP BY agent, model
"""


def price_frame(df: pl.DataFrame, prices: PriceTable) -> pl.DataFrame:
    """Add ``cost_usd`` to a frame of per-model token sums (null where unpriced)."""
    costs = [
        prices.cost(
            row["model"],
            input_tokens=row["input_tokens"],
            cached_tokens=row["cached_tokens"],
            output_tokens=row["output_tokens"],
            reasoning_tokens=row["reasoning_tokens"],
        )
        for row in df.iter_rows(named=True)
    ]
    return df.with_columns(pl.Series("cost_usd", costs, dtype=pl.Float64))


def cost(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    prices: PriceTable | None = None,
) -> pl.DataFrame:
    """Per model: calls, input/cached/output/reasoning tokens and ``cost_usd`` (null when
    the price table does not know the model). Columns: :data:`COST_COLUMNS`."""
    win = window(since, until)
    table = prices or load_prices()
    df = frame(store, _BY_MODEL.format(scope=scope(filters)), scope_params(win, filters))
    return price_frame(df, table).select(COST_COLUMNS)


def cost_per_run(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    prices: PriceTable | None = None,
) -> pl.DataFrame:
    """Per agent: runs, successful runs (no error, within the deadline), the cost of every
    LLM call in its runs' traces, and that cost divided by the successful runs (failed runs
    are paid for too). Columns: :data:`RUN_COST_COLUMNS`."""
    win = window(since, until)
    table = prices or load_prices()
    params = scope_params(win, filters)
    run_scope = scope(filters, model="trace")
    runs = frame(store, _RUNS.format(run_scope=run_scope), params)
    calls = frame(store, _RUN_CALLS.format(call_scope=scope(filters), run_scope=run_scope), params)
    rows = []
    for run in runs.iter_rows(named=True):
        mine = price_frame(calls.filter(pl.col("agent") == run["agent"]), table)
        unpriced = sorted(mine.filter(pl.col("cost_usd").is_null())["model"].to_list())
        total = float(mine["cost_usd"].sum() or 0.0)
        priced_any = mine["cost_usd"].is_not_null().any() or mine.is_empty()
        spent = total if priced_any else None
        ok = run["successful_runs"]
        rows.append(
            {
                "agent": run["agent"],
                "runs": run["runs"],
                "successful_runs": ok,
                "cost_usd": spent,
                "cost_per_successful_run": spent / ok if spent is not None and ok else None,
                "unpriced_models": unpriced,
            }
        )
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "agent": pl.String,
        "runs": pl.UInt64,
        "successful_runs": pl.UInt64,
        "cost_usd": pl.Float64,
        "cost_per_successful_run": pl.Float64,
        "unpriced_models": pl.List(pl.String),
    }
    return pl.DataFrame(rows, schema=schema).sort("agent")
