"""agentflight analytics: metric definitions over ``genai_spans`` (docs/analytics.md)."""

from analytics._filters import Filters
from analytics._latency import duration_by, latency_over_time, latency_summary
from analytics._prices import ModelPrice, PriceTable, load_prices

__all__ = [
    "Filters",
    "ModelPrice",
    "PriceTable",
    "duration_by",
    "latency_over_time",
    "latency_summary",
    "load_prices",
]
