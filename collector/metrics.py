"""The collector's own metrics, in a registry of its own, served as Prometheus text."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """Counters and gauges of one collector (a registry per instance, so tests can run many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "agentflight_collector_requests",
            "OTLP export requests answered, by HTTP status.",
            ["status"],
            registry=r,
        )
        self.received = Counter(
            "agentflight_collector_spans_received",
            "Spans decoded from accepted and partially accepted requests.",
            registry=r,
        )
        self.rejected = Counter(
            "agentflight_collector_spans_rejected",
            "Spans refused through partial_success (invalid ids or timestamps).",
            registry=r,
        )
        self.stored = Counter(
            "agentflight_collector_spans_stored",
            "Spans inserted into ClickHouse.",
            registry=r,
        )
        self.spooled = Counter(
            "agentflight_collector_spans_spooled",
            "Spans kept only in the on-disk spool (not in memory) while ClickHouse was "
            "unreachable; they are read back when it returns.",
            registry=r,
        )
        self.insert_errors = Counter(
            "agentflight_collector_insert_errors",
            "Failed ClickHouse inserts (each is retried with the same deduplication token).",
            registry=r,
        )
        self.dead_lettered = Counter(
            "agentflight_collector_spans_dead_lettered",
            "Spans ClickHouse refused for good (bad data, not an outage), set aside in the "
            "spool's dead-letter directory instead of blocking ingestion.",
            registry=r,
        )
        self.view_refused = Counter(
            "agentflight_collector_spans_view_refused",
            "Spans stored in otel_traces that a materialized view refused (the view lacks "
            "them; every other table has them), by view.",
            ["view"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "agentflight_collector_dead_letters",
            "Dead letters waiting in the spool directory (`agentflight spool list`).",
            registry=r,
        )
        self.insert_latency = Histogram(
            "agentflight_collector_insert_latency_seconds",
            "Duration of successful ClickHouse inserts.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_rows = Histogram(
            "agentflight_collector_batch_rows",
            "Rows per ClickHouse insert.",
            buckets=(10, 100, 1_000, 5_000, 10_000, 50_000, 100_000),
            registry=r,
        )
        self.queue_rows = Gauge(
            "agentflight_collector_queue_rows",
            "Rows accepted and not yet inserted (in memory or only in the spool).",
            registry=r,
        )
        self.queue_bytes = Gauge(
            "agentflight_collector_queue_bytes",
            "Memory held by the queue (Arrow bytes of the rows kept in memory).",
            registry=r,
        )
        self.spool_bytes = Gauge(
            "agentflight_collector_spool_bytes",
            "Bytes of the on-disk spool (records not yet deleted).",
            registry=r,
        )
        self.clickhouse_up = Gauge(
            "agentflight_collector_clickhouse_up",
            "1 when the last ClickHouse insert or connection attempt succeeded.",
            registry=r,
        )

    def watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """Have ``gauge`` read its value when scraped."""
        gauge.set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
