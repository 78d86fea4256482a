"""Collector throughput: OTLP/HTTP in, queryable in ClickHouse, against a plain insert.

Setting: pre-encoded OTLP protobuf requests of 1,000 GenAI spans each (the attributes the
agentflight tracer writes, with varying values), posted by concurrent clients on loopback to
``agentflight serve`` (a child process), writing to an embedded ClickHouse of its own.
Measured until every row is queryable in ``otel_traces`` and ``genai_spans`` (counted every
20 ms once every request is accepted, so that counting takes no CPU from the collector's
inserts while the clients post).

In the same run, against the same server, the same spans are also stored two other ways:

* a plain clickhouse-connect ``insert`` of pre-built rows (Python lists, as the exporter's
  columns) into another database, in batches of the collector's batch size (10,000 rows);
* the same requests inserted straight into ``otlp_ingest`` as the collector's inserts send them
  (10,000 spans each), for ClickHouse to parse and map: no HTTP, spool or door, so the
  collector's ceiling on this machine;
* a server-side ``INSERT INTO otel_traces SELECT * FROM`` a table already holding those rows,
  with the views attached: no client at all, the limit of this machine for these rows.

The plain insert, the collector with OTLP protobuf and the straight inserts take turns
(``--rounds``, 2 by default): this machine's speed drifts between minutes, so each round's
ratios compare neighbours, and the table gives the medians. Then the collector runs with
every request mapped in Python, and with a third of the requests as OTLP/JSON (hex ids, as
the OTLP spec writes them). One table is printed: rates, ratios, the collector's CPU seconds
per 10k spans and its peak RSS (with its children).

    .venv/bin/python benchmarks/bench_collector.py [--requests 100] [--clients 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gc
import importlib.metadata
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow as pa
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector import OTEL_TRACES_COLUMNS, Store, embedded
from collector.anyvalue import any_value_str

SPANS_PER_REQUEST = 1000
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "llama-3.1-70b"]
FINISH = ["stop", "stop", "stop", "length", "tool_calls"]


def _kv(key: str, value: Any) -> KeyValue:
    out = KeyValue(key=key)
    if isinstance(value, bool):
        out.value.bool_value = value
    elif isinstance(value, int):
        out.value.int_value = value
    elif isinstance(value, float):
        out.value.double_value = value
    elif isinstance(value, list):
        out.value.array_value.values.extend(AnyValue(string_value=v) for v in value)
    else:
        out.value.string_value = value
    return out


def genai_request(rnd: random.Random, start_ns: int) -> ExportTraceServiceRequest:
    """1,000 chat spans as the tracer writes them: ids, times and measurements all vary."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(
        [_kv("service.name", "bench-agent"), _kv("telemetry.sdk.name", "opentelemetry"),
         _kv("telemetry.sdk.language", "python"), _kv("telemetry.sdk.version", "1.45.2"),
         _kv("agentflight.project", "bench")]
    )  # fmt: skip
    scope = rs.scope_spans.add()
    scope.scope.name, scope.scope.version = "agentflight.tracer", "0.1.0"
    trace = rnd.randbytes(16)
    for i in range(SPANS_PER_REQUEST):
        if i % 10 == 0:
            trace = rnd.randbytes(16)
        model = rnd.choice(MODELS)
        ttft = 0.05 + rnd.random()
        begin = start_ns + i * 1_000_000
        span = scope.spans.add(
            trace_id=trace, span_id=rnd.randbytes(8), parent_span_id=rnd.randbytes(8),
            name=f"chat {model}", kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=begin,
            end_time_unix_nano=begin + int((ttft + rnd.random() * 3) * 1e9),
        )  # fmt: skip
        span.attributes.extend(
            [_kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", "openai"),
             _kv("gen_ai.request.model", model), _kv("gen_ai.response.model", model + "-2024"),
             _kv("gen_ai.request.max_tokens", 512), _kv("gen_ai.request.temperature", 0.2),
             _kv("gen_ai.request.stream", True),
             _kv("gen_ai.response.id", f"chatcmpl-{rnd.getrandbits(64):016x}"),
             _kv("gen_ai.response.finish_reasons", [rnd.choice(FINISH)]),
             _kv("gen_ai.response.time_to_first_chunk", ttft),
             _kv("gen_ai.usage.input_tokens", rnd.randint(20, 4000)),
             _kv("gen_ai.usage.output_tokens", rnd.randint(10, 800)),
             _kv("agentflight.llm.streamed", True), _kv("agentflight.llm.tbt.count", 63),
             _kv("agentflight.llm.tbt.mean_ms", round(15 + rnd.random() * 20, 3)),
             _kv("agentflight.llm.tbt.p50_ms", round(14 + rnd.random() * 20, 3)),
             _kv("agentflight.llm.tbt.p95_ms", round(30 + rnd.random() * 40, 3)),
             _kv("agentflight.llm.tbt.max_ms", round(60 + rnd.random() * 90, 3)),
             _kv("agentflight.llm.chunk_count", 64),
             _kv("agentflight.llm.inflight", rnd.randint(1, 64)),
             _kv("code.function", "answer"), _kv("code.namespace", "jobs.assistant")]
        )  # fmt: skip
        span.status.code = 1  # type: ignore[assignment]
    return req


def as_rows(req: ExportTraceServiceRequest) -> list[list[Any]]:
    """The exporter's row for each span, as Python values (what a plain insert takes)."""
    rows = []
    rs = req.resource_spans[0]
    resource = {kv.key: any_value_str(kv.value) for kv in rs.resource.attributes}
    for ss in rs.scope_spans:
        for s in ss.spans:
            start = dt.datetime.fromtimestamp(s.start_time_unix_nano / 1e9, tz=dt.UTC)
            rows.append([
                start, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), "", s.name,
                "Client", "bench-agent", resource, ss.scope.name, ss.scope.version,
                {kv.key: any_value_str(kv.value) for kv in s.attributes},
                s.end_time_unix_nano - s.start_time_unix_nano, "Ok", "", [], [], [], [], [],
                [], [],
            ])  # fmt: skip
    return rows


def as_otlp_json(req: ExportTraceServiceRequest) -> bytes:
    """The request as OTLP/JSON exporters write it: the protobuf JSON mapping with hex trace
    and span ids and integer enums (the OTLP specification's deviations)."""
    document = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document, separators=(",", ":")).encode()


def insert_select(url: str, rows: list[list[Any]]) -> float:
    """rows/s of ``INSERT INTO otel_traces SELECT`` (views attached) from a staging table."""
    store = Store.connect(url, database="bench_limit")
    db = store.database  # a fixed, valid name
    store.command(
        f"CREATE TABLE IF NOT EXISTS {db}.staging AS {db}.otel_traces "
        "ENGINE = MergeTree ORDER BY tuple()"
    )
    for i in range(0, len(rows), 10_000):
        store.client.insert(
            "staging", rows[i : i + 10_000], column_names=list(OTEL_TRACES_COLUMNS),
            database=store.database,
        )  # fmt: skip
    copy = "INSERT INTO {db:Identifier}.otel_traces SELECT * FROM {db:Identifier}.staging"
    store.command(copy + " LIMIT 1000")  # warm-up, not timed
    store.command("TRUNCATE TABLE {db:Identifier}.otel_traces")
    store.command("TRUNCATE TABLE {db:Identifier}.genai_spans")
    started = time.perf_counter()
    store.command(copy)
    elapsed = time.perf_counter() - started
    assert count(store) == len(rows), (count(store), len(rows))
    store.close()
    return len(rows) / elapsed


def count(store: Store) -> int:
    both = store.query(
        "SELECT (SELECT count() FROM {db:Identifier}.otel_traces), "
        "(SELECT count() FROM {db:Identifier}.genai_spans)"
    ).result_rows[0]
    return int(min(both))


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def timed_inserts(
    store: Store, insert: Callable[[Any], None], batches: list[Any], rows: int, concurrency: int
) -> float:
    """rows/s of ``insert`` over ``batches``, ``concurrency`` at a time, into empty tables
    (after one untimed insert of the first batch); every row is checked queryable."""
    insert(batches[0])  # warm-up, not timed
    store.command("TRUNCATE TABLE {db:Identifier}.otel_traces")
    store.command("TRUNCATE TABLE {db:Identifier}.genai_spans")
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(insert, batches))
    elapsed = time.perf_counter() - started
    assert count(store) == rows, (count(store), rows)
    store.close()
    return rows / elapsed


def plain_insert(url: str, rows: list[list[Any]], batch: int, concurrency: int = 1) -> float:
    """rows/s of plain inserts of ``batch`` rows, ``concurrency`` of them at a time."""
    store = Store.connect(url, database=f"bench_plain_{concurrency}")

    def insert(part: list[list[Any]]) -> None:
        store.client.insert(
            "otel_traces", part, column_names=list(OTEL_TRACES_COLUMNS), database=store.database
        )

    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    return timed_inserts(store, insert, batches, len(rows), concurrency)


def direct_insert(url: str, bodies: list[bytes], batch: int, concurrency: int = 1) -> float:
    """spans/s of the requests inserted straight into ``otlp_ingest`` for ClickHouse to map
    (as the collector's inserts send them, ``batch`` spans each): no HTTP, no spool, no door.
    What ClickHouse's parsing and mapping cost: the collector's ceiling on this machine."""
    from collector.server_mapping import Envelope

    store = Store.connect(url, database=f"bench_direct_{concurrency}")
    per_insert = max(batch // SPANS_PER_REQUEST, 1)
    messages = [Envelope(b, None, SPANS_PER_REQUEST).message() for b in bodies]
    inserts = [b"".join(messages[i : i + per_insert]) for i in range(0, len(messages), per_insert)]
    spans = len(bodies) * SPANS_PER_REQUEST
    return timed_inserts(store, store.insert_protobuf, inserts, spans, concurrency)


def insert_formats(url: str, bodies: list[bytes], rows: list[list[Any]]) -> dict[str, float]:
    """rows/s of one 10k-row insert: column-oriented native (Python lists) vs Arrow."""
    from collector.otlp import decode_payload

    store = Store.connect(url, database="bench_formats")
    table = pa.concat_tables([decode_payload(b, None).table for b in bodies[:10]])
    columns = [list(c) for c in zip(*rows[:10_000], strict=True)]
    out = {}
    for name, insert in (
        ("native", lambda: store.insert_spans(columns)),
        ("arrow", lambda: store.insert_arrow(table, dedup_token=str(time.time_ns()))),
    ):
        insert()  # warm-up
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            insert()
            best = max(best, table.num_rows / (time.perf_counter() - started))
        out[name] = best
    store.close()
    return out


def collector_run(
    url: str,
    bodies: list[bytes],
    clients: int,
    env: dict[str, str],
    database: str = "bench_collector",
    content_type: str = "application/x-protobuf",
) -> dict[str, float]:
    spool = tempfile.mkdtemp(prefix="agentflight-bench-spool-")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AGENTFLIGHT_CLICKHOUSE_URL": url,
           "AGENTFLIGHT_DATABASE": database, **env}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentflight", "serve", "--port", "0", "--spool-dir", spool],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    endpoint = ""
    for line in proc.stdout:
        if "listening on " in line:
            endpoint = line.split("listening on ", 1)[1].split()[0] + "/v1/traces"
            break
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
    store = Store.connect(url, database=database)
    headers = {"content-type": content_type}
    with httpx.Client() as http:  # warm-up: one request, stored, not timed
        assert http.post(endpoint, content=bodies[0], headers=headers).status_code == 200
    while count(store) < SPANS_PER_REQUEST:
        time.sleep(0.05)
    base = count(store)
    ps = psutil.Process(proc.pid)
    cpu_before = cpu_seconds(ps)
    peak_rss = [0]
    work = list(enumerate(bodies[1:]))
    lock = threading.Lock()
    retries = [0]

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    if not work:
                        return
                    _, body = work.pop()
                while True:
                    status = http.post(endpoint, content=body, headers=headers).status_code
                    if status != 503:
                        break
                    retries[0] += 1
                    time.sleep(0.05)
                assert status == 200, status

    total = (len(bodies) - 1) * SPANS_PER_REQUEST
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()

    def sample_rss() -> None:
        peak_rss[0] = max(peak_rss[0], sum(p.memory_info().rss for p in [ps, *ps.children()]))

    # No row is queryable later than its request is accepted, so counting rows (a query
    # ClickHouse spends CPU on) starts once every request is: while the clients post, the
    # count would only take CPU from the collector's inserts.
    while any(t.is_alive() for t in threads):
        sample_rss()
        time.sleep(0.02)
    while count(store) < base + total:
        sample_rss()
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    for t in threads:
        t.join()
    cpu = cpu_seconds(ps) - cpu_before
    metrics = httpx.get(endpoint.removesuffix("/v1/traces") + "/metrics").text
    values = {
        line.split()[0].removeprefix("agentflight_collector_"): float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("agentflight_collector_") and " " in line
    }
    proc.terminate()
    proc.wait(60)
    store.close()
    inserts = values.get("insert_latency_seconds_count", 0.0)
    insert_ms = values.get("insert_latency_seconds_sum", 0.0) / max(inserts, 1) * 1e3
    return {"rate": total / elapsed, "cpu_per_10k": cpu / total * 10_000,
            "peak_rss_mib": peak_rss[0] / 2**20, "retries": retries[0], "inserts": inserts,
            "insert_ms": insert_ms}  # fmt: skip


def json_parse_floor(bodies: list[bytes]) -> float:
    """CPU seconds per 10k spans of ``json.loads`` alone on the OTLP/JSON bodies (best of
    three, the cyclic garbage collector off): the least any OTLP/JSON path that parses in
    Python can spend."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(3):
            started = time.process_time()
            for body in bodies:
                json.loads(body)
            best = min(best, time.process_time() - started)
    finally:
        gc.enable()
    return best / (len(bodies) * SPANS_PER_REQUEST) * 10_000


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests of 1,000 spans")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--decode-processes", type=int, default=None)
    parser.add_argument(
        "--rounds", type=int, default=2, help="plain insert, collector, straight inserts in turn"
    )
    args = parser.parse_args()
    rnd = random.Random(7)
    now = time.time_ns() - 3_600 * 10**9  # an hour ago: never ahead of the collector's clock
    requests = [genai_request(rnd, now + i * 10**7) for i in range(args.requests + 1)]
    bodies = [r.SerializeToString() for r in requests]
    # OTLP/JSON is about 5x slower: a third of the requests measure its rate, in a third the time.
    json_requests = max(args.requests // 3, 1)
    json_bodies = [as_otlp_json(r) for r in requests[: 1 + json_requests]]
    rows = [row for r in requests[1:] for row in as_rows(r)]
    env = {}
    if args.decode_processes is not None:
        env["AGENTFLIGHT_DECODE_PROCESSES"] = str(args.decode_processes)
    batch = 10_000  # the collector's default batch_rows
    with tempfile.TemporaryDirectory(prefix="agentflight-bench-ch-") as data_dir:
        info, _ = embedded.start(Path(data_dir), port=0)
        try:
            with Store.connect(info.dsn, apply_migrations=False) as probe:
                server = str(probe.command("SELECT version()"))
            formats = insert_formats(info.dsn, bodies[1:], rows)
            rounds = [
                (plain_insert(info.dsn, rows, batch),
                 collector_run(info.dsn, bodies, args.clients, env, f"bench_collector_{r}"),
                 direct_insert(info.dsn, bodies[1:], batch))
                for r in range(max(args.rounds, 1))
            ]  # fmt: skip
            plain_2 = plain_insert(info.dsn, rows, batch, concurrency=2)
            direct_2 = direct_insert(info.dsn, bodies[1:], batch, concurrency=2)
            limit = insert_select(info.dsn, rows)
            in_python = collector_run(
                info.dsn, bodies, args.clients, {**env, "AGENTFLIGHT_SERVER_SIDE_MAPPING": "0"},
                "bench_collector_python",
            )  # fmt: skip
            as_json = collector_run(
                info.dsn, json_bodies[: 1 + json_requests], args.clients, env,
                "bench_collector_json", "application/json",
            )  # fmt: skip
        finally:
            embedded.stop(Path(data_dir))
    json_floor = json_parse_floor(json_bodies[1:])
    spans = len(rows)
    print("agentflight collector benchmark")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; ClickHouse {server} (embedded, same machine); "
        f"clickhouse-connect {version('clickhouse-connect')}, pyarrow {version('pyarrow')}, "
        f"protobuf {version('protobuf')}"
    )
    print(
        f"{spans:,} GenAI spans (22 attributes each), requests of {SPANS_PER_REQUEST:,}, "
        f"{args.clients} clients; one 10k-row insert: native columns "
        f"{formats['native']:,.0f} rows/s, Arrow {formats['arrow']:,.0f} rows/s"
    )
    plain = statistics.median(p for p, _, _ in rounds)
    ratios = [c["rate"] / p for p, c, _ in rounds]
    direct = statistics.median(d for _, _, d in rounds)
    direct_ratio = statistics.median(d / p for p, _, d in rounds)
    proto = {
        key: statistics.median(c[key] for _, c, _ in rounds)
        for key in ("rate", "cpu_per_10k", "inserts", "insert_ms", "retries")
    }
    proto["peak_rss_mib"] = max(c["peak_rss_mib"] for _, c, _ in rounds)
    print(
        f"plain insert, collector (OTLP protobuf) and straight into otlp_ingest taking turns, "
        f"{len(rounds)} rounds: "
        + "; ".join(
            f"{c['rate']:,.0f} / {p:,.0f} spans/s = {c['rate'] / p:.2f} x "
            f"(straight in {d / p:.2f} x)"
            for p, c, d in rounds
        )
        + " (the table: medians; x plain insert: the median of the rounds' ratios)"
    )
    head = ["what", "spans/s", "x plain insert", "x INSERT..SELECT", "CPU s/10k", "peak RSS"]
    table = [
        [f"plain clickhouse-connect insert, pre-built rows ({batch:,}/insert)",
         f"{plain:,.0f}", "1.00", f"{plain / limit:.2f}", "-", "-"],
        ["the same, two inserts at a time (as the collector inserts)",
         f"{plain_2:,.0f}", f"{plain_2 / plain:.2f}", f"{plain_2 / limit:.2f}", "-", "-"],
        ["requests straight into otlp_ingest, ClickHouse maps (no collector)",
         f"{direct:,.0f}", f"{direct_ratio:.2f}", f"{direct / limit:.2f}", "-", "-"],
        ["the same, two inserts at a time",
         f"{direct_2:,.0f}", f"{direct_2 / plain:.2f}", f"{direct_2 / limit:.2f}", "-", "-"],
        ["server-side INSERT ... SELECT, views attached (the limit)",
         f"{limit:,.0f}", f"{limit / plain:.2f}", "1.00", "-", "-"],
    ]  # fmt: skip
    runs = (
        ("OTLP protobuf", proto),
        ("OTLP protobuf, SERVER_SIDE_MAPPING=0", in_python),
        (f"OTLP/JSON ({json_requests * SPANS_PER_REQUEST:,} spans)", as_json),
    )
    for label, result in runs:
        ratio = statistics.median(ratios) if result is proto else result["rate"] / plain
        table.append(
            [f"collector, {label} -> queryable in genai_spans", f"{result['rate']:,.0f}",
             f"{ratio:.2f}", f"{result['rate'] / limit:.2f}",
             f"{result['cpu_per_10k']:.2f}", f"{result['peak_rss_mib']:.0f} MiB"]
        )  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    print()
    for r in [head, ["-" * w for w in widths], *table]:
        cells = enumerate(zip(r, widths, strict=True))
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in cells))
    print(
        f"goals: collector >= 1.0 x plain insert and >= 0.5 x INSERT..SELECT, CPU <= 0.3 s per "
        f"10k spans. Collector inserts: {proto['inserts']:.0f} of {proto['insert_ms']:.0f} ms "
        f"(protobuf); 503 retries {proto['retries']:.0f} / {as_json['retries']:.0f}"
    )
    print(
        f"OTLP/JSON: json.loads alone takes {json_floor:.2f} s of CPU per 10k spans in this "
        f"process (of the collector's {as_json['cpu_per_10k']:.2f} s)"
    )


if __name__ == "__main__":
    main()
