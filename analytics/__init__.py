"""agentflight analytics: metric definitions over ``genai_spans`` (docs/analytics.md)."""

from analytics._prices import ModelPrice, PriceTable, load_prices

__all__ = ["ModelPrice", "PriceTable", "load_prices"]
