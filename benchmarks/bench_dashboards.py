"""Every dashboard page over 1M spans in the embedded ClickHouse: request to figures.

Setting: spans generated server-side into ``otel_traces`` (``INSERT ... SELECT ... FROM
numbers(N)``; the views fill ``genai_spans`` and the rollup) over the last 50 minutes, so all
of them fall in the pages' default window (the last hour): runs of 4 agents (one with a
3 s deadline), each an agent span, a routing decision, a skill call and 2 streamed LLM calls
of 4 models with TTFT, TBT (and its gap histogram), tokens and some waste marks.

Timed per page (median of 3, after one warm-up), as the browser asks: the page router's
request, then every callback of the page at once (each in its own connection, as Dash's
renderer sends them) until the last answers: the time from the request to the figures,
without the browser's drawing. The same pages over 10k spans are the baseline of the same
run. Goal: under 1 s per page at 1M spans.

    .venv/bin/python benchmarks/bench_dashboards.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bench_analytics import settle

from collector import Store, embedded
from dashboards import running_dashboard

BASELINE_ROWS = 10_000
GOAL_S = 1.0
TRACE_ID = "0" * 31 + "7"  # run 7: one of the generated traces
PAGES = (
    "/",
    "/latency",
    "/load",
    "/waste",
    "/risk",
    "/traces",
    f"/traces/{TRACE_ID}",
    "/replays",
    "/loadtests",
)

_GENERATE = """
INSERT INTO {db:Identifier}.otel_traces
    (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
     ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
     StatusMessage)
SELECT
    fromUnixTimestamp64Nano({start_ns:Int64} + toInt64(run * {step_ns:Int64})
        + toInt64(offset_ms * 1e6)) AS Timestamp,
    lower(leftPad(hex(run), 32, '0')) AS TraceId,
    lower(leftPad(hex(number), 16, '0')) AS SpanId,
    if(kind = 0, '', lower(leftPad(hex(run * 5), 16, '0'))) AS ParentSpanId,
    '' AS TraceState,
    multiIf(kind = 0, concat('invoke_agent ', agent), kind = 1, 'route router',
            kind = 2, 'execute_tool search', concat('chat ', model)) AS SpanName,
    'Internal' AS SpanKind,
    'bench' AS ServiceName,
    map('service.name', 'bench', 'agentflight.project', 'default') AS ResourceAttributes,
    'bench' AS ScopeName,
    '1' AS ScopeVersion,
    multiIf(
        kind = 0, map('gen_ai.operation.name', 'invoke_agent', 'gen_ai.agent.name', agent,
                      'agentflight.agent.timeout_ms', if(agent = 'agent-0', '3000', '8000')),
        kind = 1, map('agentflight.route.name', 'router', 'agentflight.route.target', agent),
        kind = 2, map('gen_ai.operation.name', 'execute_tool', 'gen_ai.tool.name', 'search'),
        map('gen_ai.operation.name', 'chat', 'gen_ai.provider.name', 'openai',
            'gen_ai.request.model', model,
            'gen_ai.response.time_to_first_chunk', toString(ttft / 1000),
            'agentflight.llm.streamed', 'true',
            'agentflight.llm.tbt.mean_ms', toString(tbt),
            'agentflight.llm.tbt.count', '40',
            'agentflight.llm.tbt.histogram',
                concat(toString(toUInt16(1 + floor(32 * log2(tbt / 0.01)))), ':40'),
            'gen_ai.usage.input_tokens', '1200',
            'gen_ai.usage.output_tokens', '41',
            'gen_ai.usage.reasoning.output_tokens', if(kind = 4, '12', '0'),
            'agentflight.waste.cause', if(modulo(cityHash64(number), 40) = 0, 'retried', ''),
            'agentflight.llm.request.fingerprint', hex(cityHash64(run, kind)))
    ) AS SpanAttributes,
    toUInt64(duration_ms * 1e6) AS Duration,
    if(modulo(cityHash64(number), 50) = 0, 'Error', 'Unset') AS StatusCode,
    '' AS StatusMessage
FROM (
    SELECT number, intDiv(number, 5) AS run, modulo(number, 5) AS kind,
           concat('agent-', toString(modulo(run, 4))) AS agent,
           ['gpt-4o-mini', 'gpt-4o', 'o4-mini', 'llama-3.1-70b-instruct']
               [1 + modulo(run + kind, 4)] AS model,
           200 + modulo(cityHash64(run, 3), 600) AS ttft3,
           15 + modulo(cityHash64(run, 33), 20) AS tbt3,
           200 + modulo(cityHash64(run, 4), 600) AS ttft4,
           15 + modulo(cityHash64(run, 44), 20) AS tbt4,
           ttft3 + 40 * tbt3 AS d3,
           ttft4 + 40 * tbt4 AS d4,
           if(kind = 3, ttft3, ttft4) AS ttft,
           if(kind = 3, tbt3, tbt4) AS tbt,
           [0, 5, 30, 300, 310 + d3][kind + 1] AS offset_ms,
           [330 + d3 + d4 + 20, 20, 250, d3, d4][kind + 1] AS duration_ms
    FROM numbers({rows:UInt64}))
"""


def generate(store: Store, rows: int) -> float:
    """``rows`` spans over the 50 minutes before now; the time it took, in seconds."""
    until = datetime.now(UTC) - timedelta(minutes=2)
    since = until - timedelta(minutes=50)
    runs = max(rows // 5, 1)
    step_ns = (50 * 60 * 10**9 - 10 * 10**9) // runs
    t = time.perf_counter()
    store.command(
        _GENERATE,
        {"rows": rows, "start_ns": int(since.timestamp()) * 10**9, "step_ns": step_ns},
    )
    return time.perf_counter() - t


def _outputs(output: str) -> list[dict[str, str]]:
    """Dash's ``"..a.children...b.data.."`` (or ``"a.children"``) as ids and properties."""
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    return [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]


def _props(tree: Any, found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            found[props["id"]] = props
        for value in tree.values():
            _props(value, found)
    elif isinstance(tree, list):
        for item in tree:
            _props(item, found)
    return found


class Page:
    """A page's requests, made as the browser makes them."""

    def __init__(self, base: str, path: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=120)
        self.client.get("/")  # the CSRF cookie
        token = self.client.cookies.get("agentflight_csrf") or ""
        self.headers = {"Content-Type": "application/json", "X-CSRFToken": token}
        self.path = path
        self.dependencies = [
            d
            for d in self.client.get("/_dash-dependencies").json()
            if not d.get("clientside_function")
        ]

    def _post(self, body: dict[str, Any]) -> Any:
        response = self.client.post(
            "/_dash-update-component", content=json.dumps(body), headers=self.headers
        )
        response.raise_for_status()
        return response.json() if response.content else {}

    def load(self) -> int:
        """The router's request, then every callback the page fires; returns how many."""
        routed = self._post(
            {
                "output": ".._pages_content.children..._pages_store.data..",
                "outputs": _outputs(".._pages_content.children..._pages_store.data.."),
                "inputs": [
                    {"id": "_pages_location", "property": "pathname", "value": self.path},
                    {"id": "_pages_location", "property": "search", "value": ""},
                ],
                "changedPropIds": ["_pages_location.pathname"],
                "state": [],
            }
        )
        props = _props(routed["response"]["_pages_content"]["children"], {})
        bodies = []
        for dep in self.dependencies:
            inputs = dep["inputs"]
            if not any(i["id"] == "page-state" for i in inputs):
                continue
            outputs = _outputs(dep["output"])
            if not all(o["id"] in props for o in outputs):
                continue  # another page's callback
            bodies.append(
                {
                    "output": dep["output"],
                    "outputs": outputs if dep["output"].startswith("..") else outputs[0],
                    "inputs": [
                        {**i, "value": props.get(i["id"], {}).get(i["property"])} for i in inputs
                    ],
                    "changedPropIds": [],
                    "state": [
                        {**s, "value": props.get(s["id"], {}).get(s["property"])}
                        for s in dep["state"]
                    ],
                }
            )
        with ThreadPoolExecutor(max_workers=len(bodies) or 1) as pool:
            list(pool.map(self._post, bodies))
        return len(bodies)


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def measure(url: str, database: str) -> dict[str, float]:
    def factory() -> Store:
        return Store.connect(url, database=database, apply_migrations=False, timeout_s=120)

    out = {}
    with running_dashboard(store_factory=factory, refresh_s=3600) as running:
        for path in PAGES:
            page = Page(running.url, path)
            out[path], _ = timed(page.load)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    with tempfile.TemporaryDirectory(prefix="agentflight-bench-dash-") as data_dir:
        info, _ = embedded.start(Path(data_dir), port=0)
        try:
            run(info.dsn, rows)
        finally:
            embedded.stop(Path(data_dir))


def run(url: str, rows: int) -> None:
    print(f"cores: {os.cpu_count()}; ClickHouse: embedded, same machine")
    results = {}
    for name, n in (("bench_dash_small", BASELINE_ROWS), ("bench_dash", rows)):
        with Store.connect(url, database=name, timeout_s=600) as store:
            took = generate(store, n)
            count = store.query("SELECT count() FROM {db:Identifier}.genai_spans").result_rows
            settled = settle(store)
            print(
                f"generated {count[0][0]:,} spans into otel_traces in {took:.1f} s ({name}); "
                f"background merges done after {settled:.0f} s more"
            )
        results[name] = measure(url, name)
        with Store.connect(url, database=name, apply_migrations=False) as store:
            store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")
    small, large = results["bench_dash_small"], results["bench_dash"]
    print(f"\nrequest to figures, median of 3 (goal < {GOAL_S:.0f} s at {rows:,} spans):")
    print(f"{'page':<42} {f'{BASELINE_ROWS:,} spans':>12} {f'{rows:,} spans':>14}  ")
    for path in PAGES:
        verdict = "ok" if large[path] < GOAL_S else "OVER GOAL"
        print(f"{path:<42} {small[path] * 1000:>9.0f} ms {large[path] * 1000:>11.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
