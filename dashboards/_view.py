"""What a page shows: the shared filters and the time range, read from and written to the URL.

The URL's query string is the only state of a view, so a view can be linked:
``?project=&service=&model=&agent=&loadtest_run=`` select spans (as :class:`analytics.Filters`)
and ``range=`` is a preset (``15m``, ``1h``, ``6h``, ``24h``, ``7d``, ``30d``, before now) or
``custom`` with ``since=`` and ``until=`` (durations before now, unix seconds or ISO 8601, as
``agentflight report`` takes them). Keys a page adds for itself (``status`` on ``/traces``)
are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import analytics

__all__ = [
    "DEFAULT_RANGE",
    "FILTER_KEYS",
    "RANGES",
    "VIEW_KEYS",
    "View",
    "page_url",
    "parse_search",
]

RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom",
}
DEFAULT_RANGE = "1h"
FILTER_KEYS = ("project", "service", "model", "agent", "loadtest_run")
"""The span filters every page shares, in the order of the filter bar."""
VIEW_KEYS = (*FILTER_KEYS, "range", "since", "until")
_MAX_VALUE = 256  # longer values are cut: names, not documents


@dataclass(frozen=True, slots=True)
class View:
    """The shared filters and time range of a page; empty strings mean "no filter"."""

    project: str = ""
    service: str = ""
    model: str = ""
    agent: str = ""
    loadtest_run: str = ""
    range: str = DEFAULT_RANGE
    since: str = ""
    until: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> View:
        """A view from URL parameters; unknown keys are ignored and bad presets fall back."""
        values: dict[str, str] = {}
        for key in VIEW_KEYS:
            raw = query.get(key)
            if isinstance(raw, list | tuple):
                raw = raw[0] if raw else None
            values[key] = str(raw).strip()[:_MAX_VALUE] if raw is not None else ""
        if values["range"] not in RANGES and values["range"] != "custom":
            values["range"] = DEFAULT_RANGE
        if values["range"] != "custom":
            values["since"] = values["until"] = ""
        return cls(**values)

    def scoped(self, project: str | None) -> View:
        """This view confined to ``project`` (the caller's API key decides it)."""
        return self if project is None else replace(self, project=project)

    def filters(self) -> analytics.Filters:
        return analytics.Filters(
            project=self.project or None,
            service=self.service or None,
            model=self.model or None,
            agent=self.agent or None,
            loadtest_run=self.loadtest_run or None,
        )

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """``(since, until)`` of the range; ValueError naming a bad custom time."""
        ref = now or datetime.now(UTC)
        if self.range != "custom":
            return ref - RANGES[self.range], ref
        since = analytics.parse_time(self.since or "1h", now=ref, what="since")
        until = analytics.parse_time(self.until or "now", now=ref, what="until")
        if since >= until:
            raise ValueError(
                f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
            )
        return since, until

    def describe(self) -> str:
        """The range and the filters that are set, in words, for empty states."""
        window = RANGE_LABELS[self.range].lower()
        if self.range == "custom":
            window = f"from {self.since or '1h'} to {self.until or 'now'}"
        chosen = [f"{key}={getattr(self, key)}" for key in FILTER_KEYS if getattr(self, key)]
        return window + (f" for {', '.join(chosen)}" if chosen else "")

    def query(self) -> dict[str, str]:
        """The URL parameters of this view (defaults left out)."""
        out = {key: getattr(self, key) for key in FILTER_KEYS if getattr(self, key)}
        if self.range != DEFAULT_RANGE:
            out["range"] = self.range
        if self.range == "custom":
            out.update({k: v for k, v in (("since", self.since), ("until", self.until)) if v})
        return out

    def search(self, extra: Mapping[str, str] | None = None) -> str:
        """The query string (``"?..."``, or ``""``), with a page's own keys after."""
        params = self.query() | {k: v for k, v in (extra or {}).items() if v}
        return "?" + urlencode(params) if params else ""

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def page_url(path: str, view: View, **extra: str) -> str:
    """``path`` with the view's query string and a page's own keys (``run=``, ``trace=``)."""
    return path + view.search({k: v for k, v in extra.items() if v})


def parse_search(search: str | None) -> dict[str, str]:
    """A query string (with or without its ``?``) as a dict; the last value of a key wins."""
    return dict(parse_qsl((search or "").lstrip("?"), keep_blank_values=False))
