"""The reliability suite prints its evidence: one row per scenario, at the end of the run."""

from __future__ import annotations

import pytest

from tests.collector.conftest import start_collector
from tests.reliability.harness import ROWS, SOAK, table

__all__ = ["start_collector"]  # the collector tests' fixture, for these scenarios too


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section(f"reliability ({'soak' if SOAK else 'fast'})")
    terminalreporter.write_line(table(ROWS))
