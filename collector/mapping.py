"""OTLP spans to ``otel_traces`` rows, the way the contrib ClickHouse exporter maps them.

One row per span, in :data:`~collector.schema.OTEL_TRACES_COLUMNS` order: ids in lower-case
hex (all-zero ids as ``""``), ``SpanKind`` and ``StatusCode`` by pdata's names (``Server``,
``Client``, ``Internal``...; ``Unset``, ``Ok``, ``Error``), ``Duration`` in nanoseconds,
``ServiceName`` from the resource's ``service.name``, every attribute stringified by
:func:`~collector.anyvalue.any_value_str`, events and links as nested columns.

The rows are built straight into column lists and handed to Arrow, which the insert sends to
ClickHouse as is: the per-span loop is the collector's hot path, so it touches each protobuf
field once and does nothing else. Spans that cannot be stored (bad ids or timestamps) are
left out and counted, for the ``partial_success`` of the response.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from collector.anyvalue import any_value_str
from collector.otlp_view import AttributeMemo
from collector.schema import OTEL_TRACES_COLUMNS

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

__all__ = ["OTEL_TRACES_SCHEMA", "PROJECT_ATTRIBUTE", "MappedSpans", "map_request"]

PROJECT_ATTRIBUTE = "agentflight.project"  # tracer.semconv.PROJECT
SERVICE_NAME = "service.name"

_ATTRS = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns")
OTEL_TRACES_SCHEMA = pa.schema(
    list(
        zip(
            OTEL_TRACES_COLUMNS,
            [
                _TS, pa.string(), pa.string(), pa.string(), pa.string(), pa.string(),
                pa.string(), pa.string(), _ATTRS, pa.string(), pa.string(), _ATTRS,
                pa.uint64(), pa.string(), pa.string(), pa.list_(_TS), pa.list_(pa.string()),
                pa.list_(_ATTRS), pa.list_(pa.string()), pa.list_(pa.string()),
                pa.list_(pa.string()), pa.list_(_ATTRS),
            ],
            strict=True,
        )
    )
)  # fmt: skip

_KIND_NAMES = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
_STATUS_NAMES = ("Unset", "Ok", "Error")
_MAX_NS = 2**63 - 1  # DateTime64(9) and Arrow timestamps are signed 64-bit nanoseconds
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


@dataclass(frozen=True)
class MappedSpans:
    """The rows of one request, and what was refused."""

    table: pa.Table
    rejected: int = 0
    error_message: str = ""

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


class _Attrs:
    """A column of attribute maps: flat keys and values plus offsets, as Arrow wants them."""

    __slots__ = ("keys", "offsets", "values")

    def __init__(self) -> None:
        self.offsets: list[int] = [0]
        self.keys: list[str] = []
        self.values: list[str] = []

    def add(self, attributes: Iterable[KeyValue]) -> None:
        keys, values = self.keys, self.values
        for kv in attributes:
            keys.append(kv.key)
            values.append(any_value_str(kv.value))
        self.offsets.append(len(keys))

    def array(self) -> pa.MapArray:
        return _map_array(self.offsets, self.keys, self.values)


def _map_array(offsets: list[int], keys: list[str], values: list[str]) -> pa.MapArray:
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


def _list(offsets: list[int], values: pa.Array) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def _id_hex(raw: bytes, zero: bytes) -> str:
    return "" if raw == zero else raw.hex()


def _resource_attributes(
    attributes: Iterable[KeyValue], project: str | None
) -> tuple[list[str], list[str], str]:
    """The resource's keys and values (project stamped) and its service name."""
    pairs = _Attrs()
    pairs.add(attributes)
    keys, values = pairs.keys, pairs.values
    service = next((v for k, v in zip(keys, values, strict=True) if k == SERVICE_NAME), "")
    if project is not None:
        kept = [(k, v) for k, v in zip(keys, values, strict=True) if k != PROJECT_ATTRIBUTE]
        keys = [k for k, _ in kept] + [PROJECT_ATTRIBUTE]
        values = [v for _, v in kept] + [project]
    return keys, values, service


_MEMO = AttributeMemo()


def map_request(request: Any, project: str | None = None) -> MappedSpans:
    """Map every span of ``request`` (a :data:`~collector.otlp_view.TracesView`).

    With ``project``, it is stamped on every resource as ``agentflight.project``.
    """
    memo = _MEMO
    ts: list[int] = []
    trace_ids: list[str] = []
    span_ids: list[str] = []
    parents: list[str] = []
    states: list[str] = []
    names: list[str] = []
    kinds: list[str] = []
    services: list[str] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    durations: list[int] = []
    codes: list[str] = []
    messages: list[str] = []
    res_attrs, event_attrs, link_attrs = _Attrs(), _Attrs(), _Attrs()
    span_pairs: list[tuple[str, str]] = []
    span_offsets = [0]
    add_pairs = memo.pairs
    ev_offsets, ev_ts, ev_names = [0], [], []
    ln_offsets, ln_traces, ln_spans, ln_states = [0], [], [], []
    refused: Counter[str] = Counter()
    kind_names, status_names = _KIND_NAMES, _STATUS_NAMES
    n_kinds, n_status = len(kind_names), len(status_names)

    for resource_spans in request.resource_spans:
        r_keys, r_values, service = _resource_attributes(
            resource_spans.resource.attributes, project
        )
        r_count = len(r_keys)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_name, scope_version = scope.name, scope.version
            for span in scope_spans.spans:
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
                    refused["an invalid trace_id"] += 1
                    continue
                if len(span_id) != 8 or span_id == _ZERO_SPAN:
                    refused["an invalid span_id"] += 1
                    continue
                if parent and len(parent) != 8:
                    refused["an invalid parent_span_id"] += 1
                    continue
                if not 0 < start <= end <= _MAX_NS:
                    refused["invalid start/end timestamps"] += 1
                    continue
                events, links = span.events, span.links
                if events and any(not 0 <= e.time_unix_nano <= _MAX_NS for e in events):
                    refused["an invalid event timestamp"] += 1
                    continue
                if links and any(
                    len(link.trace_id) not in (0, 16) or len(link.span_id) not in (0, 8)
                    for link in links
                ):
                    refused["an invalid link id"] += 1
                    continue
                ts.append(start)
                durations.append(end - start)
                trace_ids.append(trace_id.hex())
                span_ids.append(span_id.hex())
                parents.append(_id_hex(parent, _ZERO_SPAN) if parent else "")
                states.append(span.trace_state)
                names.append(span.name)
                kind = span.kind
                kinds.append(kind_names[kind] if 0 <= kind < n_kinds else "")
                services.append(service)
                scope_names.append(scope_name)
                scope_versions.append(scope_version)
                res_attrs.keys.extend(r_keys)
                res_attrs.values.extend(r_values)
                res_attrs.offsets.append(res_attrs.offsets[-1] + r_count)
                span_offsets.append(span_offsets[-1] + add_pairs(span.attributes, span_pairs))
                status = span.status
                code = status.code
                codes.append(status_names[code] if 0 <= code < n_status else "")
                messages.append(status.message)
                for event in events:
                    ev_ts.append(event.time_unix_nano)
                    ev_names.append(event.name)
                    event_attrs.add(event.attributes)
                ev_offsets.append(len(ev_ts))
                for link in links:
                    ln_traces.append(_id_hex(link.trace_id, _ZERO_TRACE))
                    ln_spans.append(_id_hex(link.span_id, _ZERO_SPAN))
                    ln_states.append(link.trace_state)
                    link_attrs.add(link.attributes)
                ln_offsets.append(len(ln_traces))

    string = pa.string()
    table = pa.Table.from_arrays(
        [
            pa.array(ts, _TS),
            pa.array(trace_ids, string),
            pa.array(span_ids, string),
            pa.array(parents, string),
            pa.array(states, string),
            pa.array(names, string),
            pa.array(kinds, string),
            pa.array(services, string),
            res_attrs.array(),
            pa.array(scope_names, string),
            pa.array(scope_versions, string),
            _map_array(span_offsets, *memo.split(span_pairs)),
            pa.array(durations, pa.uint64()),
            pa.array(codes, string),
            pa.array(messages, string),
            _list(ev_offsets, pa.array(ev_ts, _TS)),
            _list(ev_offsets, pa.array(ev_names, string)),
            _list(ev_offsets, event_attrs.array()),
            _list(ln_offsets, pa.array(ln_traces, string)),
            _list(ln_offsets, pa.array(ln_spans, string)),
            _list(ln_offsets, pa.array(ln_states, string)),
            _list(ln_offsets, link_attrs.array()),
        ],
        schema=OTEL_TRACES_SCHEMA,
    )
    rejected = sum(refused.values())
    message = ""
    if rejected:
        reasons = ", ".join(f"{count} with {reason}" for reason, count in refused.most_common())
        message = (
            f"rejected {rejected} span(s): {reasons}. Trace ids must be 16 bytes and span ids "
            "8 bytes, not all zero (32 and 16 hex digits in OTLP/JSON); start and end times "
            "must be set, in nanoseconds since the epoch, with end >= start."
        )
    return MappedSpans(table, rejected, message)
