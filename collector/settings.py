"""Where the storage is: every environment variable the storage layer reads, in one place.

Precedence is argument > environment > default. With no URL configured, the embedded server
started by ``agentflight db start`` on the default data directory is used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from collector import embedded
from collector.errors import StorageUnavailableError

__all__ = [
    "CLICKHOUSE_URL_ENV",
    "DATABASE_ENV",
    "DEFAULT_DATABASE",
    "RETENTION_DAYS_ENV",
    "database_name",
    "resolve_clickhouse_url",
    "retention_days",
]

CLICKHOUSE_URL_ENV = "AGENTFLIGHT_CLICKHOUSE_URL"
DATABASE_ENV = "AGENTFLIGHT_DATABASE"
RETENTION_DAYS_ENV = "AGENTFLIGHT_RETENTION_DAYS"
DEFAULT_DATABASE = "agentflight"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def resolve_clickhouse_url(url: str | None = None, data_dir: Path | None = None) -> str:
    """The ClickHouse URL to use: ``url``, ``$AGENTFLIGHT_CLICKHOUSE_URL``, or the embedded one."""
    if url:
        return url
    env = os.environ.get(CLICKHOUSE_URL_ENV, "").strip()
    if env:
        return env
    info = embedded.status(data_dir)
    if info is not None:
        return info.dsn
    where = (data_dir or embedded.default_data_dir()).expanduser()
    raise StorageUnavailableError(
        f"no ClickHouse server: none is running on {where}. Start the embedded one with "
        f"`agentflight db start`, or set {CLICKHOUSE_URL_ENV} (e.g. http://user:pass@host:8123)."
    )


def database_name(name: str | None = None) -> str:
    """The database holding agentflight's tables (``agentflight`` unless configured)."""
    value = name or os.environ.get(DATABASE_ENV, "").strip() or DEFAULT_DATABASE
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"database name {value!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
        )
    return value


def retention_days(days: int | None = None) -> int:
    """Days of data to keep; 0 (the default) keeps everything."""
    if days is None:
        raw = os.environ.get(RETENTION_DAYS_ENV, "").strip()
        if not raw:
            return 0
        try:
            days = int(raw)
        except ValueError:
            raise ValueError(
                f"{RETENTION_DAYS_ENV}={raw!r} is not a whole number of days"
            ) from None
    if days < 0:
        raise ValueError(f"retention must be 0 (off) or a positive number of days, not {days}")
    return days
