"""The reliability suite's shared parts: exporters that count, rows of evidence, the scale.

Each scenario prints one row (collected and printed at the end of the test run): scenario,
offered load, faults injected, spans sent, acknowledged, stored, lost (acknowledged but not
stored), duplicated (stored more than once), the collector's peak RSS, and the most latency
the tracer added to a traced call. ``make soak`` sets ``AGENTFLIGHT_SOAK=1`` for the full
sizes; ``make test`` runs the same scenarios small.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from collector import Store
from tests.collector.otlp_builders import PROTOBUF, genai_request

SOAK = os.environ.get("AGENTFLIGHT_SOAK") == "1"
# Rows go to a file the whole run shares (pytest-xdist runs scenarios in worker processes;
# the conftest prints the file at the end), named by the conftest in the main process.
ROWS_FILE_ENV = "RELIABILITY_ROWS_FILE"


def scale(fast: int, soak: int) -> int:
    return soak if SOAK else fast


@dataclass
class Row:
    scenario: str
    offered: str
    faults: str
    sent: int | str = "-"
    acknowledged: int | str = "-"
    stored: int | str = "-"
    lost: int | str = "-"
    duplicated: int | str = "-"
    peak_rss_mib: float | str = "-"
    tracer_latency_ms: float | str = "-"

    COLUMNS = (
        "scenario", "offered", "faults", "sent", "acknowledged", "stored", "lost",
        "duplicated", "peak_rss_mib", "tracer_latency_ms",
    )  # fmt: skip

    def record(self) -> Row:
        path = os.environ.get(ROWS_FILE_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as rows:
                rows.write(json.dumps(dataclasses.asdict(self)) + "\n")
        return self

    @classmethod
    def read(cls, path: str) -> list[Row]:
        try:
            with open(path, encoding="utf-8") as rows:
                return [cls(**json.loads(line)) for line in rows if line.strip()]
        except FileNotFoundError:
            return []


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (what docs/reliability.md shows)."""
    head = "| " + " | ".join(Row.COLUMNS) + " |"
    rule = "|" + "---|" * len(Row.COLUMNS)
    body = [
        "| " + " | ".join(_cell(getattr(row, name)) for name in Row.COLUMNS) + " |" for row in rows
    ]
    return "\n".join([head, rule, *body])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class Requests:
    """OTLP requests of ``spans`` GenAI spans with fresh ids each time, cheaply: building one
    with the protobuf classes costs ~20 ms, re-stamping the ids of a template ~0.3 ms, which
    keeps the client from being the bottleneck of a load test."""

    def __init__(self, spans: int = 100) -> None:
        self._template = genai_request(spans)
        self._spans = self._template.resource_spans[0].scope_spans[0].spans
        self._lock = threading.Lock()

    def next(self) -> tuple[bytes, set[str]]:
        with self._lock:
            trace, root = os.urandom(16), os.urandom(8)
            ids = set()
            for i, span in enumerate(self._spans):
                span.trace_id = trace
                span.span_id = root if i == 0 else os.urandom(8)
                span.parent_span_id = b"" if i == 0 else root
                start = time.time_ns() - 5_000_000_000
                span.start_time_unix_nano, span.end_time_unix_nano = start, start + 10**9
                ids.add(span.span_id.hex())
            return self._template.SerializeToString(), ids


@dataclass
class Exporter:
    """An OTLP/HTTP client that behaves as the OTel exporters do: it retries 503 (after
    ``Retry-After``), 5xx and connection errors, and counts what was acknowledged."""

    url: Callable[[], str]
    spans_per_request: int = 100
    sent: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    requests: int = 0
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    retry_after_missing: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_until(self, done: Callable[[], bool], stop: threading.Event) -> None:
        requests = Requests(self.spans_per_request)
        with httpx.Client(timeout=30) as http:
            while not stop.is_set() and not done():
                body, ids = requests.next()
                with self.lock:
                    self.sent |= ids
                while not stop.is_set():
                    try:
                        response = http.post(f"{self.url()}/v1/traces", content=body,
                                             headers=PROTOBUF)  # fmt: skip
                    except httpx.HTTPError:  # down or restarting: back off, send again
                        self.retries += 1
                        stop.wait(0.2)
                        continue
                    with self.lock:
                        code = response.status_code
                        self.statuses[code] = self.statuses.get(code, 0) + 1
                    if response.status_code == 200:
                        with self.lock:
                            self.acked |= ids
                            self.requests += 1
                        break
                    if response.status_code == 503 and "retry-after" not in response.headers:
                        self.retry_after_missing += 1
                    self.retries += 1
                    delay = float(response.headers.get("retry-after", "0.2") or 0.2)
                    stop.wait(min(delay, 1.0))

    def run(self, threads: int, total_spans: int, stop: threading.Event) -> list[threading.Thread]:
        def done() -> bool:
            return len(self.acked) >= total_spans

        workers = [
            threading.Thread(target=self.send_until, args=(done, stop), daemon=True)
            for _ in range(threads)
        ]
        for worker in workers:
            worker.start()
        return workers


def stored_counts(store: Store, table: str = "otel_traces") -> tuple[int, int]:
    """(rows, distinct span ids) in ``table``."""
    column = "SpanId" if table == "otel_traces" else "span_id"
    row = store.query(
        f"SELECT count(), uniqExact({column}) FROM {{db:Identifier}}.{table}"
    ).result_rows[0]
    return int(row[0]), int(row[1])


def stored_ids(store: Store) -> set[str]:
    rows = store.query("SELECT DISTINCT SpanId FROM {db:Identifier}.otel_traces").result_rows
    return {r[0] for r in rows}


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size of a process (VmHWM), MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
