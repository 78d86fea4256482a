"""``agentflight serve`` and ``agentflight up`` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from collector import Store, embedded
from collector.decoder import GC_THRESHOLDS
from tests.collector.conftest import CollectorProcess, count, wait_until
from tests.collector.otlp_builders import PROTOBUF, genai_request

AGENTFLIGHT = [sys.executable, "-m", "agentflight"]


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLIGHT_API_KEYS")}
    result = subprocess.run(
        [*AGENTFLIGHT, "serve", "--host", "0.0.0.0", "--spool-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr
    assert "AGENTFLIGHT_API_KEYS" in result.stderr


def test_serve_collects_cycles_less_often_in_its_own_process_only(tmp_path: Path) -> None:
    # serve() up to uvicorn, in a fresh interpreter; importing the collector changes nothing.
    code = (
        "import gc\n"
        "print('fresh', *gc.get_threshold())\n"
        "from collector import server\n"
        "from collector.config import CollectorSettings\n"
        "print('imported', *gc.get_threshold())\n"
        "server.run = lambda *args, **kwargs: print('serving', *gc.get_threshold())\n"
        f"server.serve(CollectorSettings(port=0, spool_dir={str(tmp_path)!r}), 'http://127.0.0.1:9')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    said = {words[0]: words[1:] for words in map(str.split, result.stdout.splitlines()) if words}
    assert said["imported"] == said["fresh"]
    assert said["serving"] == [str(n) for n in GC_THRESHOLDS]


def test_one_spool_directory_one_collector(store: Store, tmp_path: Path) -> None:
    env = {"AGENTFLIGHT_CLICKHOUSE_URL": store.url, "AGENTFLIGHT_DATABASE": store.database}
    first = CollectorProcess.start(tmp_path, env)
    try:
        second = subprocess.run(
            [*AGENTFLIGHT, "serve", "--port", "0", "--spool-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, env={**os.environ, **env},
        )  # fmt: skip
        assert second.returncode == 1
        assert "in use by another collector" in second.stderr
    finally:
        assert first.stop() == 0


def test_up_runs_database_collector_dashboard_and_stops_them_all(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLIGHT_")}
    process = subprocess.Popen(
        [*AGENTFLIGHT, "up", "--data-dir", str(data_dir), "--port", "0", "--collector-port", "0",
         "--dashboard-port", "0", "--spool-dir", str(tmp_path / "spool")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Try next" in line:
                break
        output = "".join(lines)
        assert "agentflight is up" in output and "ClickHouse  http://127.0.0.1:" in output
        urls = dict(re.findall(r"^\s+(Collector|Dashboard)\s+(http://\S+)", output, re.M))
        assert set(urls) == {"Collector", "Dashboard"}, output
        assert ":0" not in urls["Collector"] and ":0/" not in urls["Dashboard"]
        info = embedded.status(data_dir)
        assert info is not None and info.secret not in output
        children = psutil.Process(process.pid).children(recursive=True)
        body = genai_request(3).SerializeToString()
        collector = urls["Collector"]
        assert (
            httpx.post(f"{collector}/v1/traces", content=body, headers=PROTOBUF).status_code == 200
        )
        with Store.connect(info.dsn, apply_migrations=False) as store:
            wait_until(lambda: count(store) == 3, what="the spans in the embedded database")
        assert httpx.get(urls["Dashboard"], timeout=30).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 0
        rest = process.stdout.read()
        assert "ClickHouse stopped" in rest
        assert embedded.status(data_dir) is None
        alive = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert alive == []  # nothing left behind
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        embedded.stop(data_dir)
