"""Named measures over ``genai_spans``: each figure's SQL expression, written once.

Every query of this package builds on these names, in the manner of a semantic layer, so
that "an LLM call" or "the model" means the same thing in every figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import polars as pl

from collector import Store

__all__ = [
    "END_NS",
    "IS_ERROR",
    "IS_LLM",
    "MODEL",
    "NON_LLM",
    "PERCENTILES",
    "SAMPLE_KEY",
    "START_NS",
    "frame",
    "shared_queries",
    "sharing",
]

PERCENTILES = (0.5, 0.95, 0.99)
"""The percentiles every latency figure reports: p50, p95, p99."""

MODEL = "if(request_model != '', request_model, response_model)"
"""A call's model: the model asked for, else the one that answered."""

NON_LLM = ("invoke_agent", "execute_tool", "route")

IS_LLM = (
    "((request_model != '' OR response_model != '')"
    " AND operation NOT IN ('invoke_agent', 'execute_tool', 'route'))"
)
"""An LLM call: a span with a model that is not an agent run, a skill or a routing decision."""

IS_ERROR = "(status_code = 'Error')"

START_NS = "toUnixTimestamp64Nano(timestamp)"
END_NS = "(toUnixTimestamp64Nano(timestamp) + toInt64(duration_ms * 1e6))"

SAMPLE_KEY = "cityHash64(trace_key, timestamp)"
"""A span's uniform 64-bit hash (of its trace and start time), for deterministic samples.

``trace_key`` is ``cityHash64(trace_id)``, stored (migration 0009)."""

LATENCY_QUANTILES = "quantilesExactInclusive(0.5, 0.95, 0.99)"
"""Exact percentiles with linear interpolation between order statistics (numpy's default)."""


_SHARED: ContextVar[dict[str, pl.DataFrame] | None] = ContextVar("analytics_shared", default=None)


@contextmanager
def shared_queries() -> Iterator[None]:
    """Within this block, a query asked again (same store, SQL and values) is answered once.

    Figures that need the same aggregate (an agent's calls for latency and for cost) issue
    the same query; a report computes it once.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def sharing() -> bool:
    """Whether queries are shared here (within :func:`shared_queries`)."""
    return _SHARED.get() is not None


def frame(store: Store, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """Run a query; the result as a polars DataFrame (empty frames keep their columns)."""
    shared = _SHARED.get()
    if shared is None:
        return store.query_polars(sql, params)
    key = f"{id(store)}\0{store.database}\0{sql}\0{sorted(params.items())!r}"
    if key not in shared:
        shared[key] = store.query_polars(sql, params)
    return shared[key]
