"""Fixtures for the load-test tests: real simulator processes and real gate runs on loopback.

Locust monkey-patches any interpreter that imports it, so nothing here imports it: the
simulator and ``agentflight loadtest`` run as subprocesses of the venv's own ``agentflight``
script, on 127.0.0.1 with port 0, and the simulator's printed URL says where it listens.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector.conftest import start_collector
from tests.conftest import REPO_ROOT

__all__ = ["start_collector"]  # the collector tests' fixture: a real collector, on `store`

AGENTFLIGHT = str(Path(sys.executable).with_name("agentflight"))


_DATABASE_SETTINGS = ("AGENTFLIGHT_CLICKHOUSE_URL", "AGENTFLIGHT_DATABASE", "AGENTFLIGHT_DATA_DIR")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout's code first on its path (an
    editable install elsewhere would otherwise win in a temporary working directory), and
    no database unless ``extra`` names one (a developer's own must never be written to)."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    inherited = {k: v for k, v in os.environ.items() if k not in _DATABASE_SETTINGS}
    no_database = {"AGENTFLIGHT_DATA_DIR": os.devnull + "/no-database"}
    return {**inherited, **no_database, "PYTHONPATH": path, **extra}


AZURE_TRACES = REPO_ROOT.parent / "shared" / "data" / "azure-llm-inference-2023"
_URL = re.compile(r"listening on (http://\S+)")


@dataclass
class Simulator:
    url: str
    """The OpenAI base URL, ``http://127.0.0.1:PORT/v1``."""
    process: subprocess.Popen[str]

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.root}/simulator/requests", params={"since": since})
        response.raise_for_status()
        return list(response.json()["requests"])

    def last_seq(self) -> int:
        return int(httpx.get(f"{self.root}/simulator/state").json()["requests"])


def start_simulator(*args: str, profile: dict[str, Any] | None = None, tmp: Path) -> Simulator:
    command = [AGENTFLIGHT, "simulate-llm", "--port", "0", "--seed", "7", *args]
    if profile is not None:
        path = tmp / "profile.json"
        path.write_text(json.dumps(profile))
        command += ["--profile", str(path)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp, env=child_env()
    )
    assert process.stdout is not None
    found: list[str] = []

    def read_first_line() -> None:
        assert process.stdout is not None
        found.append(process.stdout.readline())

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(timeout=30)
    match = _URL.search(found[0]) if found else None
    if match is None:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"the simulator did not start: {err}")
    return Simulator(match.group(1), process)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@pytest.fixture(scope="session")
def simulator_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Simulator]]:
    """Start simulators (``agentflight simulate-llm``); all stop at the end of the session."""
    started: list[Simulator] = []

    def factory(*args: str, profile: dict[str, Any] | None = None) -> Simulator:
        simulator = start_simulator(*args, profile=profile, tmp=tmp_path_factory.mktemp("sim"))
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        stop(simulator.process)


@dataclass
class GateRun:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    seconds: float


@pytest.fixture
def run_gate(tmp_path: Path) -> Callable[..., GateRun]:
    """Run ``agentflight loadtest ARGS --json-out FILE`` to the end and read its report."""
    import time

    def run(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> GateRun:
        report_path = tmp_path / "report.json"
        report_path.unlink(missing_ok=True)
        began = time.monotonic()
        result = subprocess.run(
            [AGENTFLIGHT, "loadtest", *args, "--json-out", str(report_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env=child_env(COLUMNS="200", **(env or {})),
        )
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        return GateRun(
            result.returncode, result.stdout, result.stderr, report, time.monotonic() - began
        )

    return run
