"""Times people type for a window: durations back from now, unix seconds, ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["parse_time"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIX = re.compile(r"^\d{9,11}(?:\.\d+)?$")


def parse_time(text: str, *, now: datetime | None = None, what: str = "time") -> datetime:
    """``"90m"``/``"24h"``/``"7d"`` (that long before now), ``"now"``, unix seconds
    (``1767225600``) or an ISO 8601 time (UTC when it has no offset). Raises ValueError."""
    value = text.strip()
    ref = now or datetime.now(UTC)
    if value.lower() == "now":
        return ref
    match = _DURATION.match(value)
    if match is not None:
        return ref - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    if _UNIX.match(value):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{what} {text!r} is not a duration (90m, 24h, 7d), unix seconds or an ISO time"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
