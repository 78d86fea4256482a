"""Inserting one batch: split by partition, retry what may succeed later, set aside the rest.

* **Requests ClickHouse maps** (:class:`~collector.server_mapping.Envelope`) go in one insert
  into ``otlp_ingest``, whose partitions are bounded by the door's time window. When the
  server cannot map them, or refuses them for good, they are mapped here and go the way of
  Arrow rows below; when it then takes them, the mapping is what it refused, and every later
  batch is mapped here.
* **Partitions.** ``otel_traces`` and the tables its views fill are partitioned by day, and
  ClickHouse refuses an insert that touches more than ``max_partitions_per_insert_block``
  (100) partitions. A batch whose spans span more days is inserted in parts of at most
  :data:`MAX_PARTITIONS_PER_INSERT` days each, split the same way every time, each part with
  a deduplication token of its own (``TOKEN-pK``).
* **Retryable failures** (see :mod:`collector.insert_errors`) are retried, with backoff and
  the same token, until they succeed or the collector stops; meanwhile the pipeline reports
  that it cannot make progress (``/readyz`` answers 503).
* **Permanent failures** would block everything behind them forever. When the table itself
  refused the rows (nothing was written), the part is inserted again one spool record at a
  time (token ``TOKEN-pK-rSEQ``) so that only the records ClickHouse refuses are set aside,
  as dead letters (:mod:`collector.dead_letter`); the others are stored, and ingestion goes
  on. When a materialized view threw, the rows are already in ``otel_traces``: the part is
  inserted again with the *same* token and ``materialized_views_ignore_errors``, so the table
  and the healthy views deduplicate or complete it, and the refusing view is reported (its
  rows can be rebuilt from ``otel_traces``). A dead letter there would store them twice.

Every split and token is a function of the batch alone, so a batch replayed from the spool
after a crash is inserted with exactly the same tokens and stored once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from collector.dead_letter import DeadLetters
from collector.insert_errors import is_permanent, refusing_view
from collector.metrics import Metrics
from collector.server_mapping import Envelope

if TYPE_CHECKING:
    from collector.store import Store

__all__ = ["MAX_PARTITIONS_PER_INSERT", "Inserter", "Stopping", "split_by_partition"]

log = logging.getLogger("agentflight.collector.inserter")

MAX_PARTITIONS_PER_INSERT = 100  # ClickHouse's default max_partitions_per_insert_block
_NS_PER_DAY = 86_400 * 1_000_000_000
_MAX_BACKOFF_S = 5.0


_Insert = Callable[[str, dict[str, Any]], None]  # (deduplication token, extra settings)


class Stopping(Exception):
    """The collector is stopping: the batch stays in the spool for the next start."""


@dataclass(frozen=True)
class Part:
    table: pa.Table
    seqs: np.ndarray  # the spool record of each row


def split_by_partition(
    table: pa.Table, seqs: np.ndarray, limit: int = MAX_PARTITIONS_PER_INSERT
) -> list[Part]:
    """``table`` in parts of at most ``limit`` days (UTC) each, earliest days first."""
    if table.num_rows == 0:
        return []
    days = np.asarray(table.column("Timestamp").cast(pa.int64()).to_numpy()) // _NS_PER_DAY
    unique = np.unique(days)
    if len(unique) <= limit:
        return [Part(table, seqs)]
    parts = []
    for start in range(0, len(unique), limit):
        mask = np.isin(days, unique[start : start + limit])
        parts.append(Part(table.filter(pa.array(mask)), seqs[mask]))
    return parts


class Inserter:
    """Inserts batches into the store; tells the pipeline whether it is making progress."""

    def __init__(
        self,
        store: Callable[[], Store],
        metrics: Metrics,
        dead_letters: DeadLetters,
        stop: threading.Event,
        on_state: Callable[[str | None], None],
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._dead = dead_letters
        self._stop = stop
        self._on_state = on_state  # a reason it cannot progress, or None once it does
        # False once ClickHouse refused to map rows it then took mapped here: the mapping
        # itself is what it refuses, so every later batch is mapped here (until a restart).
        self._server_maps = True

    def insert(self, items: Sequence[tuple[int, pa.Table | Envelope]], token: str) -> None:
        """Store the rows of spool records ``(seq, rows)`` once; raise :class:`Stopping`.

        Requests ClickHouse maps itself go in one insert (token ``TOKEN-pb`` when the batch
        also has Arrow rows); should ClickHouse refuse them for good, or be unable to map
        them, they are mapped here and inserted as Arrow rows (token ``TOKEN-py``).
        """
        envelopes = [(seq, e) for seq, e in items if isinstance(e, Envelope) and e.rows]
        tables = [(seq, t) for seq, t in items if isinstance(t, pa.Table) and t.num_rows]
        if envelopes:
            token_pb = f"{token}-pb" if tables else token
            stored, refusal = self._insert_envelopes(envelopes, token_pb)
            if not stored:
                mapped = [(seq, e.table()) for seq, e in envelopes]
                if self._insert_tables(mapped, f"{token}-py") and refusal is not None:
                    self._server_maps = False
                    log.warning(
                        "ClickHouse refused to map %d span(s) (%s) and took them mapped by "
                        "the collector: the collector maps every request itself from now on, "
                        "until it restarts",
                        sum(e.rows for _, e in envelopes),
                        _first_line(refusal),
                    )
        if tables:
            self._insert_tables(tables, token)

    def _insert_envelopes(
        self, envelopes: list[tuple[int, Envelope]], token: str
    ) -> tuple[bool, Exception | None]:
        """Insert for ClickHouse to map: whether it stored them, and its refusal if it refused
        them for good (None also when it cannot map at all)."""
        messages = b"".join(e.message() for _, e in envelopes)
        rows = sum(e.rows for _, e in envelopes)

        def insert(token: str, settings: dict[str, Any]) -> None:
            if not self._server_maps or not self._store().maps_protobuf:
                raise _CannotMap
            self._store().insert_protobuf(messages, dedup_token=token, settings=settings)

        try:
            error = self._insert_retrying(insert, rows, token)
        except _CannotMap:
            return False, None
        if error is None:
            return True, None
        log.warning(
            "ClickHouse refused %d span(s) it was to map (%s); mapping them here",
            rows,
            _first_line(error),
        )
        return False, error

    def _insert_tables(self, tables: Sequence[tuple[int, pa.Table]], token: str) -> bool:
        """Insert Arrow rows; True when ClickHouse took every part as it was."""
        table = pa.concat_tables([t for _, t in tables])
        seqs = np.repeat([seq for seq, _ in tables], [t.num_rows for _, t in tables])
        parts = split_by_partition(table, seqs)
        taken = True
        for index, part in enumerate(parts):
            part_token = token if len(parts) == 1 else f"{token}-p{index}"
            error = self._insert_retrying(self._arrow(part.table), part.table.num_rows, part_token)
            if error is not None:
                taken = False
                self._isolate(part, part_token, error)
        return taken

    def _arrow(self, table: pa.Table) -> _Insert:
        def insert(token: str, settings: dict[str, Any]) -> None:
            self._store().insert_arrow(table, dedup_token=token, settings=settings)

        return insert

    def _isolate(self, part: Part, token: str, error: Exception) -> None:
        """One record at a time: store what ClickHouse takes, dead-letter what it refuses."""
        records = np.unique(part.seqs)
        log.warning(
            "ClickHouse refused a batch for good (%s); inserting its %d request(s) one by one",
            _first_line(error),
            len(records),
        )
        for seq in records:
            rows = part.table.filter(pa.array(part.seqs == seq))
            record_token = f"{token}-r{seq}"
            refusal = (
                self._insert_retrying(self._arrow(rows), rows.num_rows, record_token)
                if len(records) > 1
                else error
            )
            if refusal is None:
                continue
            letter = self._dead.put(record_token.removeprefix("agentflight-"), rows, str(refusal))
            self._metrics.dead_lettered.inc(rows.num_rows)
            log.error(
                "dead-lettered %d span(s) of request %d that ClickHouse refuses: %s "
                "(kept in %s; `agentflight spool retry` inserts them again)",
                rows.num_rows,
                seq,
                _first_line(refusal),
                letter.path,
            )

    def _insert_retrying(self, insert: _Insert, rows: int, token: str) -> Exception | None:
        """Insert until it succeeds (None) or fails for good (the error)."""
        backoff = 0.2
        while True:
            started = time.perf_counter()
            try:
                insert(token, {})
            except _CannotMap:
                raise
            except Exception as exc:  # classified below; never lost, never dropped
                self._metrics.insert_errors.inc()
                if is_permanent(exc):
                    view = refusing_view(exc)
                    return exc if view is None else self._past_view(insert, rows, token, view, exc)
                self._on_state(_first_line(exc))
                if self._stop.wait(backoff):
                    raise Stopping from None
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            self._metrics.insert_latency.observe(time.perf_counter() - started)
            self._metrics.batch_rows.observe(rows)
            self._metrics.stored.inc(rows)
            self._on_state(None)
            return None

    def _past_view(
        self,
        insert: _Insert,
        rows: int,
        token: str,
        view: str,
        exc: Exception,
    ) -> Exception | None:
        """Complete an insert a view refused (same token: nothing twice), minus that view."""
        try:
            insert(token, {"materialized_views_ignore_errors": 1})
        except Exception as again:  # no better the second time: handled as a refusal
            return again
        self._metrics.view_refused.labels(view).inc(rows)
        self._metrics.stored.inc(rows)
        self._on_state(None)
        log.error(
            "the view %s refused %d span(s) (%s); they are stored in otel_traces and every "
            "other view, and missing from %s only",
            view,
            rows,
            _first_line(exc),
            view,
        )
        return None


class _CannotMap(Exception):
    """The server cannot map protobuf requests itself (too old, or not migrated)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
