"""Which recorded calls to replay: ``--since``/``--until`` and the filters of ``--shape
recorded`` (parsed without touching the database)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loadtest._units import InputError, parse_duration_s

__all__ = ["RecordedSelection", "parse_window"]

_RELATIVE = re.compile(r"^\s*(\d+(\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h|d)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class RecordedSelection:
    """Which recorded calls to replay: a window and optional filters."""

    since: datetime
    until: datetime
    service: str = ""
    agent: str = ""
    model: str = ""

    def params(self) -> dict[str, Any]:
        return {
            "since_ns": _ns(self.since),
            "until_ns": _ns(self.until),
            "service": self.service,
            "agent": self.agent,
            "model": self.model,
        }

    def describe(self) -> str:
        where = f"between {self.since:%Y-%m-%d %H:%M:%S} and {self.until:%Y-%m-%d %H:%M:%S} UTC"
        filters = [
            f"{name} {value!r}"
            for name, value in (
                ("service", self.service),
                ("agent", self.agent),
                ("model", self.model),
            )
            if value
        ]
        return where + (" for " + ", ".join(filters) if filters else "")


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def _moment(text: str, flag: str, now: datetime) -> datetime:
    """``24h`` (that long before now) or a date-time (UTC unless it says otherwise)."""
    if _RELATIVE.match(text):
        return now - timedelta(seconds=parse_duration_s(text, what=flag))
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{flag} {text!r} is neither a duration (24h, 90m, 7d) nor a date-time "
            "(2025-01-31 08:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_window(
    since: str | None, until: str | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``--since``/``--until`` as aware UTC date-times; ``until`` defaults to now."""
    now = now or datetime.now(UTC)
    if not since:
        raise InputError("--shape recorded needs --since (e.g. --since 24h)")
    start = _moment(since, "--since", now)
    end = _moment(until, "--until", now) if until else now
    if start >= end:
        raise InputError(f"--since {since!r} is not before --until {until or 'now'!r}")
    return start.astimezone(UTC), end.astimezone(UTC)
