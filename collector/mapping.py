"""OTLP spans to ``otel_traces`` rows, the way the contrib ClickHouse exporter maps them.

One row per span, in :data:`~collector.schema.OTEL_TRACES_COLUMNS` order: ids in lower-case
hex (all-zero ids as ``""``), ``SpanKind`` and ``StatusCode`` by pdata's names (``Server``,
``Client``, ``Internal``...; ``Unset``, ``Ok``, ``Error``), ``Duration`` in nanoseconds,
``ServiceName`` from the resource's ``service.name``, every attribute stringified by
:func:`~collector.anyvalue.any_value_str`, events and links as nested columns.

The rows are built straight into column lists and handed to Arrow, which the insert sends to
ClickHouse as is: the per-span loop is the collector's hot path, so it touches each protobuf
field once and does nothing else. Spans that cannot be stored (bad ids or timestamps, or
times outside the accepted window: see :class:`TimeWindow`) are left out and counted, for the
``partial_success`` of the response.
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

    from collector.server_mapping import Envelope

__all__ = [
    "OTEL_TRACES_SCHEMA",
    "PROJECT_ATTRIBUTE",
    "MappedSpans",
    "TimeWindow",
    "is_out_of_window",
    "map_request",
    "refusal",
    "refusal_message",
]

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

_KIND_NAMES = dict(
    enumerate(("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"))
)
_STATUS_NAMES = dict(enumerate(("Unset", "Ok", "Error")))
_MAX_NS = 2**63 - 1  # DateTime64(9) and Arrow timestamps are signed 64-bit nanoseconds
_PAST, _FUTURE = "a start time more than", "a start or end time more than"
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


@dataclass(frozen=True)
class TimeWindow:
    """The span times the collector accepts, in nanoseconds since the epoch.

    A span must start at or after ``earliest_ns`` and start and end at or before
    ``latest_ns``: a span from decades ago or years ahead is a clock or encoding bug, and
    spread over many days it would make every insert touch more partitions than ClickHouse
    allows. ``max_age_days``/``max_future_s`` are the collector's settings.
    """

    earliest_ns: int
    latest_ns: int
    max_age_days: float = 0.0
    max_future_s: float = 0.0

    @classmethod
    def around(cls, now_ns: int, max_age_days: float, max_future_s: float) -> TimeWindow:
        earliest = max(1, now_ns - int(max_age_days * 86_400 * 1e9))
        latest = min(_MAX_NS, now_ns + int(max_future_s * 1e9))
        return cls(earliest, latest, max_age_days, max_future_s)


@dataclass(frozen=True)
class MappedSpans:
    """The rows of one request, and what was refused.

    ``data`` is an Arrow table of ``otel_traces`` rows, or an
    :class:`~collector.server_mapping.Envelope` that ClickHouse maps into the same rows.
    """

    data: pa.Table | Envelope
    rejected: int = 0
    error_message: str = ""
    out_of_window: int = 0  # of ``rejected``: refused only for their times

    @property
    def rows(self) -> int:
        data = self.data
        return int(data.num_rows) if isinstance(data, pa.Table) else data.rows

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def table(self) -> pa.Table:
        """The Arrow rows (mapped in Python now when ClickHouse was to map them)."""
        data = self.data
        return data if isinstance(data, pa.Table) else data.table()


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


def refusal(span: Any, window: TimeWindow | None) -> str | None:
    """Why ``span`` cannot be stored, or None when it can."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "an invalid trace_id"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "an invalid span_id"
    if parent and len(parent) != 8:
        return "an invalid parent_span_id"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not 0 < start <= end <= _MAX_NS:
        return "invalid start/end timestamps"
    if window is not None and start < window.earliest_ns:
        return f"{_PAST} {window.max_age_days:g} days in the past"
    if window is not None and end > window.latest_ns:
        return f"{_FUTURE} {window.max_future_s:g} s in the future"
    if any(not 0 <= e.time_unix_nano <= _MAX_NS for e in span.events):
        return "an invalid event timestamp"
    for link in span.links:
        if len(link.trace_id) not in (0, 16) or len(link.span_id) not in (0, 8):
            return "an invalid link id"
    return None


def in_window(span: Any, window: TimeWindow) -> bool:
    """True when ``span``'s times are inside ``window`` (other checks aside)."""
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    return start >= window.earliest_ns and end <= window.latest_ns


def map_request(
    request: Any, project: str | None = None, window: TimeWindow | None = None
) -> MappedSpans:
    """Map every span of ``request`` (a :data:`~collector.otlp_view.TracesView`).

    With ``project``, it is stamped on every resource as ``agentflight.project``. With
    ``window``, spans outside it are refused (counted in the result, not stored).
    """
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
    res_keys: list[str] = []
    res_values: list[str] = []
    res_offsets = [0]
    span_pairs: list[tuple[str, str]] = []
    span_offsets = [0]
    event_attrs, link_attrs = _Attrs(), _Attrs()
    ev_offsets, ev_ts, ev_names = [0], [], []
    ln_offsets, ln_traces, ln_spans, ln_states = [0], [], [], []
    refused: Counter[str] = Counter()
    # The per-span loop: locals only, each protobuf field read once.
    memo_get, memo_fill = _MEMO.get, _MEMO.fill
    kind_of, status_of = _KIND_NAMES.get, _STATUS_NAMES.get
    ts_add, dur_add, tid_add, sid_add = (
        ts.append,
        durations.append,
        trace_ids.append,
        span_ids.append,
    )
    parent_add, state_add, name_add, kind_add = (
        parents.append,
        states.append,
        names.append,
        kinds.append,
    )
    code_add, message_add = codes.append, messages.append
    pairs_add, span_off_add = span_pairs.extend, span_offsets.append
    ev_off_add, ln_off_add = ev_offsets.append, ln_offsets.append
    zero_trace, zero_span = _ZERO_TRACE, _ZERO_SPAN
    min_ns, max_ns = (1, _MAX_NS) if window is None else (window.earliest_ns, window.latest_ns)

    for resource_spans in request.resource_spans:
        r_keys, r_values, service = _resource_attributes(
            resource_spans.resource.attributes, project
        )
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            kept = 0
            for span in scope_spans.spans:
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                events, links = span.events, span.links
                if not (
                    len(trace_id) == 16
                    and len(span_id) == 8
                    and (not parent or len(parent) == 8)
                    and trace_id != zero_trace
                    and span_id != zero_span
                    and min_ns <= start <= end <= max_ns
                    and not events
                    and not links
                ):
                    reason = refusal(span, window)
                    if reason is not None:
                        refused[reason] += 1
                        continue
                kept += 1
                ts_add(start)
                dur_add(end - start)
                tid_add(trace_id.hex())
                sid_add(span_id.hex())
                parent_add("" if not parent or parent == zero_span else parent.hex())
                state_add(span.trace_state)
                name_add(span.name)
                kind_add(kind_of(span.kind, ""))
                raws = span.attributes
                got: list[Any] = list(map(memo_get, raws))
                pairs_add(memo_fill(raws, got) if None in got else got)
                span_off_add(len(span_pairs))
                status = span.status
                code_add(status_of(status.code, ""))
                message_add(status.message)
                for event in events:
                    ev_ts.append(event.time_unix_nano)
                    ev_names.append(event.name)
                    event_attrs.add(event.attributes)
                ev_off_add(len(ev_ts))
                for link in links:
                    ln_traces.append(_id_hex(link.trace_id, zero_trace))
                    ln_spans.append(_id_hex(link.span_id, zero_span))
                    ln_states.append(link.trace_state)
                    link_attrs.add(link.attributes)
                ln_off_add(len(ln_traces))
            # What is the same for every span of the scope, added in bulk.
            services.extend([service] * kept)
            scope_names.extend([scope.name] * kept)
            scope_versions.extend([scope.version] * kept)
            res_keys.extend(r_keys * kept)
            res_values.extend(r_values * kept)
            last = res_offsets[-1]
            res_offsets.extend([last + len(r_keys) * (i + 1) for i in range(kept)])

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
            _map_array(res_offsets, res_keys, res_values),
            pa.array(scope_names, string),
            pa.array(scope_versions, string),
            _map_array(span_offsets, *_MEMO.split(span_pairs)),
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
    out_of_window = sum(n for reason, n in refused.items() if is_out_of_window(reason))
    return MappedSpans(table, rejected, refusal_message(refused, window), out_of_window)


def is_out_of_window(reason: str) -> bool:
    """True when a :func:`refusal` reason is about the span's times only."""
    return reason.startswith((_PAST, _FUTURE))


def refusal_message(refused: Counter[str], window: TimeWindow | None) -> str:
    """The ``partial_success`` message for spans refused for ``refused``'s reasons."""
    if not refused:
        return ""
    rejected = sum(refused.values())
    reasons = ", ".join(f"{count} with {reason}" for reason, count in refused.most_common())
    return (
        f"rejected {rejected} span(s): {reasons}. Trace ids must be 16 bytes and span ids "
        "8 bytes, not all zero (32 and 16 hex digits in OTLP/JSON); start and end times "
        "must be set, in nanoseconds since the epoch, with end >= start"
        + (
            ""
            if window is None
            else f", no more than {window.max_age_days:g} days old and no more than "
            f"{window.max_future_s:g} s ahead of the collector's clock"
        )
        + "."
    )
