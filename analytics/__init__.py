"""agentflight analytics: the figures that decide a ramp, over ``genai_spans``.

Every function takes a :class:`collector.Store`, a window (``since``, ``until``: aware
datetimes) and :class:`Filters`, and returns a polars DataFrame whose columns are documented
in docs/analytics.md, where every figure has its one definition. Heavy aggregation runs in
ClickHouse; polars, numpy and scipy shape and model the results.

Importing the package is cheap: each name loads its module on first use (PEP 562), so code
that needs only the SLO grammar (``loadtest``, before Locust patches the standard library)
does not load polars, numpy or clickhouse-connect.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics._cost import COST_COLUMNS, RUN_COST_COLUMNS, cost, cost_per_run
    from analytics._filters import Filters
    from analytics._histogram import RELATIVE_ERROR as TBT_HISTOGRAM_RELATIVE_ERROR
    from analytics._latency import (
        DURATION_BY_COLUMNS,
        LATENCY_COLUMNS,
        duration_by,
        latency_summary,
    )
    from analytics._load import FIT_COLUMNS, POINT_COLUMNS, load_fits, load_points
    from analytics._overview import OVERVIEW_METRICS, agents_at_risk, overview
    from analytics._prices import ModelPrice, PriceTable, load_prices
    from analytics._render import print_report, report_markdown
    from analytics._report import build_report, count_spans, run_report
    from analytics._series import OVER_TIME_COLUMNS, choose_bucket, latency_over_time
    from analytics._slo import SLO, Objective, parse_slo
    from analytics._timeout import BUDGET_PARTS, RISK_COLUMNS, timeout_risk
    from analytics._waste import CAUSES, WASTE_COLUMNS, reasoning_latency, waste, waste_over_time
    from analytics._when import parse_time

# Public name -> (private module, attribute).
_EXPORTS: dict[str, tuple[str, str]] = {
    "BUDGET_PARTS": ("_timeout", "BUDGET_PARTS"),
    "CAUSES": ("_waste", "CAUSES"),
    "COST_COLUMNS": ("_cost", "COST_COLUMNS"),
    "DURATION_BY_COLUMNS": ("_latency", "DURATION_BY_COLUMNS"),
    "FIT_COLUMNS": ("_load", "FIT_COLUMNS"),
    "Filters": ("_filters", "Filters"),
    "LATENCY_COLUMNS": ("_latency", "LATENCY_COLUMNS"),
    "ModelPrice": ("_prices", "ModelPrice"),
    "OVERVIEW_METRICS": ("_overview", "OVERVIEW_METRICS"),
    "OVER_TIME_COLUMNS": ("_series", "OVER_TIME_COLUMNS"),
    "Objective": ("_slo", "Objective"),
    "POINT_COLUMNS": ("_load", "POINT_COLUMNS"),
    "PriceTable": ("_prices", "PriceTable"),
    "RISK_COLUMNS": ("_timeout", "RISK_COLUMNS"),
    "RUN_COST_COLUMNS": ("_cost", "RUN_COST_COLUMNS"),
    "SLO": ("_slo", "SLO"),
    "TBT_HISTOGRAM_RELATIVE_ERROR": ("_histogram", "RELATIVE_ERROR"),
    "WASTE_COLUMNS": ("_waste", "WASTE_COLUMNS"),
    "agents_at_risk": ("_overview", "agents_at_risk"),
    "build_report": ("_report", "build_report"),
    "choose_bucket": ("_series", "choose_bucket"),
    "cost": ("_cost", "cost"),
    "cost_per_run": ("_cost", "cost_per_run"),
    "count_spans": ("_report", "count_spans"),
    "duration_by": ("_latency", "duration_by"),
    "latency_over_time": ("_series", "latency_over_time"),
    "latency_summary": ("_latency", "latency_summary"),
    "load_fits": ("_load", "load_fits"),
    "load_points": ("_load", "load_points"),
    "load_prices": ("_prices", "load_prices"),
    "overview": ("_overview", "overview"),
    "parse_slo": ("_slo", "parse_slo"),
    "parse_time": ("_when", "parse_time"),
    "print_report": ("_render", "print_report"),
    "reasoning_latency": ("_waste", "reasoning_latency"),
    "report_markdown": ("_render", "report_markdown"),
    "run_report": ("_report", "run_report"),
    "timeout_risk": ("_timeout", "timeout_risk"),
    "waste": ("_waste", "waste"),
    "waste_over_time": ("_waste", "waste_over_time"),
}

__all__ = [
    "BUDGET_PARTS",
    "CAUSES",
    "COST_COLUMNS",
    "DURATION_BY_COLUMNS",
    "FIT_COLUMNS",
    "LATENCY_COLUMNS",
    "OVERVIEW_METRICS",
    "OVER_TIME_COLUMNS",
    "POINT_COLUMNS",
    "RISK_COLUMNS",
    "RUN_COST_COLUMNS",
    "SLO",
    "TBT_HISTOGRAM_RELATIVE_ERROR",
    "WASTE_COLUMNS",
    "Filters",
    "ModelPrice",
    "Objective",
    "PriceTable",
    "agents_at_risk",
    "build_report",
    "choose_bucket",
    "cost",
    "cost_per_run",
    "count_spans",
    "duration_by",
    "latency_over_time",
    "latency_summary",
    "load_fits",
    "load_points",
    "load_prices",
    "overview",
    "parse_slo",
    "parse_time",
    "print_report",
    "reasoning_latency",
    "report_markdown",
    "run_report",
    "timeout_risk",
    "waste",
    "waste_over_time",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"analytics.{module}"), attribute)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
