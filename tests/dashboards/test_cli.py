"""``agentflight dashboard`` as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from collector import Store

AGENTFLIGHT = [sys.executable, "-m", "agentflight", "dashboard"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLIGHT_API_KEYS")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve the dashboard on 0.0.0.0 without API keys"),
        (["--slo", "ttft<1s"], "--slo entry 'ttft<1s'"),
        (["--port", "70000"], "--port 70000 is not a port"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run(
        [*AGENTFLIGHT, *args], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_it_serves_on_the_printed_url_and_stops_on_sigterm(
    store_factory: Callable[[], Store],
) -> None:
    with store_factory() as store:
        env = _env(AGENTFLIGHT_CLICKHOUSE_URL=store.url, AGENTFLIGHT_DATABASE=store.database)
    process = subprocess.Popen(
        [*AGENTFLIGHT, "--port", "0", "--slo", "ttft_p95<800ms"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        assert line.startswith("Dashboard   http://127.0.0.1:"), line
        url = line.split()[1]
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "agentflight" in page.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert "agentflight dashboard stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
