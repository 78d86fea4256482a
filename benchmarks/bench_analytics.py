"""Analytics over 10M rows of ``genai_spans`` in the embedded ClickHouse.

Setting: 10,000,000 spans generated server-side (``INSERT INTO genai_spans SELECT ... FROM
numbers(N)``) over the last 24 hours: 2M agent runs (4 agents, 8 s deadlines), each with 3
streamed LLM calls (4 models, lognormal TTFT, a TBT gap histogram, tokens, 1 in 40 calls
marked failed and 1 in 40 abandoned before its usage arrived, a quarter of the runs sending
their second request again) and 1 skill call. The per-minute rollup fills through its view.

Timed (median of 3 runs after one warm-up; the report, its parts and the pages once after
one warm-up), each with the CPU seconds the server spent meanwhile (Linux), since on a
shared machine the wall time also measures the neighbours:

- p50/p95/p99 TTFT and pooled TBT per model per minute over the 24 h, exact
  (``latency_over_time(source="raw")``) and from the rollup (``source="rollup"``);
- the full report (``build_report``), as ``agentflight report --json`` computes it;
- baseline, in the same run: a plain ``count()`` of the LLM calls of the window;
- each part of the report alone, and what each dashboard page asks for.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_analytics.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics import (
    agents_at_risk,
    build_report,
    cost,
    cost_per_run,
    duration_by,
    latency_over_time,
    latency_summary,
    load_fits,
    load_points,
    overview,
    parse_slo,
    reasoning_latency,
    timeout_risk,
    waste,
    waste_over_time,
)
from collector import Store, embedded

_GENERATE = """
INSERT INTO {db:Identifier}.genai_spans
    (timestamp, trace_id, span_id, parent_span_id, service_name, span_name, project,
     operation, provider, request_model, response_model, agent_name, skill_name,
     status_code, duration_ms, streamed, ttft_ms, tbt_mean_ms, tbt_count, input_tokens,
     output_tokens, reasoning_tokens, cached_tokens, timeout_ms, waste_cause,
     tbt_histogram, request_fingerprint)
SELECT
    fromUnixTimestamp64Nano({start_ns:Int64} + toInt64(run * {step_ns:Int64})
        + toInt64(kind * 700000000)) AS timestamp,
    hex(run) AS trace_id,
    hex(number) AS span_id,
    if(kind = 0, '', hex(run * 5)) AS parent_span_id,
    'bench' AS service_name,
    multiIf(kind = 0, 'invoke_agent', kind = 4, 'execute_tool search', 'chat') AS span_name,
    'default' AS project,
    multiIf(kind = 0, 'invoke_agent', kind = 4, 'execute_tool', 'chat') AS operation,
    if(kind IN (1, 2, 3), 'openai', '') AS provider,
    if(kind IN (1, 2, 3), ['gpt-4o-mini', 'gpt-4o', 'o4-mini', 'llama-3.1-70b-instruct']
        [1 + modulo(run + request_kind, 4)], '') AS request_model,
    request_model AS response_model,
    if(kind = 0, concat('agent-', toString(modulo(run, 4))), '') AS agent_name,
    if(kind = 4, 'search', '') AS skill_name,
    if(modulo(cityHash64(number), 50) = 0, 'Error', 'Unset') AS status_code,
    multiIf(kind = 0, 2500 + randExponential(1 / 1500.),
            kind = 4, randLogNormal(4, 0.8),
            ttft + 40 * 25.) AS duration_ms,
    kind IN (1, 2, 3) AS streamed,
    if(kind IN (1, 2, 3), randLogNormal(5.5, 0.5), NULL) AS ttft,
    if(kind IN (1, 2, 3), 25., NULL) AS tbt_mean_ms,
    if(kind IN (1, 2, 3), if(abandoned, 9, 40), 0) AS tbt_count,
    if(kind IN (1, 2, 3), 1200, 0) AS input_tokens,
    if(kind IN (1, 2, 3) AND NOT abandoned, 41, 0) AS output_tokens,
    if(kind = 2, 12, 0) AS reasoning_tokens,
    if(kind IN (1, 2, 3), 400, 0) AS cached_tokens,
    if(kind = 0, toUInt64(8000), NULL) AS timeout_ms,
    multiIf(kind NOT IN (1, 2, 3), '', modulo(cityHash64(number, 1), 40) = 0, 'failed',
            abandoned, 'abandoned', '') AS waste_cause,
    if(kind IN (1, 2, 3),
       map(toUInt16(560 + modulo(cityHash64(number), 20)), toUInt64(25),
           toUInt16(600 + modulo(cityHash64(number, 2), 30)), toUInt64(15)),
       map()) AS tbt_histogram,
    if(kind IN (1, 2, 3), hex(cityHash64(run, request_kind)), '') AS request_fingerprint
FROM (SELECT number, intDiv(number, 5) AS run, modulo(number, 5) AS kind,
             -- a quarter of the runs send their second request again as the third
             if(kind = 3 AND modulo(cityHash64(run, 7), 4) = 0, 2, kind) AS request_kind,
             kind IN (1, 2, 3) AND modulo(cityHash64(number, 1), 40) = 1 AS abandoned
      FROM numbers({rows:UInt64}))
"""


class Timer:
    """Wall time of a call and, on Linux, the CPU seconds the server spent meanwhile: on a
    shared machine the wall time says what a user waits, the CPU time what the work costs."""

    def __init__(self, server_pid: int) -> None:
        self._stat = Path(f"/proc/{server_pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _cpu(self) -> float | None:
        try:
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick

    def __call__(self, fn: Callable[[], Any], repeat: int = 3) -> tuple[float, str, Any]:
        """Median wall seconds after one warm-up, its server CPU as text, and the result."""
        fn()
        runs, result = [], None
        for _ in range(repeat):
            cpu, t = self._cpu(), time.perf_counter()
            result = fn()
            wall, after = time.perf_counter() - t, self._cpu()
            runs.append((wall, None if cpu is None or after is None else after - cpu))
        wall, cpu = sorted(runs)[len(runs) // 2]
        return wall, "" if cpu is None else f" (server CPU {cpu:.2f} s)", result


def settle(store: Store, limit_s: float = 600.0) -> float:
    """Wait for the background merges after the bulk insert (at most ``limit_s``), so the
    figures are timed on a table at rest, not against its merges; the seconds waited."""
    t = time.perf_counter()
    sql = "SELECT count() FROM system.merges WHERE database = {name:String}"
    quiet = 0
    while quiet < 3 and time.perf_counter() - t < limit_s:  # 3 s in a row without a merge
        running = store.query(sql, {"name": store.database}).result_rows[0][0]
        quiet = quiet + 1 if running == 0 else 0
        time.sleep(1.0)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(prefix="agentflight-bench-ch-") as data_dir:
        info, _ = embedded.start(Path(data_dir), port=0)
        try:
            run(info.dsn, rows, Timer(info.pid))
        finally:
            embedded.stop(Path(data_dir))


def run(url: str, rows: int, timed: Timer) -> None:
    store = Store.connect(url, database="bench_analytics", timeout_s=600)
    until = datetime.now(UTC).replace(second=0, microsecond=0)
    since = until - timedelta(hours=24)
    runs = rows // 5
    step_ns = (24 * 3600 * 10**9 - 5 * 10**9) // max(runs, 1)
    start_ns = int(since.timestamp()) * 10**9
    t = time.perf_counter()
    store.command(_GENERATE, {"rows": rows, "start_ns": start_ns, "step_ns": step_ns})
    generated = time.perf_counter() - t
    settled = settle(store)
    count = store.query("SELECT count() FROM {db:Identifier}.genai_spans").result_rows[0][0]
    minutes = store.query("SELECT count() FROM {db:Identifier}.genai_minutes").result_rows[0][0]
    parts = store.query(
        "SELECT count() FROM system.parts WHERE database = {name:String} AND active",
        {"name": store.database},
    ).result_rows[0][0]
    print(f"cores: {os.cpu_count()}; ClickHouse: embedded, same machine")
    print(
        f"generated {count:,} genai_spans rows in {generated:.1f} s; rollup rows: {minutes:,}; "
        f"background merges done after {settled:.0f} s more ({parts} active parts)"
    )

    minute = timedelta(minutes=1)
    base_s, base_cpu, llm_calls = timed(
        lambda: store.query(
            "SELECT count() FROM {db:Identifier}.genai_spans WHERE operation = 'chat'"
        ).result_rows[0][0]
    )
    raw_s, raw_cpu, raw = timed(
        lambda: latency_over_time(store, since, until, bucket=minute, source="raw")
    )
    roll_s, roll_cpu, rolled = timed(
        lambda: latency_over_time(store, since, until, bucket=minute, source="rollup")
    )
    slo = parse_slo("ttft_p95<800ms,tbt_p99<80ms")
    report_s, report_cpu, report = timed(lambda: build_report(store, since, until, slo=slo), 1)
    print(f"baseline: count() of {llm_calls:,} LLM calls: {base_s * 1000:.0f} ms{base_cpu}")
    print(
        f"TTFT + TBT p50/p95/p99 per model per minute, exact: {raw_s * 1000:.0f} ms{raw_cpu} "
        f"({raw.height:,} rows; goal < 500 ms)"
    )
    print(
        f"same from the rollup: {roll_s * 1000:.0f} ms{roll_cpu} ({rolled.height:,} rows; "
        f"goal < 100 ms); raw/rollup = {raw_s / roll_s:.1f}x"
    )
    print(
        f"full report (build_report): {report_s:.2f} s{report_cpu} (goal < 3 s); "
        f"{len(report['latency'])} latency rows, {len(report['load'])} fits, "
        f"{len(report['timeout_risk'])} agents at risk"
    )
    parts = {
        "latency_summary": lambda: latency_summary(store, since, until),
        "load_fits": lambda: load_fits(store, since, until, slo=slo),
        "waste": lambda: waste(store, since, until),
        "timeout_risk": lambda: timeout_risk(store, since, until),
        "cost + cost_per_run": lambda: (
            cost(store, since, until),
            cost_per_run(store, since, until),
        ),
    }
    for name, part in parts.items():
        seconds, cpu, _ = timed(part, 1)
        print(f"  {name} alone: {seconds:.2f} s{cpu}")
    # What each dashboard page asks for (dashboards/pages/*), over the same window.
    pages = {
        "overview": lambda: (
            overview(store, since, until),
            agents_at_risk(store, since, until),
        ),
        "latency": lambda: (
            latency_over_time(store, since, until),
            *(duration_by(store, since, until, by=by) for by in ("agent", "route", "skill")),
        ),
        "waste": lambda: (
            waste(store, since, until),
            waste_over_time(store, since, until),
            reasoning_latency(store, since, until),
        ),
        "load": lambda: (
            load_points(store, since, until, limit=3000),
            load_fits(store, since, until, slo=slo),
        ),
        "risk": lambda: timeout_risk(store, since, until),
    }
    for name, page in pages.items():
        seconds, cpu, _ = timed(page, 1)
        print(f"dashboard page {name}: {seconds:.2f} s{cpu}")
    store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")
    store.close()


if __name__ == "__main__":
    main()
