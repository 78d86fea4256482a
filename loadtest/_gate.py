"""The SLO gate: validate, check the target, run the Locust worker, show and save the verdict.

The worker is a child process (``python -m loadtest._worker``) because Locust monkey-patches
the interpreter that imports it; this side stays an ordinary process that renders with rich.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
from rich.console import Console

from loadtest._display import Display
from loadtest._history import keep_report
from loadtest._options import GateOptions
from loadtest._recorded import load_recorded
from loadtest._report import EXIT_CODES, verdict
from loadtest._trace import TraceRow
from loadtest._units import InputError

__all__ = ["GateError", "check_target", "run_gate"]

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
    """Run the load test; the exit code of its verdict (0 passed, 1 breached, interrupted
    or incomplete, 3 inconclusive capacity search). The report is written to
    ``options.json_out`` and stored in the database when one is configured.

    Raises :class:`InputError` for bad options or an unreachable target and
    :class:`GateError` if the worker fails.
    """
    options.check()
    recorded: list[TraceRow] = []
    warnings: list[str] = []
    selection = options.recorded_selection()
    if selection is not None:
        recorded, warnings = load_recorded(selection, messages=options.messages == "recorded")
    options.validate(recorded=recorded if selection is not None else None)
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
    payload = {
        "options": options.to_json(),
        "recorded": [row.to_json() for row in recorded],
        "warnings": warnings,
    }
    worker.stdin.write(json.dumps(payload))
    worker.stdin.close()
    with Display(console, options.target, options.model or "recorded models") as display:
        report = _read_events(worker, display)
    code = worker.wait()
    if report is None:
        raise GateError(f"the Locust worker exited with code {code} before reporting")
    report["verdict"] = verdict(report)
    report["exit_code"] = EXIT_CODES[report["verdict"]]
    report["settings"] = options.settings()
    display.verdict(report)
    for line in keep_report(report, options.json_out):
        console.print(line, highlight=False, soft_wrap=True)
    return int(report["exit_code"])
