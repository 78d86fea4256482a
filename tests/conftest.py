"""Shared fixtures: one real embedded ClickHouse server per test session.

The server runs from the chdb-core wheel in a data directory of its own, on a free port, so
test sessions never share state with each other or with a developer's own server.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import ServerInfo, Store, embedded
from tests.otlp_receiver import OtlpReceiver, receiving
from tests.reliability.harness import ROWS_FILE_ENV, SOAK, Row, table

# Internal errors of the tracer raise under the test suite instead of being swallowed.
os.environ["AGENTFLIGHT_STRICT"] = "1"

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# Screenshots of the dashboard and the demo: `make screenshots` sends them to docs/images;
# an ordinary test run leaves the checkout alone and writes them to a temporary folder.
SCREENSHOTS = Path(
    os.environ.get("AGENTFLIGHT_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / f"agentflight-screenshots-{os.getuid()}"
)


def pytest_configure(config: pytest.Config) -> None:
    """Name the file the reliability scenarios write their rows to (workers inherit it)."""
    if ROWS_FILE_ENV not in os.environ:
        handle, path = tempfile.mkstemp(prefix="agentflight-reliability-", suffix=".jsonl")
        os.close(handle)
        os.environ[ROWS_FILE_ENV] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the main process owns the file
        Path(os.environ.get(ROWS_FILE_ENV, "")).unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability suite's evidence: one row per scenario (docs/reliability.md)."""
    rows = Row.read(os.environ.get(ROWS_FILE_ENV, ""))
    if rows:
        terminalreporter.section(f"reliability ({'soak' if SOAK else 'fast'})")
        terminalreporter.write_line(table(rows))


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    """A real ClickHouse server (embedded, from chdb-core) for the whole session."""
    data_dir = tmp_path_factory.mktemp("clickhouse")
    info, _ = embedded.start(data_dir, port=0)
    yield info
    embedded.stop(data_dir)


@pytest.fixture(scope="session")
def clickhouse_url(clickhouse_server: ServerInfo) -> str:
    """The session server's URL, with its secret."""
    return clickhouse_server.dsn


@pytest.fixture
def store(clickhouse_url: str) -> Iterator[Store]:
    """A migrated store on a database of its own, dropped afterwards."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    s = Store.connect(clickhouse_url, database=database)
    yield s
    s.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")
    s.close()


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A stand-in OTLP/HTTP collector on loopback (``tests/otlp_receiver.py``)."""
    with receiving() as receiver:
        yield receiver
