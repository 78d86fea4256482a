"""The SLO gate: validate, check the target, run the Locust worker, show and save the verdict.

The worker is a child process (``python -m loadtest._worker``) because Locust monkey-patches
the interpreter that imports it; this side stays an ordinary process that renders with rich.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from loadtest._display import Display
from loadtest._options import GateOptions
from loadtest._units import InputError

__all__ = ["GateError", "check_target", "run_gate"]

EXIT_PASSED = 0
EXIT_BREACHED = 1
PLAIN_WIDTH = 160


class GateError(RuntimeError):
    """The run itself failed (the worker died); the message is one line."""


def check_target(target: str, timeout_s: float = 5.0) -> None:
    """Fail fast with :class:`InputError` if nothing answers HTTP at ``target``."""
    url = target.rstrip("/") + "/models"
    try:
        httpx.get(url, timeout=timeout_s)
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(f"cannot reach --target {target}: {reason}") from None


def _read_events(worker: subprocess.Popen[str], display: Display) -> dict[str, Any] | None:
    assert worker.stdout is not None
    report = None
    interrupted = False
    while True:
        try:
            for line in worker.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "done":
                    report = event["report"]
                display.handle(event)
            return report
        except KeyboardInterrupt:
            if interrupted:
                worker.kill()
                raise
            interrupted = True  # the worker got the signal too: read its report


def run_gate(options: GateOptions, *, console: Console | None = None) -> int:
    """Run the load test; 0 if every stage met every objective, 1 if not.

    Raises :class:`InputError` for bad options or an unreachable target and
    :class:`GateError` if the worker fails.
    """
    options.validate()
    check_target(options.target)
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=PLAIN_WIDTH)  # logs and pipes: no 80-column wrapping
    worker = subprocess.Popen(
        [sys.executable, "-m", "loadtest._worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert worker.stdin is not None
    worker.stdin.write(json.dumps(options.to_json()))
    worker.stdin.close()
    with Display(console, options.target, options.model) as display:
        report = _read_events(worker, display)
    code = worker.wait()
    if report is None:
        raise GateError(f"the Locust worker exited with code {code} before reporting")
    if options.json_out:
        Path(options.json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    display.verdict(report)
    return EXIT_PASSED if report["passed"] else EXIT_BREACHED
