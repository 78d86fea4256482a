"""The reliability scenarios use the collector tests' fixture; their rows are printed by the
root conftest at the end of the run (see tests/conftest.py)."""

from __future__ import annotations

from tests.collector.conftest import start_collector

__all__ = ["start_collector"]
