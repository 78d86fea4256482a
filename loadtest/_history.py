"""Where a run's report goes, and reading stored runs back (``agentflight loadtest
list|show``).

With a database configured (``AGENTFLIGHT_CLICKHOUSE_URL``, or the embedded server
running), every run's report is stored in ``loadtest_runs``; without one the run still works
and its report is written to a file, and the command says where it went.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError
from rich.console import Console
from rich.table import Table

from collector import AgentflightStorageError, StorageUnavailableError, Store
from loadtest._runs import find_run, list_runs, save_run
from loadtest._units import InputError

__all__ = ["connect", "keep_report", "print_run", "print_runs"]

STORE_TIMEOUT_S = 10.0


@contextmanager
def _quiet_driver() -> Iterator[None]:
    """clickhouse-connect logs a failed connection before raising; the one-line error we
    print says it already."""
    driver = logging.getLogger("clickhouse_connect")
    level = driver.level
    driver.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        driver.setLevel(level)


def _connect() -> Store:
    with _quiet_driver():
        return Store.connect(timeout_s=STORE_TIMEOUT_S)


@contextmanager
def connect() -> Iterator[Store]:
    """The configured database (migrated); :class:`InputError` in one line if there is none
    or it does not answer."""
    try:
        store = _connect()
    except (AgentflightStorageError, ClickHouseError, ValueError, OSError) as exc:
        raise InputError(_one_line(exc)) from None
    try:
        yield store
    except (ClickHouseError, OSError) as exc:
        raise InputError(f"ClickHouse database {store.database}: {_one_line(exc)}") from None
    finally:
        store.close()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def keep_report(report: dict[str, Any], json_out: str | None) -> list[str]:
    """Write the report to ``json_out`` and store it in the database; lines saying where it
    went. Without a database and without ``json_out`` it goes to
    ``agentflight-loadtest-RUN_ID.json`` in the working directory."""
    lines: list[str] = []
    text = json.dumps(report, indent=2) + "\n"
    if json_out:
        Path(json_out).write_text(text, encoding="utf-8")
        lines.append(f"report written to {json_out}")
    run_id = report["run_id"]
    try:
        store = _connect()
    except StorageUnavailableError as exc:
        stored, reason = False, f"no database ({_one_line(exc)})"
    except (AgentflightStorageError, ClickHouseError, ValueError, OSError) as exc:
        stored, reason = False, f"the database failed: {_one_line(exc)}"
    else:
        try:
            save_run(store, report)
            stored, reason = True, ""
        except (ClickHouseError, OSError) as exc:
            stored, reason = False, f"the database failed: {_one_line(exc)}"
        finally:
            store.close()
        if stored:
            lines.append(
                f"report stored as run {run_id} in ClickHouse database {store.database} "
                f"(agentflight loadtest show {run_id})"
            )
    if not stored:
        if not json_out:
            fallback = Path(f"agentflight-loadtest-{run_id}.json")
            fallback.write_text(text, encoding="utf-8")
            lines.append(f"report written to {fallback.resolve()}")
        lines.append(f"report not stored: {reason}")
    return lines


def print_runs(*, limit: int = 50, as_json: bool = False, console: Console | None = None) -> None:
    """``agentflight loadtest list``: the stored runs, latest first."""
    console = console or Console()
    if limit < 1:
        raise InputError("--limit must be at least 1")
    with connect() as store:
        runs = list_runs(store, limit)
        database = store.database
    if as_json:
        console.print_json(json.dumps(runs, default=_json_default))
        return
    if not runs:
        console.print(f"No load-test runs stored in ClickHouse database {database} yet.")
        return
    table = Table(title=f"load-test runs in {database}", title_justify="left")
    for column in ("run", "started (UTC)", "shape", "target", "model", "verdict"):
        table.add_column(column)
    for column in ("stages", "requests", "capacity"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run["run_id"],
            run["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            run["shape"] + (f" / search {run['search']}" if run["search"] else ""),
            run["target"],
            run["model"],
            _verdict_text(run["verdict"]),
            str(run["stages"]),
            str(run["requests"]),
            _capacity_text(run),
        )
    console.print(table)


def print_run(run_id: str, *, as_json: bool = False, console: Console | None = None) -> None:
    """``agentflight loadtest show RUN_ID``: one stored run, as the run printed it."""
    from loadtest._display import Display

    console = console or Console()
    if not run_id.strip():
        raise InputError("RUN_ID is empty")
    with connect() as store:
        try:
            report = find_run(store, run_id.strip())
        except LookupError as exc:
            raise InputError(str(exc)) from None
        database = store.database
    if report is None:
        raise InputError(f"no load-test run {run_id!r} in ClickHouse database {database}")
    if as_json:
        console.print_json(json.dumps(report))
        return
    Display.replay(console, report)


def _verdict_text(verdict: str) -> str:
    style = {"passed": "green", "inconclusive": "yellow"}.get(verdict, "red")
    return f"[{style}]{verdict}[/{style}]"


def _capacity_text(run: dict[str, Any]) -> str:
    if run["capacity_value"] is not None:
        unit = " req/s" if run["search"] == "rate" else " users"
        return f"{run['capacity_value']:g}{unit}"
    if run["capacity_users"] is not None:
        return f"{run['capacity_users']} users"
    return "-"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
