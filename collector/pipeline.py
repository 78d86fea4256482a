"""From accepted requests to ClickHouse: the bounded queue, batching, and the inserter threads.

Every accepted request is first made durable in the :class:`~collector.spool.Spool`; the
spool's writer then hands the records to the queue in sequence order. Each of
``insert_concurrency`` inserter threads takes the next batch not yet taken (up to
``batch_rows`` rows, or whatever has waited ``batch_interval_ms``), records the batch's
boundaries in the spool, inserts it (Arrow rows, or requests for ClickHouse to map: see
:mod:`collector.server_mapping`) with a deduplication token made of the spool's id and those
boundaries; batches are checkpointed in order once inserted. How a batch is inserted (split
by partition, retried when ClickHouse may take it later, its refused records set aside as
dead letters when it never will) is :mod:`collector.inserter`.

Memory is bounded by ``queue_max_rows`` / ``queue_max_bytes`` of Arrow or protobuf data.
When the queue is full and ClickHouse answers, requests get 503 + ``Retry-After``
(backpressure); when it is full because ClickHouse is unreachable, requests are still
accepted into the spool (up to its disk bound) without keeping their rows in memory, and
those are read back, in order, when ClickHouse returns.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

import pyarrow as pa

from collector.config import CollectorSettings
from collector.dead_letter import DeadLetters
from collector.inserter import Inserter, Stopping
from collector.metrics import Metrics
from collector.otlp import DecodedRequest, OTLPError, map_payload
from collector.server_mapping import Envelope
from collector.spool import DataRecord, Spool, SpoolError, SpoolFull

if TYPE_CHECKING:
    from collector.store import Store

__all__ = ["Pipeline"]

log = logging.getLogger("agentflight.collector.pipeline")

QUEUE_FULL_RETRY_S = 1
SPOOL_FULL_RETRY_S = 5
_MAX_BACKOFF_S = 5.0


class Pipeline:
    """The queue between the receiver and ClickHouse; :meth:`start` it, then :meth:`submit`."""

    def __init__(
        self,
        settings: CollectorSettings,
        spool: Spool,
        connect: Callable[[], Store],
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.metrics = metrics
        self._connect = connect
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: deque[DataRecord] = deque()
        self._cuts: dict[int, int] = {}
        self._queued_rows = 0
        self._mem_rows = 0
        self._mem_bytes = 0
        self._unavailable = False
        self._failing: str | None = None  # why the inserter cannot make progress
        self._closing = False
        self._stop = threading.Event()
        self.dead_letters = DeadLetters(settings.spool_dir)
        self._inserter = Inserter(
            self.store, metrics, self.dead_letters, self._stop, self._insert_state
        )
        self._threads = [
            threading.Thread(target=self._run, name=f"clickhouse-inserter-{i}", daemon=True)
            for i in range(max(1, settings.insert_concurrency))
        ]
        self._taken = 0  # records at the head of the queue taken into batches...
        self._taken_rows = 0  # ...and their rows
        self._inserted: dict[int, int] = {}  # first -> last of batches stored, not yet popped
        self._checkpoint_lock = threading.Lock()
        self._checkpointed = -1
        metrics.watch(metrics.queue_rows, lambda: self._queued_rows)
        metrics.watch(metrics.queue_bytes, lambda: self._mem_bytes)
        metrics.watch(metrics.spool_bytes, lambda: spool.disk_bytes)
        metrics.watch(metrics.clickhouse_up, lambda: 0 if self._unavailable else 1)
        metrics.watch(metrics.dead_letters, self.dead_letters.count)

    # --- receiving ------------------------------------------------------------------------
    def start(self) -> int:
        """Open the spool, queue what an earlier run left, start inserting; return its rows.

        Starting a started pipeline does nothing (and returns 0).
        """
        if any(thread.is_alive() for thread in self._threads):
            return 0
        self.spool.on_durable = self._on_durable
        recovery = self.spool.open()
        self._cuts = dict(recovery.cuts)
        self._on_durable(recovery.records)
        for thread in self._threads:
            thread.start()
        return sum(r.rows for r in recovery.records)

    def check_accepting(self) -> None:
        """Raise the 503 a request would get anyway, before its body is read."""
        with self._cond:
            if self._closing:
                raise OTLPError(503, "the collector is shutting down", QUEUE_FULL_RETRY_S)
            if self._full(0, 0) and not self._unavailable:
                raise OTLPError(503, "the ingest queue is full", QUEUE_FULL_RETRY_S)
        if self.spool.full():
            raise OTLPError(503, "the spool is full", SPOOL_FULL_RETRY_S)

    def _full(self, rows: int, nbytes: int) -> bool:
        if self._mem_rows == 0:  # one request always fits, however large
            return False
        s = self.settings
        return (
            self._mem_rows + rows > s.queue_max_rows or self._mem_bytes + nbytes > s.queue_max_bytes
        )

    def submit(self, decoded: DecodedRequest, body: bytes, project: str | None) -> Future[int]:
        """Spool a decoded request; the future resolves when it is durable (then answer 200)."""
        rows = decoded.spans.rows
        if rows == 0:
            done: Future[int] = Future()
            done.set_result(-1)
            return done
        data = decoded.spans.data
        nbytes = decoded.spans.nbytes
        with self._cond:
            if self._closing:
                raise OTLPError(503, "the collector is shutting down", QUEUE_FULL_RETRY_S)
            keep = not self._full(rows, nbytes)
            if not keep and not self._unavailable:
                raise OTLPError(503, "the ingest queue is full", QUEUE_FULL_RETRY_S)
            if keep:
                self._mem_rows += rows
                self._mem_bytes += nbytes
        try:
            future = self.spool.append_data(
                decoded.spool_payload(body),
                decoded.payload_gzip,
                project,
                rows,
                data if keep else None,
            )
        except SpoolFull as exc:
            self._release(rows, nbytes, keep)
            raise OTLPError(503, str(exc), SPOOL_FULL_RETRY_S) from None
        except SpoolError as exc:
            self._release(rows, nbytes, keep)
            raise OTLPError(503, str(exc), SPOOL_FULL_RETRY_S) from None
        if keep:
            future.add_done_callback(
                lambda f: self._release(rows, nbytes, True) if f.exception() else None
            )
        else:
            future.add_done_callback(
                lambda f: None if f.exception() else self.metrics.spooled.inc(rows)
            )
        return future

    def _release(self, rows: int, nbytes: int, kept: bool) -> None:
        if kept:
            with self._cond:
                self._mem_rows -= rows
                self._mem_bytes -= nbytes
                self._cond.notify_all()

    def _on_durable(self, records: list[DataRecord]) -> None:
        with self._cond:
            self._queue.extend(records)
            self._queued_rows += sum(r.rows for r in records)
            self._cond.notify_all()

    # --- inserting ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            while True:  # the same batch until it is in (or the collector stops)
                try:
                    if not self._insert(batch):
                        return
                    break
                except Exception:
                    log.exception("inserting a batch failed; retrying it")
                    if self._stop.wait(_MAX_BACKOFF_S):
                        return

    def _take(self) -> list[DataRecord] | None:
        """The next batch not yet taken (left in the queue until inserted); None to stop.

        With ``insert_concurrency`` > 1 several inserters each take the next batch, so the
        batches go to ClickHouse side by side; they are checkpointed in order (see
        :meth:`_done`).
        """
        s = self.settings
        with self._cond:
            while True:
                head = next(itertools.islice(self._queue, self._taken, None), None)
                if self._stop.is_set() or (self._closing and head is None):
                    return None
                if head is None:
                    self._cond.wait()
                    continue
                last = self._cut_of(head.seq)
                if last is None:
                    wait = head.durable_at + s.batch_interval_ms / 1000 - time.monotonic()
                    waiting = self._queued_rows - self._taken_rows
                    if not (self._closing or wait <= 0 or waiting >= s.batch_rows):
                        self._cond.wait(wait)
                        continue
                batch: list[DataRecord] = []
                rows = 0
                for record in itertools.islice(self._queue, self._taken, None):
                    if last is not None:  # a batch cut before a crash: the very same again
                        if record.seq > last:
                            break
                    elif batch and rows + record.rows > s.batch_rows:
                        break
                    batch.append(record)
                    rows += record.rows
                self._taken += len(batch)
                self._taken_rows += rows
                return batch

    def _cut_of(self, seq: int) -> int | None:
        """The last seq of the recovered batch holding ``seq`` (normally it starts there)."""
        for first, last in self._cuts.items():
            if first <= seq <= last:
                return last
        return None

    def _rows(self, record: DataRecord) -> pa.Table | Envelope | None:
        if record.attachment is not None:
            data: pa.Table | Envelope = record.attachment
            return data
        project, request, gzipped = self.spool.read(record.location)
        payload = gzip.decompress(request) if gzipped else request
        try:
            return map_payload(
                payload, project, server_side=bool(self.settings.server_side_mapping)
            ).data
        except (OTLPError, OSError, EOFError) as exc:  # cannot happen to a record we accepted
            log.error("spool record %d cannot be decoded again, skipping it: %s", record.seq, exc)
            return None

    def _insert(self, batch: list[DataRecord]) -> bool:
        first, last = batch[0].seq, batch[-1].seq
        items = [(r.seq, d) for r in batch if (d := self._rows(r)) is not None]
        with self._cond:
            recovered = next(((f, t) for f, t in self._cuts.items() if f <= first <= t), None)
            if recovered is not None:
                del self._cuts[recovered[0]]
        if recovered is not None:
            # Cut before the crash: the same boundaries, so the same token, as the first time.
            first, last = recovered
        else:
            while True:
                try:
                    self.spool.append_cut(first, last).result()
                    break
                except SpoolError as exc:  # the spool cannot write: try again later
                    log.error("cannot record a batch in the spool: %s", exc)
                    if self._stop.wait(_MAX_BACKOFF_S):
                        return False
        try:
            self._inserter.insert(items, f"agentflight-{self.spool.spool_id}-{first}-{last}")
        except Stopping:
            return False  # shutting down: the batch stays in the spool
        self._done(batch[0].seq, batch[-1].seq)
        return True

    def _done(self, first: int, last: int) -> None:
        """Drop the batches inserted at the head of the queue and checkpoint, in order."""
        through = -1
        with self._cond:
            self._inserted[first] = last
            while self._queue and self._queue[0].seq in self._inserted:
                through = self._inserted.pop(self._queue[0].seq)
                while self._queue and self._queue[0].seq <= through:
                    record = self._queue.popleft()
                    self._queued_rows -= record.rows
                    self._taken -= 1
                    self._taken_rows -= record.rows
                    if record.attachment is not None:
                        self._mem_rows -= record.rows
                        self._mem_bytes -= int(record.attachment.nbytes)
                        record.attachment = None
            self._cond.notify_all()
        if through < 0:
            return  # an earlier batch is still being inserted: it checkpoints both
        with self._checkpoint_lock:
            if through > self._checkpointed:
                try:
                    self.spool.checkpoint(through)
                    self._checkpointed = through
                except OSError as exc:  # the next batch writes it; a restart replays (once)
                    log.error("cannot write the spool's checkpoint: %s", exc)

    def _insert_state(self, failing: str | None) -> None:
        """The inserter's news: why it cannot make progress, or None once it does."""
        with self._cond:
            if failing is not None and not self._unavailable:
                log.warning("ClickHouse insert failed, retrying (spooling meanwhile): %s", failing)
            elif failing is None and self._unavailable:
                log.warning("ClickHouse is back; draining the spool")
            self._unavailable = failing is not None
            self._failing = failing
            self._cond.notify_all()

    # --- state, shutdown ----------------------------------------------------------------
    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def store(self) -> Store:
        """The ClickHouse store, connected (and the schema migrated) on first use."""
        with self._store_lock:
            if self._store is None:
                self._store = self._connect()  # migrates the schema on first contact
            return self._store

    def readiness(self) -> str | None:
        """None when ready: ClickHouse answers and the inserter makes progress; else why not."""
        failing = self._failing
        if failing is not None:
            return f"inserts are failing: {failing}"
        try:
            if self.store().ping():
                return None
        except Exception as exc:  # not ready, whatever the reason
            log.debug("ClickHouse not reachable: %s", exc)
        return "ClickHouse is unreachable"

    def ready(self) -> bool:
        return self.readiness() is None

    def close(self, timeout_s: float) -> bool:
        """Stop accepting, insert what is queued (for up to ``timeout_s``), close the spool.

        Returns True when everything was inserted; otherwise the rest stays in the spool and
        is inserted at the next start.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        drained = not self._queue
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(10)
        self.spool.close()
        if self._store is not None:
            self._store.close()
        return drained
