"""One bad request never stops ingestion: out-of-window times, partitions, refusals, views.

Each test follows the poisoned request with good ones and counts exactly: every good span
stored once, every poisoned span refused (at the door) or dead-lettered (by ClickHouse).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector import Store
from collector.otlp import Encoding, decode_request
from tests.collector.conftest import LiveCollector, count, wait_until
from tests.collector.otlp_builders import PROTOBUF, genai_request, request, span

Start = Callable[..., LiveCollector]
DAY_NS = 86_400 * 1_000_000_000
UNREACHABLE = "http://agentflight:x@127.0.0.1:9"
NO_POISON = (
    "ALTER TABLE {db:Identifier}.otel_traces ADD CONSTRAINT no_poison CHECK SpanName != 'poison'"
)


def post(live: LiveCollector, req: Any) -> ExportTraceServiceResponse:
    with live.client() as http:
        response = http.post("/v1/traces", content=req.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200, response.content
    return ExportTraceServiceResponse.FromString(response.content)


def past(seconds: float) -> int:
    return time.time_ns() - int(seconds * 1e9)


def poisoned_times() -> tuple[Any, int, int]:
    """A request with 5 good spans and 4 whose times are absurd: (request, good, bad)."""
    now = time.time_ns()
    good = [span(f"good {i}", start_ns=past(60 + i), duration_ns=10**9) for i in range(5)]
    bad = [
        span("four hundred days ago", start_ns=now - 400 * DAY_NS),
        span("the first nanosecond", start_ns=1, duration_ns=1),
        span("in two days", start_ns=now + 2 * DAY_NS),
        span("in a century", start_ns=now + 36_500 * DAY_NS),
    ]
    return request(good + bad), len(good), len(bad)


def metric(live: LiveCollector, name: str) -> float:
    with live.client() as http:
        text = http.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def stored_names(store: Store) -> list[str]:
    rows = store.query("SELECT SpanName FROM {db:Identifier}.otel_traces ORDER BY SpanName")
    return [row[0] for row in rows.result_rows]


def test_spans_outside_the_time_window_are_refused_and_the_rest_stored(
    start_collector: Start, store: Store
) -> None:
    live = start_collector()
    req, good, bad = poisoned_times()
    answer = post(live, req)
    assert answer.partial_success.rejected_spans == bad
    message = answer.partial_success.error_message
    assert "365 days in the past" in message and "86400 s in the future" in message
    for _ in range(3):
        post(live, genai_request(10, service_name="svc"))
    wait_until(lambda: count(store) == good + 30, what="the good spans")
    time.sleep(0.3)  # anything refused would have been inserted with them
    assert count(store) == good + 30
    assert not [n for n in stored_names(store) if "ago" in n or "in " in n or "first" in n]
    assert metric(live, "agentflight_collector_spans_rejected_total") == bad
    with live.client() as http:
        assert http.get("/readyz").status_code == 200


def test_the_window_is_a_setting(start_collector: Start, store: Store) -> None:
    live = start_collector(max_span_age_days=1000, max_span_future_s=5)
    answer = post(
        live,
        request(
            [
                span("400 days ago", start_ns=past(400 * 86_400)),
                span("in a minute", start_ns=time.time_ns() + 60 * 10**9),
            ]
        ),
    )
    assert answer.partial_success.rejected_spans == 1
    assert "5 s in the future" in answer.partial_success.error_message
    wait_until(lambda: count(store) == 1, what="the span within 1000 days")


def test_refused_spans_stay_refused_after_a_restart(
    start_collector: Start, store: Store, tmp_path: Any
) -> None:
    spool = tmp_path / "spool"
    first = start_collector(url=UNREACHABLE, spool_dir=spool, shutdown_timeout_s=0.5)
    req, good, bad = poisoned_times()
    assert post(first, req).partial_success.rejected_spans == bad
    post(first, genai_request(10))
    first.stop()  # nothing reached ClickHouse: everything waits in the spool
    assert count(store) == 0
    second = start_collector(spool_dir=spool)  # reads the spool back, without a time window
    wait_until(lambda: count(store) == good + 10, what="the spool's good spans")
    time.sleep(0.3)
    assert count(store) == good + 10
    assert second.collector.pipeline.queued_rows == 0


def test_a_request_over_many_days_is_inserted_in_parts(
    start_collector: Start, store: Store
) -> None:
    req = request([span(f"day {d}", start_ns=past(d * 86_400 + 60)) for d in range(250)])
    # The same rows in one insert are more partitions than ClickHouse allows...
    table = decode_request(req.SerializeToString(), Encoding.PROTOBUF, "identity", None, 1 << 24)
    with pytest.raises(Exception, match="Too many partitions"):
        store.insert_arrow(table.spans.table)
    assert count(store) == 0
    # ...so the collector splits them, and what follows is not held up.
    live = start_collector(max_span_age_days=400)
    assert post(live, req).partial_success.rejected_spans == 0
    post(live, genai_request(10))
    wait_until(lambda: live.collector.pipeline.queued_rows == 0, what="the inserts to finish")
    assert count(store) == 260  # 250 days of spans and 10 more
    partitions = store.query(
        "SELECT uniqExact(partition) FROM system.parts WHERE database = {db:String} "
        "AND table = 'otel_traces' AND active",
        {"db": store.database},
    ).result_rows[0][0]
    assert partitions >= 250
    assert count(store, table="genai_spans") == 260
    assert metric(live, "agentflight_collector_insert_errors_total") == 0


def spool_cli(*args: str, live: LiveCollector, store: Store) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGENTFLIGHT_CLICKHOUSE_URL": store.url,
        "AGENTFLIGHT_DATABASE": store.database,
    }
    return subprocess.run(
        [sys.executable, "-m", "agentflight", "spool", *args, "--spool-dir",
         str(live.settings.spool_dir)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_a_permanent_refusal_is_dead_lettered_and_ingestion_goes_on(
    start_collector: Start, store: Store
) -> None:
    store.command(NO_POISON)
    live = start_collector(batch_interval_ms=500)  # the three requests share one batch
    post(live, genai_request(5))
    post(live, request([span("poison", start_ns=past(5)), span("its sibling", start_ns=past(5))]))
    post(live, genai_request(5))
    wait_until(lambda: live.collector.pipeline.queued_rows == 0, what="the batch to be handled")
    assert count(store) == 10  # both good requests, nothing of the refused one
    assert count(store, table="genai_spans") == 10
    assert metric(live, "agentflight_collector_spans_dead_lettered_total") == 2
    assert metric(live, "agentflight_collector_dead_letters") == 1
    post(live, genai_request(3))  # ingestion goes on
    wait_until(lambda: count(store) == 13, what="spans after the refusal")
    with live.client() as http:
        assert http.get("/readyz").status_code == 200

    listed = spool_cli("list", live=live, store=store)
    assert listed.returncode == 0 and "VIOLATED_CONSTRAINT" in listed.stdout
    assert "2 spans" in listed.stdout
    still = spool_cli("retry", live=live, store=store)
    assert still.returncode == 1 and "still refused" in still.stderr
    store.command("ALTER TABLE {db:Identifier}.otel_traces DROP CONSTRAINT no_poison")
    retried = spool_cli("retry", live=live, store=store)
    assert retried.returncode == 0 and "Inserted 1 dead letter(s), 2 spans" in retried.stdout
    assert count(store) == 15 and count(store, table="genai_spans") == 15
    again = spool_cli("retry", live=live, store=store)
    assert again.returncode == 0 and "Inserted 0" in again.stdout
    assert count(store) == 15
    assert "No dead letters" in spool_cli("list", live=live, store=store).stdout


def test_a_poisoned_spool_does_not_wedge_a_restart(
    start_collector: Start, store: Store, tmp_path: Any
) -> None:
    store.command(NO_POISON)
    spool = tmp_path / "spool"
    first = start_collector(url=UNREACHABLE, spool_dir=spool, shutdown_timeout_s=0.5)
    post(first, genai_request(4))
    post(first, request([span("poison", start_ns=past(5))]))
    post(first, genai_request(6))
    first.stop()
    second = start_collector(spool_dir=spool)
    wait_until(lambda: count(store) == 10, what="the good spans of the spool")
    wait_until(lambda: second.collector.pipeline.queued_rows == 0, what="the spool to drain")
    assert count(store) == 10
    assert [letter.rows for letter in second.collector.pipeline.dead_letters] == [1]


def test_a_view_that_refuses_rows_does_not_duplicate_or_block(
    start_collector: Start, store: Store
) -> None:
    store.command(
        "CREATE MATERIALIZED VIEW {db:Identifier}.picky ENGINE = Null AS "
        "SELECT 1 AS seen FROM {db:Identifier}.otel_traces "
        "WHERE throwIf(SpanName = 'poison', 'poisoned span') = 0"
    )
    live = start_collector(batch_interval_ms=500)
    post(live, genai_request(5))
    post(live, request([span("poison", start_ns=past(5))]))
    wait_until(lambda: live.collector.pipeline.queued_rows == 0, what="the batch to be handled")
    post(live, genai_request(4))
    wait_until(lambda: count(store) == 10, what="every span, once")
    time.sleep(0.3)
    assert count(store) == 10 and count(store, table="genai_spans") == 10
    assert metric(live, "agentflight_collector_spans_view_refused_total") == 6
    assert not list(live.collector.pipeline.dead_letters)


def test_not_ready_while_inserts_fail_then_everything_once(
    start_collector: Start, store: Store
) -> None:
    store.command("DETACH TABLE {db:Identifier}.genai_spans")  # a view's table goes missing
    live = start_collector()
    post(live, genai_request(7))
    with live.client() as http:
        wait_until(lambda: http.get("/readyz").status_code == 503, what="not ready")
        reason = http.get("/readyz").json()["reason"]
    assert reason.startswith("inserts are failing") and "genai_spans" in reason
    assert live.collector.pipeline.queued_rows == 7
    store.command("ATTACH TABLE {db:Identifier}.genai_spans")
    wait_until(lambda: live.collector.pipeline.queued_rows == 0, what="the retry to succeed")
    with live.client() as http:
        assert http.get("/readyz").status_code == 200
    assert count(store) == 7 and count(store, table="genai_spans") == 7  # retried, stored once


def test_a_broken_decoder_pool_is_replaced_once() -> None:
    import asyncio

    from collector.decoder import Decoder
    from collector.otlp import OTLPError

    decoder = Decoder(1, 1 << 20)
    decoder.start()
    body = genai_request(3).SerializeToString()

    async def run() -> list[Any]:
        executor: Any = decoder._executor
        for process in list(executor._processes.values()):
            process.kill()
            process.join()
        return await asyncio.gather(
            *(decoder.decode(body, Encoding.PROTOBUF, "identity", None) for _ in range(6)),
            return_exceptions=True,
        )

    try:
        outcomes = asyncio.run(run())
        failures = [o for o in outcomes if isinstance(o, OTLPError)]
        assert failures and all(f.status == 503 for f in failures)
        assert decoder.restarts == 1
        again = asyncio.run(decoder.decode(body, Encoding.PROTOBUF, "identity", None))
        assert again.spans.rows == 3 and decoder.restarts == 1
    finally:
        decoder.close()
