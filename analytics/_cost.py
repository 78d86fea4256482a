"""Cost: tokens by model priced with a :class:`PriceTable`, and cost per successful run.

Token sums are taken in ClickHouse per model; the price table is applied to the sums (cost
is linear in tokens). A model the table cannot price costs null, never 0; totals add the
priced models and say which models were left out.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analytics._agents import agent_calls, agent_runs
from analytics._filters import Filters, scope_params, window
from analytics._measures import MODEL, frame
from analytics._prices import PriceTable, load_prices
from analytics._rollup import window_sums_sql
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

# Token sums add up: most of them come from the per-minute rollup (exact, see _rollup).
_BY_MODEL = """
SELECT model, calls, input_tokens, cached_tokens, output_tokens, reasoning_tokens
FROM ({sums})
ORDER BY model
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
    sums = window_sums_sql(filters, [("model", "model", MODEL)], llm_only=True)
    df = frame(store, _BY_MODEL.format(sums=sums), scope_params(win, filters))
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
    runs = agent_runs(store, win, filters)
    calls = agent_calls(store, win, filters, "tokens")
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
