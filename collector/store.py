"""The storage client: the one place agentflight talks to ClickHouse (clickhouse-connect).

Queries are parameterised with ClickHouse's server-side binding, ``{name:Type}``; user
values never go into SQL text. ``{db:Identifier}`` is always bound to the configured
database, so callers write ``SELECT ... FROM {db:Identifier}.genai_spans``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from collector import settings
from collector.errors import AgentflightStorageError, StorageUnavailableError
from collector.schema import OTEL_TRACES_COLUMNS, migrate

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from clickhouse_connect.driver.client import Client
    from clickhouse_connect.driver.query import QueryResult

__all__ = ["READ_LIMITS", "Store", "read_limits"]

# Retried inserts carrying the same token are stored once, in the views as well.
_DEDUP_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


# Every read a user can trigger carries limits, so that one request cannot scan the whole
# table or run for ever; exceeding them is an error naming the limit, not a partial answer.
def read_limits(max_rows: int = 200_000_000, timeout_s: float = 30.0) -> dict[str, Any]:
    """ClickHouse settings that bound one read: rows read and seconds spent."""
    return {
        "max_execution_time": timeout_s,
        "timeout_overflow_mode": "throw",
        "max_rows_to_read": max_rows,
        "read_overflow_mode": "throw",
    }


READ_LIMITS: dict[str, Any] = read_limits()
# A trace list summarises each selected trace from its spans up to this far either side of
# the window (a trace that runs longer is summarised from that part).
TRACE_MARGIN = "INTERVAL 1 DAY"

# One trace's spans, found through the exporter's trace-id -> time lookup table, bounded on
# both sides; an unknown id reads nothing. Start and End are whole seconds, so the upper bound
# compares whole seconds too (the table's key has toDateTime(Timestamp)). Comparing the
# DateTime64 column itself with a DateTime subquery result gives wrong answers in ClickHouse
# 26.9: the regression test is test_collector_http's official-exporter test.
_ONE_TRACE = """
FROM {db:Identifier}.otel_traces
WHERE TraceId = {trace_id:String}
  AND Timestamp >= (SELECT min(Start) FROM {db:Identifier}.otel_traces_trace_id_ts
                    WHERE TraceId = {trace_id:String})
  AND toDateTime(Timestamp) <= (SELECT max(End) FROM {db:Identifier}.otel_traces_trace_id_ts
                                WHERE TraceId = {trace_id:String})
  AND ({project:String} = ''
       OR if(ResourceAttributes['agentflight.project'] = '', 'default',
             ResourceAttributes['agentflight.project']) = {project:String})
ORDER BY Timestamp, SpanId
"""

_TRACE_SQL = (
    """
SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
       ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
       StatusMessage, Events.Timestamp, Events.Name, Events.Attributes,
       Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes"""
    + _ONE_TRACE
)

_TRACE_DETAIL_SQL = (
    """
SELECT toUnixTimestamp64Nano(Timestamp) AS start_ns, SpanId, ParentSpanId, TraceState, SpanName,
       SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes,
       Duration, StatusCode, StatusMessage,
       arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS event_ns, Events.Name,
       Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes,
       if(ResourceAttributes['agentflight.project'] = '', 'default',
          ResourceAttributes['agentflight.project']) AS project"""
    + _ONE_TRACE
)

# One row per trace with a span in [since, until): the window selects traces, and each is
# summarised from all of its spans (within TRACE_MARGIN of the window), so a trace crossing
# the window's edge keeps its root, start, duration and totals. Filters match any span.
_TRACE_LIST_SQL = (
    """
WITH
    fromUnixTimestamp64Nano({since_ns:Int64}) AS since,
    fromUnixTimestamp64Nano({until_ns:Int64}) AS until
SELECT trace_id,
       toUnixTimestamp64Nano(min(timestamp)) AS start_ns,
       max(toUnixTimestamp64Nano(timestamp) + toInt64(duration_ms * 1e6)) AS end_ns,
       count() AS spans,
       argMinIf(span_name, timestamp, parent_span_id = '') AS root_span,
       arraySort(groupUniqArray(service_name)) AS services,
       multiIf(countIf(status_code = 'Error') > 0, 'Error',
               countIf(status_code = 'Ok') > 0, 'Ok', 'Unset') AS status,
       arraySort(arrayFilter(x -> x != '', groupUniqArray(request_model))) AS models,
       arraySort(arrayFilter(x -> x != '', groupUniqArray(agent_name))) AS agents,
       sum(input_tokens) AS total_input_tokens,
       sum(output_tokens) AS total_output_tokens,
       any(project) AS trace_project
FROM {db:Identifier}.genai_spans
WHERE timestamp >= since - """
    + TRACE_MARGIN
    + """ AND timestamp < until + """
    + TRACE_MARGIN
    + """
  AND ({project:String} = '' OR project = {project:String})
  AND trace_id IN (
      SELECT DISTINCT trace_id FROM {db:Identifier}.genai_spans
      WHERE timestamp >= since AND timestamp < until
        AND ({project:String} = '' OR project = {project:String}))
GROUP BY trace_id
HAVING ({service:String} = '' OR has(services, {service:String}))
   AND ({model:String} = ''
        OR countIf(request_model = {model:String} OR response_model = {model:String}) > 0)
   AND ({agent:String} = '' OR has(agents, {agent:String}))
   AND ({status:String} = '' OR status = {status:String})
ORDER BY start_ns DESC
LIMIT {limit:UInt32}
"""
)

# One trace's captured content (genai_content, migration 0006), one row per span.
_TRACE_CONTENT_SQL = """
SELECT span_id, toUnixTimestamp64Nano(timestamp) AS start_ns, project, input, output,
       input_messages, output_messages, system_instructions, tool_definitions, display_input,
       display_output, truncated, attributes
FROM {db:Identifier}.genai_content FINAL
WHERE trace_id = {trace_id:String}
  AND ({span_id:String} = '' OR span_id = {span_id:String})
  AND ({project:String} = '' OR project = {project:String})
ORDER BY timestamp, span_id
"""


class Store:
    """A connection to agentflight's ClickHouse database."""

    def __init__(self, client: Client, database: str, url: str = "") -> None:
        self._client = client
        self._database = settings.database_name(database)
        self._url = url

    @classmethod
    def connect(
        cls,
        url: str | None = None,
        *,
        database: str | None = None,
        apply_migrations: bool = True,
        retention_days: int | None = None,
        data_dir: Path | None = None,
        timeout_s: float | None = None,
    ) -> Store:
        """Connect to ``url`` (else ``$AGENTFLIGHT_CLICKHOUSE_URL``, else the embedded server).

        With ``apply_migrations`` the schema is brought up to date first. ``timeout_s`` bounds
        every request, and connecting (at most 10 s); clickhouse-connect's defaults are 300 s
        and 10 s.
        """
        dsn = settings.resolve_clickhouse_url(url, data_dir)
        database = settings.database_name(database)
        timeouts: dict[str, Any] = {}
        if timeout_s is not None:
            timeouts = {"connect_timeout": min(timeout_s, 10), "send_receive_timeout": timeout_s}
        try:
            # No session: a session serialises queries, and the store is shared by threads.
            client = clickhouse_connect.get_client(
                dsn=dsn, autogenerate_session_id=False, **timeouts
            )
        except ClickHouseError as exc:
            if "There is no handle" in str(exc):  # the embedded server's answer without its secret
                raise StorageUnavailableError(
                    f"ClickHouse at {_redact(dsn)} refused the request: it needs credentials. "
                    "For the embedded server use the URL `agentflight db url` prints, or leave "
                    f"{settings.CLICKHOUSE_URL_ENV} unset."
                ) from exc
            raise StorageUnavailableError(
                f"cannot reach ClickHouse at {_redact(dsn)}: {exc}"
            ) from exc
        store = cls(client, database, dsn)
        if apply_migrations:
            store.migrate(retention_days)
        return store

    @property
    def database(self) -> str:
        return self._database

    @property
    def url(self) -> str:
        """The server's URL (with credentials, if it has any)."""
        return self._url

    @property
    def client(self) -> Client:
        return self._client

    def migrate(self, retention_days: int | None = None) -> list[str]:
        """Apply pending migrations and the retention TTL; return the names applied."""
        days = settings.retention_days(retention_days)
        try:
            applied = migrate(self._client, self._database, days)
        except ClickHouseError as exc:
            raise AgentflightStorageError(
                f"migrating database {self._database!r} failed: {exc}"
            ) from exc
        return [f"{m.version:04d}_{m.name}" for m in applied]

    def ping(self) -> bool:
        """True when the server answers."""
        return bool(self._client.ping())

    def insert_spans(
        self,
        columns: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
        column_oriented: bool = True,
    ) -> int:
        """Insert ``otel_traces`` rows in :data:`OTEL_TRACES_COLUMNS` order; return the row count.

        ``columns`` is column-oriented by default (one sequence per column), the fastest form
        for clickhouse-connect; pass ``column_oriented=False`` for a list of rows. Inserts
        carrying the same ``dedup_token`` are stored once.
        """
        rows = (len(columns[0]) if columns else 0) if column_oriented else len(columns)
        if rows == 0:
            return 0
        insert_settings: dict[str, Any] = dict(_DEDUP_SETTINGS)
        if dedup_token:
            insert_settings["insert_deduplication_token"] = dedup_token
        self._client.insert(
            "otel_traces",
            columns,
            column_names=list(OTEL_TRACES_COLUMNS),
            database=self._database,
            column_oriented=column_oriented,
            settings=insert_settings,
        )
        return rows

    def insert_arrow(
        self,
        table: pa.Table,
        *,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> int:
        """Insert an Arrow table of ``otel_traces`` rows (columns named as in the table).

        ClickHouse reads the Arrow stream itself, so nothing is converted row by row in
        Python: the fastest insert for spans mapped in bulk. Inserts carrying the same
        ``dedup_token`` are stored once.
        """
        if table.num_rows == 0:
            return 0
        insert_settings: dict[str, Any] = {**_DEDUP_SETTINGS, **(settings or {})}
        if dedup_token:
            insert_settings["insert_deduplication_token"] = dedup_token
        self._client.insert_arrow(
            "otel_traces", table, database=self._database, settings=insert_settings
        )
        return int(table.num_rows)

    @functools.cached_property
    def maps_protobuf(self) -> bool:
        """True when the server maps OTLP requests itself (:mod:`collector.server_mapping`):
        it has the format settings, and ``otlp_ingest`` and its view (without the view, rows
        inserted into the ``Null`` table would vanish)."""
        found = self.query(
            "SELECT (SELECT count() FROM system.settings WHERE name IN "
            "('format_schema_source', 'input_format_protobuf_oneof_presence')) = 2 AND "
            "(SELECT count() FROM system.tables WHERE database = {db:String} "
            "AND name IN ('otlp_ingest', 'otlp_ingest_mv')) = 2"
        ).result_rows
        return bool(found[0][0])

    def insert_protobuf(
        self,
        messages: bytes,
        *,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert length-delimited ``Envelope`` messages for ClickHouse to map into
        ``otel_traces`` (see :mod:`collector.server_mapping`)."""
        from collector.server_mapping import FORMAT_SETTINGS

        insert_settings: dict[str, Any] = {**_DEDUP_SETTINGS, **FORMAT_SETTINGS, **(settings or {})}
        if dedup_token:
            insert_settings["insert_deduplication_token"] = dedup_token
        self._client.raw_insert(
            f"{self._database}.otlp_ingest",
            insert_block=messages,
            settings=insert_settings,
            fmt="Protobuf",
        )

    def query(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> QueryResult:
        """Run a parameterised query (``{name:Type}`` placeholders, bound server-side).

        ``settings`` are ClickHouse settings for this query, e.g. :data:`READ_LIMITS`.
        """
        return self._client.query(
            sql, parameters=self._params(parameters), settings=dict(settings or {})
        )

    def query_arrow(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> pa.Table:
        return self._client.query_arrow(
            sql, parameters=self._params(parameters), settings=dict(settings or {})
        )

    def query_polars(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> pl.DataFrame:
        import polars as pl

        frame = pl.from_arrow(self.query_arrow(sql, parameters, settings))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        return self._client.command(sql, parameters=self._params(parameters))

    def trace_spans(
        self,
        trace_id: str,
        project: str | None = None,
        limits: Mapping[str, Any] = READ_LIMITS,
    ) -> list[dict[str, Any]]:
        """Every stored span of one trace, oldest first, as ``otel_traces`` column dicts.

        With ``project``, only spans of that project are returned (None or ``""``: every
        project, as in every method here).
        """
        params = {"trace_id": trace_id, "project": project or ""}
        result = self.query(_TRACE_SQL, params, limits)
        return [dict(zip(OTEL_TRACES_COLUMNS, row, strict=True)) for row in result.result_rows]

    def trace_detail(
        self,
        trace_id: str,
        project: str | None = None,
        limits: Mapping[str, Any] = READ_LIMITS,
    ) -> list[dict[str, Any]]:
        """The spans of one trace with nanosecond times (``start_ns``, ``event_ns``).

        Like :meth:`trace_spans`, scoped to ``project`` when one is given.
        """
        params = {"trace_id": trace_id, "project": project or ""}
        result = self.query(_TRACE_DETAIL_SQL, params, limits)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def trace_content(
        self, trace_id: str, project: str | None = None, *, span_id: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """The captured content of one trace's spans, by span id (only spans that have any).

        Read from ``genai_content`` (keyed by trace id, then span id), never from the
        ``SpanAttributes`` maps; with ``span_id``, that one span's content.
        """
        params = {"trace_id": trace_id, "span_id": span_id or "", "project": project or ""}
        result = self.query(_TRACE_CONTENT_SQL, params)
        names = result.column_names
        rows = (dict(zip(names, row, strict=True)) for row in result.result_rows)
        return {row["span_id"]: row for row in rows}

    def list_traces(
        self,
        *,
        since_ns: int,
        until_ns: int,
        project: str | None = None,
        service: str | None = None,
        status: str | None = None,
        model: str | None = None,
        agent: str | None = None,
        limit: int = 50,
        limits: Mapping[str, Any] = READ_LIMITS,
    ) -> list[dict[str, Any]]:
        """Traces with a span in ``[since_ns, until_ns)``, newest first, one summary each.

        Each summary describes the whole trace (its spans within a day of the window), not
        only its spans inside the window. ``service``, ``model`` (request or response model)
        and ``agent`` match any span of the trace; ``status`` (``Ok``/``Error``/``Unset``) is
        the trace's worst status. ``project`` None or ``""`` means every project.
        """
        params = {
            "since_ns": since_ns,
            "until_ns": until_ns,
            "project": project or "",
            "service": service or "",
            "status": status or "",
            "model": model or "",
            "agent": agent or "",
            "limit": limit,
        }
        result = self.query(_TRACE_LIST_SQL, params, limits)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _params(self, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
        params = {"db": self._database}
        if parameters:
            params.update(parameters)
        return params


def _redact(dsn: str) -> str:
    """The URL without its password, for error messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn
