"""A replay run: one trace, or a batch of recorded runs of an agent replayed concurrently,
then the summary, the gate, and the run stored in ClickHouse."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import tracer
from collector import Store

from ._cassette import cassette_path, use_cassette
from ._diff import TraceResult
from ._engine import Replayer, ReplayOptions
from ._errors import ReplayInputError
from ._failif import parse_fail_if
from ._load import is_trace_id, load_trace, load_traces, select_traces
from ._model import TraceTree
from ._report import RunReport
from ._runs import save_run
from ._target import check_reachable

__all__ = ["parse_since", "run"]

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LOAD_CHUNK = 200


def parse_since(text: str) -> float:
    """``30m``, ``24h``, ``7d``... as seconds; ``ReplayInputError`` otherwise."""
    match = _SINCE.match(text)
    if match is None:
        raise ReplayInputError(f"--since must be a duration like 30m, 24h or 7d, got {text!r}")
    return float(match[1]) * _UNIT_S[match[2]]


def _settings(options: ReplayOptions, extra: dict[str, Any]) -> dict[str, Any]:
    settings = {k: v for k, v in asdict(options).items() if k not in ("api_key", "system_prompt")}
    if options.system_prompt is not None:
        digest = hashlib.sha256(options.system_prompt.encode()).hexdigest()[:16]
        settings["system_prompt_sha256"] = digest
        settings["system_prompt"] = options.system_prompt[:2000]
    settings["params"] = dict(options.params)
    settings["cassette"] = str(options.cassette) if options.cassette else None
    return {**settings, **extra}


def _safely(replayer: Replayer, trace_id: str, loaded: TraceTree | None) -> TraceResult:
    """A batch member's replay; a trace that cannot be replayed is an error row, not a stop."""
    try:
        return replayer.replay(loaded or trace_id)
    except ReplayInputError as exc:
        result = TraceResult(trace_id, replayer.options.mode or "auto", status="error")
        result.errors.append(str(exc))
        return result
    except Exception as exc:  # a bug or an unexpected failure: reported, the batch goes on
        result = TraceResult(trace_id, replayer.options.mode or "auto", status="error")
        result.errors.append(f"replay failed: {type(exc).__name__}: {exc}")
        return result


def run(
    store: Store,
    options: ReplayOptions,
    *,
    trace_id: str | None = None,
    agent: str | None = None,
    service: str | None = None,
    since: str = "24h",
    limit: int = 200,
    include_replays: bool = False,
    fail_if: str | None = None,
    console: Console | None = None,
    now_ns: Callable[[], int] = time.time_ns,
) -> RunReport:
    """Replay ``trace_id``, or the recorded runs of ``agent``; store and return the report.

    ``ReplayInputError`` (the CLI's exit 2) for bad input: an unknown trace, nothing to
    replay, an entry point that cannot be imported, an unreachable target, a bad flag.
    """
    conditions = parse_fail_if(fail_if)
    if limit < 1:
        raise ReplayInputError(f"--limit must be at least 1, got {limit}")
    created = now_ns()
    loaded: dict[str, TraceTree] = {}
    if trace_id is not None:
        trace_id = trace_id.strip().lower()
        if not is_trace_id(trace_id):
            raise ReplayInputError(f"{trace_id!r} is not a trace id (32 hexadecimal digits)")
        # An unknown id fails here, before anything runs.
        loaded[trace_id] = load_trace(store, trace_id, options.project)
        ids, name = [trace_id], trace_id
    elif agent:
        since_s = parse_since(since)
        ids = select_traces(
            store, agent, since_ns=created - int(since_s * 1e9), limit=limit, service=service,
            project=options.project, include_replays=include_replays,
        )  # fmt: skip
        if not ids:
            where = f" of service {service!r}" if service else ""
            raise ReplayInputError(
                f"nothing to replay: no recorded runs of agent {agent!r}{where} in the last {since}"
            )
        name = f"batch-{agent}"
    else:
        raise ReplayInputError("give a TRACE_ID, or --agent NAME to replay a batch")
    cassette = cassette_path(options.cassette, name) if options.cassette else None
    if cassette is None or not cassette.exists():  # playing a cassette back needs no target
        check_reachable(options.base_url)
    settings = _settings(options, {
        "trace_id": trace_id, "agent": agent, "service": service,
        "since": since if agent else None, "limit": limit if agent else None,
        "include_replays": include_replays, "cassette_file": str(cassette) if cassette else None,
    })  # fmt: skip
    replayer = Replayer(store, options)
    report = RunReport(replayer.run_id, settings, conditions=conditions, created_ns=created)
    passthrough = [replayer.tracer_settings.endpoint, store.url]
    # Read before replaying, a chunk of traces per query (and, under a cassette, before it is
    # entered: vcrpy's patched HTTP breaks ClickHouse's streamed reads).
    for start in range(0, len(ids) if trace_id is None else 0, _LOAD_CHUNK):
        loaded.update(load_traces(store, ids[start : start + _LOAD_CHUNK], options.project))
    try:
        with use_cassette(cassette, passthrough):
            if trace_id is not None:
                report.results.append(replayer.replay(loaded.get(trace_id) or trace_id))
            else:
                batch = _batch(replayer, ids, options.concurrency, console, loaded)
                report.results.extend(batch)
    finally:
        replayer.close()
        tracer.force_flush()  # the replayed traces go to the collector now
    report.finish()
    save_run(store, report)
    return report


def _batch(
    replayer: Replayer,
    ids: list[str],
    concurrency: int,
    console: Console | None,
    loaded: dict[str, TraceTree],
) -> list[TraceResult]:
    results: dict[str, TraceResult] = {}
    progress = Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console or Console(stderr=True), transient=False,
    )  # fmt: skip
    with progress, ThreadPoolExecutor(concurrency, thread_name_prefix="replay") as pool:
        task = progress.add_task("replay", total=len(ids))
        futures = {
            pool.submit(_safely, replayer, trace_id, loaded.get(trace_id)): trace_id
            for trace_id in ids
        }
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.advance(task)
    return [results[trace_id] for trace_id in ids]
