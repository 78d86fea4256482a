"""agentflight analytics: the figures that decide a ramp, over ``genai_spans``.

Every function takes a :class:`collector.Store`, a window (``since``, ``until``: aware
datetimes) and :class:`Filters`, and returns a polars DataFrame whose columns are documented
in docs/analytics.md, where every figure has its one definition. Heavy aggregation runs in
ClickHouse; polars, numpy and scipy shape and model the results.
"""

from analytics._cost import COST_COLUMNS, RUN_COST_COLUMNS, cost, cost_per_run
from analytics._filters import Filters
from analytics._histogram import RELATIVE_ERROR as TBT_HISTOGRAM_RELATIVE_ERROR
from analytics._latency import DURATION_BY_COLUMNS, LATENCY_COLUMNS, duration_by, latency_summary
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
