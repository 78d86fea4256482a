"""Faults: ClickHouse going away mid-stream, the collector killed or stopped during ingest.

In every case each span answered 200 must end up in ClickHouse exactly once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import Store, embedded
from collector.config import CollectorSettings
from collector.metrics import Metrics
from collector.otlp import Encoding, decode_request
from collector.pipeline import Pipeline
from collector.spool import Spool
from tests.collector.conftest import CollectorProcess, LiveCollector, wait_until
from tests.collector.otlp_builders import PROTOBUF, genai_request

SPANS_PER_REQUEST = 40


def stored_ids(store: Store) -> list[str]:
    rows = store.query("SELECT SpanId FROM {db:Identifier}.otel_traces").result_rows
    return [r[0] for r in rows]


@dataclass
class Sender:
    """An OTLP client posting batches of new spans, retrying 503s like the OTel exporters."""

    url: str
    acked: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    requests: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    retries_503: int = 0
    failed: list[str] = field(default_factory=list)
    on_ack: Callable[[int], None] | None = None  # called with the count after each 200

    def run(self, limit: int | None = None) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set() and (limit is None or self.requests < limit):
                req = genai_request(SPANS_PER_REQUEST)
                ids = {s.span_id.hex() for s in req.resource_spans[0].scope_spans[0].spans}
                self.sent |= ids
                body = req.SerializeToString()
                while True:
                    try:
                        response = http.post("/v1/traces", content=body, headers=PROTOBUF)
                    except httpx.HTTPError as exc:  # the collector died mid-request
                        self.failed.append(str(exc))
                        return
                    if response.status_code != 503:
                        break
                    self.retries_503 += 1
                    time.sleep(0.05)
                assert response.status_code == 200, response.text
                self.acked |= ids
                self.requests += 1
                if self.on_ack is not None:
                    self.on_ack(self.requests)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread


def assert_exactly_once(store: Store, sender: Sender) -> None:
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)), "duplicates"
    assert sender.acked <= set(ids), f"{len(sender.acked - set(ids))} acknowledged spans lost"
    assert set(ids) <= sender.sent


@pytest.fixture
def own_clickhouse(tmp_path: Path) -> Iterator[tuple[Path, embedded.ServerInfo]]:
    data_dir = tmp_path / "own-clickhouse"
    info, _ = embedded.start(data_dir, port=0)
    yield data_dir, info
    embedded.stop(data_dir)


def test_clickhouse_stops_mid_stream_and_comes_back(
    start_collector: Callable[..., LiveCollector], own_clickhouse: Any
) -> None:
    data_dir, info = own_clickhouse
    live = start_collector(url=info.dsn, batch_rows=200, queue_max_rows=400)
    store = Store.connect(info.dsn, database=live.collector.database)
    sender = Sender(live.url)
    thread = sender.start()
    wait_until(lambda: sender.requests >= 10, what="ingest to get going")
    embedded.stop(data_dir)  # ClickHouse goes away in the middle of the stream
    at_stop = sender.requests
    wait_until(lambda: sender.requests >= at_stop + 30, what="ingest to continue into the spool")
    metrics = live.collector.metrics
    assert metrics.spooled._value.get() > 0  # rows kept on disk only, not in memory
    restarted, started = embedded.start(data_dir, port=info.port)  # the same server again
    assert started and restarted.port == info.port
    at_restart = sender.requests
    wait_until(lambda: sender.requests >= at_restart + 10, what="ingest after the restart")
    sender.stop.set()
    thread.join(30)
    assert not sender.failed
    wait_until(lambda: len(stored_ids(store)) >= len(sender.acked), 90, "the spool to drain")
    wait_until(lambda: live.collector.pipeline.queued_rows == 0, 30, "an empty queue")
    assert_exactly_once(store, sender)
    assert len(stored_ids(store)) == len(sender.acked)  # nothing unacknowledged was stored
    assert metrics.insert_errors._value.get() > 0
    store.close()


class FlakyStore:
    """A store whose insert lands in ClickHouse and then reports a failure (a lost answer)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.inserts = 0

    def insert_arrow(self, table: Any, *, dedup_token: str | None = None, **kw: Any) -> int:
        self.inserts += 1
        self.store.insert_arrow(table, dedup_token=dedup_token, **kw)
        raise ConnectionResetError("the server committed, then the connection dropped")

    @property
    def maps_protobuf(self) -> bool:
        return self.store.maps_protobuf

    def insert_protobuf(self, messages: bytes, **kw: Any) -> None:
        self.inserts += 1
        self.store.insert_protobuf(messages, **kw)
        raise ConnectionResetError("the server committed, then the connection dropped")

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


@pytest.mark.parametrize("server_side", [0, 1], ids=["mapped-here", "mapped-by-clickhouse"])
def test_a_batch_inserted_but_not_checkpointed_is_replayed_once(
    store: Store, tmp_path: Path, server_side: int
) -> None:
    """Crash after ClickHouse took a batch but before the spool knew: same batch, same token."""
    # One batch of exactly the three requests: 21 rows, whatever the timing.
    settings = CollectorSettings.resolve(
        batch_rows=21, batch_interval_ms=600_000, server_side_mapping=server_side
    )
    flaky = FlakyStore(store)
    first = Pipeline(settings, Spool(tmp_path, 10**9), lambda: flaky, Metrics())  # type: ignore[arg-type,return-value]
    first.start()
    for _ in range(3):
        body = genai_request(7).SerializeToString()
        decoded = decode_request(
            body, Encoding.PROTOBUF, "identity", None, 1 << 20, server_side=bool(server_side)
        )
        assert decoded.spans.rows == 7
        first.submit(decoded, body, None).result()
    wait_until(lambda: flaky.inserts >= 2, what="the insert and its retry")
    first.close(0)  # "crash": the batch is in ClickHouse, the checkpoint never written
    assert len(stored_ids(store)) == 21  # the retry with the same token was deduplicated
    second = Pipeline(settings, Spool(tmp_path, 10**9), lambda: store, Metrics())
    assert second.start() == 21  # replayed from the spool...
    wait_until(lambda: second.queued_rows == 0, what="the replay")
    ids = stored_ids(store)
    assert (len(ids), len(set(ids))) == (21, 21)  # ...and stored once
    second.close(5)


class FirstBatchHangs:
    """A store on which the insert of the first batch (spool record 0 alone, whichever
    inserter gets to the store first) hangs until released; that batch is never stored."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hanging = threading.Event()
        self.release = threading.Event()

    def _refuse(self, token: str) -> None:
        if token.endswith("-0-0"):  # agentflight-<spool id>-<first seq>-<last seq>
            self.hanging.set()
            self.release.wait(60)
            raise ConnectionResetError("the connection dropped before the insert")

    def insert_arrow(self, table: Any, *, dedup_token: str, **kw: Any) -> int:
        self._refuse(dedup_token)
        return self.store.insert_arrow(table, dedup_token=dedup_token, **kw)

    @property
    def maps_protobuf(self) -> bool:
        return self.store.maps_protobuf

    def insert_protobuf(self, messages: bytes, *, dedup_token: str, **kw: Any) -> None:
        self._refuse(dedup_token)
        self.store.insert_protobuf(messages, dedup_token=dedup_token, **kw)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


def test_batches_inserted_side_by_side_are_checkpointed_in_order(
    store: Store, tmp_path: Path
) -> None:
    """The later batch stored first is not checkpointed past the earlier one still going."""
    settings = CollectorSettings.resolve(
        batch_rows=7, batch_interval_ms=600_000, insert_concurrency=2
    )
    hangs = FirstBatchHangs(store)
    spool = Spool(tmp_path, 10**9)
    first = Pipeline(settings, spool, lambda: hangs, Metrics())  # type: ignore[arg-type,return-value]
    first.start()
    for _ in range(2):  # two requests of 7 spans: two batches, one per inserter
        body = genai_request(7).SerializeToString()
        decoded = decode_request(body, Encoding.PROTOBUF, "identity", None, 1 << 20, None, True)
        first.submit(decoded, body, None).result()
    wait_until(lambda: len(stored_ids(store)) == 7, what="the second batch, beside the first")
    assert hangs.hanging.is_set()
    assert spool.checkpointed() == -1  # the first batch is not in: nothing is checkpointed
    assert first.queued_rows == 14  # and both stay queued until it is
    closer = threading.Thread(target=first.close, args=(0,))  # the "crash"
    closer.start()
    hangs.release.set()
    closer.join(60)
    second = Pipeline(settings, Spool(tmp_path, 10**9), lambda: store, Metrics())
    assert second.start() == 14  # both batches are replayed (the same tokens)...
    wait_until(lambda: second.queued_rows == 0, what="the replay")
    ids = stored_ids(store)
    assert (len(ids), len(set(ids))) == (14, 14)  # ...is stored, and everything once
    second.close(5)


@pytest.fixture
def collector_env(store: Store) -> dict[str, str]:
    return {
        "AGENTFLIGHT_CLICKHOUSE_URL": store.url,
        "AGENTFLIGHT_DATABASE": store.database,
        "AGENTFLIGHT_BATCH_ROWS": "200",
        "AGENTFLIGHT_BATCH_INTERVAL_MS": "300",
    }


def test_sigkill_during_ingest_loses_nothing(
    store: Store, tmp_path: Path, collector_env: dict[str, str]
) -> None:
    # Batches of 5 requests, no time-based flush: killed right after the 27th answer, the
    # collector has inserted (or is inserting) 5 batches and holds 2 requests in its spool.
    env = dict(collector_env, AGENTFLIGHT_BATCH_INTERVAL_MS="600000")
    env["AGENTFLIGHT_BATCH_ROWS"] = str(5 * SPANS_PER_REQUEST)
    spool = tmp_path / "spool"
    first = CollectorProcess.start(spool, env)
    sender = Sender(first.url)
    sender.on_ack = lambda n: first.process.send_signal(signal.SIGKILL) if n == 27 else None
    thread = sender.start()
    thread.join(60)
    assert first.stop() == -signal.SIGKILL and sender.requests == 27
    assert len(stored_ids(store)) <= 25 * SPANS_PER_REQUEST  # the last 2 are only in the spool
    second = CollectorProcess.start(spool, collector_env)  # flushes every 300 ms
    try:
        wait_until(lambda: len(stored_ids(store)) >= len(sender.acked), 60, "the replay")
        assert_exactly_once(store, sender)
    finally:
        second.stop()
    assert "replaying" in second.log()


def test_sigterm_drains_the_queue_before_exiting(
    store: Store, tmp_path: Path, collector_env: dict[str, str]
) -> None:
    env = dict(collector_env, AGENTFLIGHT_BATCH_INTERVAL_MS="600000")
    env["AGENTFLIGHT_BATCH_ROWS"] = "100000"
    collector = CollectorProcess.start(tmp_path / "spool", env)
    sender = Sender(collector.url)
    sender.run(limit=12)  # all acknowledged, none inserted yet (the interval is 10 minutes)
    assert len(stored_ids(store)) == 0
    assert collector.stop(signal.SIGTERM) == 0
    assert "agentflight collector stopped" in collector.log()
    ids = stored_ids(store)
    assert (len(ids), set(ids)) == (12 * SPANS_PER_REQUEST, sender.acked)
    restarted = Spool(tmp_path / "spool", 10**9)
    assert restarted.open().records == []  # nothing left to replay
    restarted.close()
