"""Request traces in the Azure LLM inference format: ``TIMESTAMP,ContextTokens,GeneratedTokens``.

``TIMESTAMP`` is a date-time (``2023-11-16 18:17:03.9799600``) or a number of seconds. Rows
become arrivals relative to the first one, divided by ``time_scale`` (60 replays a minute of
trace per second), each with its prompt and output token counts.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from loadtest._units import InputError

__all__ = [
    "TRACE_COLUMNS",
    "Arrival",
    "ArrivalSchedule",
    "TraceRow",
    "example_trace_path",
    "read_trace",
]

TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True, slots=True)
class TraceRow:
    offset_s: float
    """Seconds since the trace's first request (unscaled)."""
    prompt_tokens: int
    output_tokens: int


def example_trace_path() -> Path:
    """The small example trace shipped with agentflight."""
    return Path(str(resources.files("loadtest") / "data" / "example_trace.csv"))


def _timestamp(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.strip()).timestamp()


def read_trace(path: str | Path) -> list[TraceRow]:
    """Read and validate a trace CSV; raises :class:`InputError` with the first problem."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read trace {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if tuple(header) != TRACE_COLUMNS:
            raise InputError(
                f"trace {path} has columns {','.join(header) or '(none)'}; "
                f"expected {','.join(TRACE_COLUMNS)}"
            )
        stamps: list[tuple[float, int, int]] = []
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 3:
                raise InputError(f"trace {path} line {line}: expected 3 values, got {len(row)}")
            try:
                stamp = _timestamp(row[0])
                prompt, output = int(row[1]), int(row[2])
            except ValueError:
                raise InputError(
                    f"trace {path} line {line}: {','.join(row)!r} is not TIMESTAMP,INT,INT"
                ) from None
            if prompt < 0 or output < 1 or not math.isfinite(stamp):
                raise InputError(
                    f"trace {path} line {line}: ContextTokens must be >= 0 and GeneratedTokens >= 1"
                )
            stamps.append((stamp, prompt, output))
    if not stamps:
        raise InputError(f"trace {path} has no requests")
    stamps.sort(key=lambda item: item[0])
    first = stamps[0][0]
    return [TraceRow(stamp - first, prompt, output) for stamp, prompt, output in stamps]


@dataclass(frozen=True, slots=True)
class Arrival:
    index: int
    due_s: float
    """Seconds after the start of the replay."""
    stage: int
    prompt_tokens: int
    output_tokens: int


class ArrivalSchedule:
    """The replay: scaled arrival times, cut into stage windows, handed out in order."""

    def __init__(self, rows: Sequence[TraceRow], time_scale: float, window_s: float) -> None:
        if time_scale <= 0 or not math.isfinite(time_scale):
            raise InputError(f"--time-scale must be a positive number, got {time_scale!r}")
        if window_s <= 0:
            raise InputError("the trace window must be positive")
        self.window_s = window_s
        self.arrivals = [
            Arrival(
                index=i,
                due_s=row.offset_s / time_scale,
                stage=int(row.offset_s / time_scale // window_s),
                prompt_tokens=row.prompt_tokens,
                output_tokens=row.output_tokens,
            )
            for i, row in enumerate(rows)
        ]
        self._next = 0

    def __len__(self) -> int:
        return len(self.arrivals)

    def __iter__(self) -> Iterator[Arrival]:
        return iter(self.arrivals)

    @property
    def duration_s(self) -> float:
        return self.arrivals[-1].due_s

    @property
    def stage_count(self) -> int:
        return self.arrivals[-1].stage + 1

    def claim(self) -> Arrival | None:
        """The next arrival nobody has taken yet (greenlets share one thread: no lock)."""
        if self._next >= len(self.arrivals):
            return None
        arrival = self.arrivals[self._next]
        self._next += 1
        return arrival

    @property
    def next_stage(self) -> int | None:
        """The stage of the next unclaimed arrival, ``None`` once all are claimed."""
        if self._next >= len(self.arrivals):
            return None
        return self.arrivals[self._next].stage

    @property
    def remaining(self) -> int:
        return len(self.arrivals) - self._next

    def peak_arrivals(self, horizon_s: float) -> int:
        """Most arrivals within any ``horizon_s`` window: a bound on requests in flight when
        none lasts longer than ``horizon_s``."""
        peak, start = 0, 0
        for end, arrival in enumerate(self.arrivals):
            while arrival.due_s - self.arrivals[start].due_s > horizon_s:
                start += 1
            peak = max(peak, end - start + 1)
        return peak
