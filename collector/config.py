"""The collector's settings: one frozen object, every environment variable a constant here.

Precedence is argument > environment > default. A bad explicit argument raises
``ValueError``; a bad environment value raises ``ValueError`` naming the variable.
Where the data goes (``AGENTFLIGHT_CLICKHOUSE_URL``, ``AGENTFLIGHT_DATABASE``) is read by
:mod:`collector.settings`, as for every other command.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from collector import settings as storage_settings
from collector.mapping import TimeWindow

__all__ = [
    "API_KEYS_ENV",
    "API_KEYS_FILE_ENV",
    "BATCH_INTERVAL_MS_ENV",
    "BATCH_ROWS_ENV",
    "DECODE_PROCESSES_ENV",
    "INSERT_CONCURRENCY_ENV",
    "MAX_BODY_BYTES_ENV",
    "MAX_SPAN_AGE_DAYS_ENV",
    "MAX_SPAN_FUTURE_S_ENV",
    "QUEUE_MAX_BYTES_ENV",
    "QUEUE_MAX_ROWS_ENV",
    "READ_MAX_ROWS_ENV",
    "READ_TIMEOUT_S_ENV",
    "SERVER_SIDE_MAPPING_ENV",
    "SHUTDOWN_TIMEOUT_S_ENV",
    "SPOOL_DIR_ENV",
    "SPOOL_MAX_BYTES_ENV",
    "CollectorSettings",
    "is_loopback",
    "parse_api_keys",
]

API_KEYS_ENV = "AGENTFLIGHT_API_KEYS"  # "key1=projectA,key2=projectB"
API_KEYS_FILE_ENV = "AGENTFLIGHT_API_KEYS_FILE"  # one "key=project" per line, # comments
BATCH_ROWS_ENV = "AGENTFLIGHT_BATCH_ROWS"
BATCH_INTERVAL_MS_ENV = "AGENTFLIGHT_BATCH_INTERVAL_MS"
QUEUE_MAX_ROWS_ENV = "AGENTFLIGHT_QUEUE_MAX_ROWS"
QUEUE_MAX_BYTES_ENV = "AGENTFLIGHT_QUEUE_MAX_BYTES"
MAX_BODY_BYTES_ENV = "AGENTFLIGHT_MAX_BODY_BYTES"
SPOOL_DIR_ENV = "AGENTFLIGHT_SPOOL_DIR"
SPOOL_MAX_BYTES_ENV = "AGENTFLIGHT_SPOOL_MAX_BYTES"
DECODE_PROCESSES_ENV = "AGENTFLIGHT_DECODE_PROCESSES"
INSERT_CONCURRENCY_ENV = "AGENTFLIGHT_INSERT_CONCURRENCY"
SERVER_SIDE_MAPPING_ENV = "AGENTFLIGHT_SERVER_SIDE_MAPPING"  # 1: ClickHouse maps what it can
SHUTDOWN_TIMEOUT_S_ENV = "AGENTFLIGHT_SHUTDOWN_TIMEOUT_S"
MAX_SPAN_AGE_DAYS_ENV = "AGENTFLIGHT_MAX_SPAN_AGE_DAYS"
MAX_SPAN_FUTURE_S_ENV = "AGENTFLIGHT_MAX_SPAN_FUTURE_S"
READ_MAX_ROWS_ENV = "AGENTFLIGHT_READ_MAX_ROWS"
READ_TIMEOUT_S_ENV = "AGENTFLIGHT_READ_TIMEOUT_S"
DEFAULT_MAX_SPAN_AGE_DAYS = 365.0  # when no retention is set

MIB = 1024 * 1024
T = TypeVar("T")


def _default_spool_dir() -> Path:
    return Path.home() / ".agentflight" / "spool"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_api_keys(text: str, source: str) -> dict[str, str]:
    """``key=project`` pairs separated by commas or new lines (``#`` starts a comment)."""
    keys: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0]
        for item in line.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, project = (part.strip() for part in item.partition("="))
            if not sep or not key or not project:
                raise ValueError(f"{source}: {item!r} is not of the form key=project")
            if key in keys and keys[key] != project:
                raise ValueError(f"{source}: key {key[:4]}... is given two projects")
            keys[key] = project
    return keys


def _env(name: str, convert: Callable[[str], T], check: Callable[[T], bool], hint: str) -> T | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = convert(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not valid: expected {hint}") from None
    if not check(value):
        raise ValueError(f"{name}={raw!r} is not valid: expected {hint}")
    return value


def _pick(
    arg: T | None,
    name: str,
    convert: Callable[[str], T],
    check: Callable[[T], bool],
    hint: str,
    default: T,
) -> T:
    if arg is not None:
        if not check(arg):
            raise ValueError(
                f"{name.removeprefix('AGENTFLIGHT_').lower()}={arg!r}: expected {hint}"
            )
        return arg
    from_env = _env(name, convert, check, hint)
    return default if from_env is None else from_env


def _positive(value: int | float) -> bool:
    return value > 0


def _non_negative(value: int | float) -> bool:
    return value >= 0


@dataclass(frozen=True)
class CollectorSettings:
    """Everything the collector needs to know, resolved once at start-up."""

    host: str = "127.0.0.1"
    port: int = 4318
    batch_rows: int = 10_000  # N: insert when this many rows are waiting...
    batch_interval_ms: int = 500  # T: ...or when the oldest has waited this long
    queue_max_rows: int = 200_000  # in-memory queue bound, rows
    queue_max_bytes: int = 256 * MIB  # in-memory queue bound, Arrow bytes
    max_body_bytes: int = 16 * MIB  # per request, received and after decompression
    spool_dir: Path = field(default_factory=_default_spool_dir)
    spool_max_bytes: int = 1024 * MIB  # disk bound of the spool
    decode_processes: int = 0  # 0: decode in threads of the collector process
    insert_concurrency: int = 2  # batches inserted side by side (checkpointed in order)
    server_side_mapping: int = 1  # 1: ClickHouse maps the requests it can (server_mapping.py)
    shutdown_timeout_s: float = 30.0  # how long SIGTERM waits for the queue to drain
    max_span_age_days: float = DEFAULT_MAX_SPAN_AGE_DAYS  # older spans are refused...
    max_span_future_s: float = 86_400.0  # ...and so are spans this far ahead of our clock
    read_max_rows: int = 200_000_000  # one read API query reads at most this many rows...
    read_timeout_s: float = 30.0  # ...for at most this long
    api_keys: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @classmethod
    def resolve(cls, **arguments: Any) -> CollectorSettings:
        """Settings from ``arguments`` (None means unset), else the environment, else defaults."""
        unknown = set(arguments) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown collector settings: {', '.join(sorted(unknown))}")
        defaults = cls()
        port = arguments.get("port")
        if port is not None and not 0 <= port <= 65535:
            raise ValueError(f"port={port!r}: expected 0-65535")
        spool = arguments.get("spool_dir")
        if spool is None:
            spool = os.environ.get(SPOOL_DIR_ENV, "").strip() or defaults.spool_dir
        retention = storage_settings.retention_days()
        fallback = {"max_span_age_days": float(retention or DEFAULT_MAX_SPAN_AGE_DAYS)}
        numbers = {
            name: _pick(
                arguments.get(name),
                env,
                convert,
                check,
                hint,
                fallback.get(name, getattr(defaults, name)),
            )
            for name, (env, convert, check, hint) in _NUMBERS.items()
        }
        return cls(
            host=arguments.get("host") or defaults.host,
            port=defaults.port if port is None else port,
            spool_dir=Path(spool).expanduser(),
            api_keys=MappingProxyType(_api_keys(arguments.get("api_keys"))),
            **numbers,
        )

    def time_window(self, now_ns: int) -> TimeWindow:
        """The span times accepted by a request received at ``now_ns``."""
        return TimeWindow.around(now_ns, self.max_span_age_days, self.max_span_future_s)

    @property
    def auth_required(self) -> bool:
        return bool(self.api_keys)

    def check_exposure(self) -> None:
        """Refuse to accept unauthenticated writes anywhere but on a loopback address."""
        if not self.api_keys and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without API keys: anyone who can reach it "
                f"could write spans. Set {API_KEYS_ENV}=key=project[,key=project...] or "
                f"{API_KEYS_FILE_ENV}, or listen on 127.0.0.1."
            )


_ROWS, _BYTES = "a positive number of rows", "a positive number of bytes"
_NUMBERS: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], bool], str]] = {
    "batch_rows": (BATCH_ROWS_ENV, int, _positive, _ROWS),
    "batch_interval_ms": (BATCH_INTERVAL_MS_ENV, int, _positive, "a positive number of ms"),
    "queue_max_rows": (QUEUE_MAX_ROWS_ENV, int, _positive, _ROWS),
    "queue_max_bytes": (QUEUE_MAX_BYTES_ENV, int, _positive, _BYTES),
    "max_body_bytes": (MAX_BODY_BYTES_ENV, int, _positive, _BYTES),
    "spool_max_bytes": (SPOOL_MAX_BYTES_ENV, int, _positive, _BYTES),
    "decode_processes": (DECODE_PROCESSES_ENV, int, _non_negative, "0 or a number of processes"),
    "insert_concurrency": (INSERT_CONCURRENCY_ENV, int, _positive, "a positive number"),
    "server_side_mapping": (SERVER_SIDE_MAPPING_ENV, int, lambda v: v in (0, 1), "0 or 1"),
    "shutdown_timeout_s": (SHUTDOWN_TIMEOUT_S_ENV, float, _non_negative, "a number of seconds"),
    "max_span_age_days": (MAX_SPAN_AGE_DAYS_ENV, float, _positive, "a positive number of days"),
    "max_span_future_s": (MAX_SPAN_FUTURE_S_ENV, float, _positive, "a positive number of seconds"),
    "read_max_rows": (READ_MAX_ROWS_ENV, int, _positive, _ROWS),
    "read_timeout_s": (READ_TIMEOUT_S_ENV, float, _positive, "a positive number of seconds"),
}


def _api_keys(argument: Mapping[str, str] | None) -> dict[str, str]:
    if argument is not None:
        keys = dict(argument)
        for key, project in keys.items():
            if not key or not project:
                raise ValueError("api_keys: keys and projects must be non-empty strings")
        return keys
    inline = os.environ.get(API_KEYS_ENV, "")
    keys = parse_api_keys(inline, API_KEYS_ENV) if inline.strip() else {}
    path = os.environ.get(API_KEYS_FILE_ENV, "").strip()
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{API_KEYS_FILE_ENV}={path!r} cannot be read: {exc}") from None
        for key, project in parse_api_keys(text, API_KEYS_FILE_ENV).items():
            if keys.get(key, project) != project:
                raise ValueError(f"key {key[:4]}... has different projects in the two settings")
            keys[key] = project
    return keys
