"""agentflight analytics: metric definitions over ``genai_spans`` (docs/analytics.md)."""

from analytics._cost import cost, cost_per_run
from analytics._filters import Filters
from analytics._latency import duration_by, latency_over_time, latency_summary
from analytics._load import load_fits, load_points
from analytics._prices import ModelPrice, PriceTable, load_prices
from analytics._slo import SLO, Objective, parse_slo
from analytics._timeout import timeout_risk
from analytics._waste import reasoning_latency, waste, waste_over_time

__all__ = [
    "SLO",
    "Filters",
    "ModelPrice",
    "Objective",
    "PriceTable",
    "cost",
    "cost_per_run",
    "duration_by",
    "latency_over_time",
    "latency_summary",
    "load_fits",
    "load_points",
    "load_prices",
    "parse_slo",
    "reasoning_latency",
    "timeout_risk",
    "waste",
    "waste_over_time",
]
