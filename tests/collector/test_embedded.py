"""The embedded ClickHouse server: a real server from the chdb-core wheel, run by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest

from collector import ServerInfo, embedded

AGENTFLIGHT = [sys.executable, "-m", "agentflight"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENTFLIGHT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ch"
    yield path
    embedded.stop(path)


def test_chdb_core_still_listens_on_http(clickhouse_server: ServerInfo) -> None:
    """Smoke test of the underscore chdb API: fails loudly if a release stops listening."""
    client = clickhouse_connect.get_client(dsn=clickhouse_server.dsn, autogenerate_session_id=False)
    assert client.command("SELECT 1 + 1") == 2
    assert str(client.server_version).startswith("26.9"), client.server_version
    assert client.command("SELECT getServerPort('http_port')") == clickhouse_server.port


def test_start_on_port_zero_prints_the_real_url_and_migrates(data_dir: Path) -> None:
    result = cli("db", "start", "--data-dir", str(data_dir), "--port", "0")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    assert "0001_otel_traces" in result.stdout and "0002_genai_spans" in result.stdout
    dsn = cli("db", "url", "--data-dir", str(data_dir)).stdout.strip()
    assert dsn.startswith("http://agentflight:") and dsn.endswith(url.removeprefix("http://"))
    client = clickhouse_connect.get_client(dsn=dsn, autogenerate_session_id=False)
    tables = {row[0] for row in client.query("SHOW TABLES FROM agentflight").result_rows}
    assert {"otel_traces", "otel_traces_trace_id_ts", "genai_spans"} <= tables


def test_second_start_says_already_running(data_dir: Path) -> None:
    first = cli("db", "start", "--data-dir", str(data_dir), "--port", "0")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1]
    second = cli("db", "start", "--data-dir", str(data_dir), "--port", "0")
    assert second.returncode == 0, second.stderr
    assert f"already running at {url}" in second.stdout
    assert "Traceback" not in second.stderr


def test_status_and_stop(data_dir: Path) -> None:
    assert cli("db", "status", "--data-dir", str(data_dir)).returncode == 1
    started = cli("db", "start", "--data-dir", str(data_dir), "--port", "0")
    url = started.stdout.strip().splitlines()[-1]
    status = cli("db", "status", "--data-dir", str(data_dir))
    assert status.returncode == 0 and url in status.stdout
    stopped = cli("db", "stop", "--data-dir", str(data_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert embedded.status(data_dir) is None
    assert "not running" in cli("db", "stop", "--data-dir", str(data_dir)).stdout


def test_data_survives_stop_and_start(data_dir: Path) -> None:
    info, started = embedded.start(data_dir, port=0)
    assert started
    client = clickhouse_connect.get_client(dsn=info.dsn, autogenerate_session_id=False)
    client.command("CREATE DATABASE kept_db")  # chdb's `default` is an overlay of the file system
    client.command("CREATE TABLE kept_db.kept (n UInt32) ENGINE = MergeTree ORDER BY n")
    client.insert("kept_db.kept", [[1], [2], [3]], column_names=["n"])
    embedded.stop(data_dir)
    assert embedded.status(data_dir) is None

    info2, started2 = embedded.start(data_dir, port=0)
    assert started2 and info2.pid != info.pid
    client2 = clickhouse_connect.get_client(dsn=info2.dsn, autogenerate_session_id=False)
    assert client2.command("SELECT sum(n) FROM kept_db.kept") == 6


def test_a_busy_port_is_a_clear_error(data_dir: Path, clickhouse_server: ServerInfo) -> None:
    result = cli("db", "start", "--data-dir", str(data_dir), "--port", str(clickhouse_server.port))
    assert result.returncode == 1
    assert f"port {clickhouse_server.port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_data_dir_held_by_another_process_is_a_clear_error(
    data_dir: Path, tmp_path: Path
) -> None:
    info, _ = embedded.start(data_dir, port=0)
    # Lose the state file: agentflight no longer knows, but ClickHouse still holds the lock.
    (data_dir / embedded.RUN_SUBDIR / embedded.STATE_FILE).rename(tmp_path / "state.json")
    try:
        result = cli("db", "start", "--data-dir", str(data_dir), "--port", "0")
        assert result.returncode == 1
        assert "another ClickHouse process holds" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        (tmp_path / "state.json").rename(data_dir / embedded.RUN_SUBDIR / embedded.STATE_FILE)
    assert embedded.status(data_dir) == info
