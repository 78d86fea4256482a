"""The ClickHouse schema: versioned, idempotent migrations and the retention TTL.

Migrations are the numbered ``migrations/NNNN_name.sql`` files shipped with the package.
Every statement in them is idempotent (``IF NOT EXISTS``), and the versions applied are kept
in ``<db>.schema_migrations``, so running :func:`migrate` again, or from two processes at
once, is harmless.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

from collector.server_sql import SQL_MACROS

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = [
    "OTEL_TRACES_COLUMNS",
    "Migration",
    "apply_retention",
    "load_migrations",
    "migrate",
]

# Insert order of otel_traces, as the contrib exporter's INSERT statement lists them.
OTEL_TRACES_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)

# Tables with a retention TTL, and the time column it is measured on.
_TTL_COLUMNS = {
    "otel_traces": "toDateTime(Timestamp)",
    "otel_traces_trace_id_ts": "Start",
    "genai_spans": "toDateTime(timestamp)",
    "genai_minutes": "minute",
    "genai_content": "toDateTime(timestamp)",
}

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, database: str) -> list[str]:
        """The statements, with ``${db}`` bound to ``database`` and the macros of server_sql."""
        text = Template(self.sql).substitute(db=database, **SQL_MACROS)
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [stmt.strip() for stmt in body.split(";") if stmt.strip()]


def load_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("collector.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in collector/migrations: {versions}")
    return found


def migrate(client: Client, database: str, retention_days: int = 0) -> list[Migration]:
    """Bring ``database`` up to date; return the migrations applied by this call."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations ("
        " version UInt32, name String, checksum String,"
        " applied_at DateTime64(3) DEFAULT now64(3)"
        ") ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {
        row[0]
        for row in client.query(
            f"SELECT DISTINCT version FROM {database}.schema_migrations"
        ).result_rows
    }
    applied = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        for statement in migration.statements(database):
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        applied.append(migration)
    apply_retention(client, database, retention_days)
    return applied


def apply_retention(client: Client, database: str, days: int) -> None:
    """Set (``days > 0``) or remove (``days == 0``) the TTL of every span table."""
    if days < 0:
        raise ValueError(f"retention days must be >= 0, not {days}")
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
        parameters={"db": database},
    ).result_rows
    ddl_of: dict[str, str] = {str(name): str(ddl) for name, ddl in rows}
    for table, column in _TTL_COLUMNS.items():
        ddl = ddl_of.get(table)
        if ddl is None:
            continue
        if days > 0 and f"toIntervalDay({days})" not in ddl:
            client.command(
                f"ALTER TABLE {database}.{table} MODIFY TTL {column} + toIntervalDay({days})"
            )
        elif days == 0 and " TTL " in ddl:
            client.command(f"ALTER TABLE {database}.{table} REMOVE TTL")
