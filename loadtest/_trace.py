"""Arrival processes to replay: request traces in the Azure LLM inference format
(``TIMESTAMP,ContextTokens,GeneratedTokens``), or recorded traffic (:mod:`loadtest._recorded`).

``TIMESTAMP`` is a date-time (``2023-11-16 18:17:03.9799600``) or a number of seconds. Rows
become arrivals relative to the first one, divided by ``time_scale`` (60 replays a minute of
trace per second), each with its prompt and output token counts. :func:`multiply` makes an
arrival process ``m`` times as dense; :class:`ArrivalSchedule` cuts the replay into stages.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from loadtest._units import InputError

__all__ = [
    "TRACE_COLUMNS",
    "Arrival",
    "ArrivalSchedule",
    "TraceRow",
    "example_trace_path",
    "multiply",
    "read_trace",
]

TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(slots=True)
class TraceRow:
    """One request to replay. Not frozen only because frozen dataclasses are four times
    slower to build, and a day of recorded traffic is half a million rows: do not mutate."""

    offset_s: float
    """Seconds since the trace's first request (unscaled)."""
    prompt_tokens: int
    output_tokens: int
    """Sent as ``max_tokens`` (with ``ignore_eos``); 0 leaves the length to the model."""
    model: str | None = None
    """The model the recorded call asked for (``None``: the gate's ``--model``)."""
    stream: bool = True
    messages: list[dict[str, Any]] | None = None
    """The recorded messages, sent instead of a synthetic prompt."""
    span_id: str | None = None
    """The recorded call's span."""

    def to_json(self) -> dict[str, Any]:
        return {
            "offset_s": self.offset_s,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "model": self.model,
            "stream": self.stream,
            "messages": self.messages,
            "span_id": self.span_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceRow:
        return cls(**data)


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


def multiply(rows: Sequence[TraceRow], multiplier: float) -> list[TraceRow]:
    """``multiplier`` times as many arrivals, along the recording's own arrival curve.

    The recorded arrivals are laid on their cumulative curve (the k-th at count k, linear in
    between), and requests go out where that curve times ``multiplier`` crosses a whole
    number: 2 adds one request halfway between every two recorded ones, 0.5 keeps every
    other one. Each request repeats the recorded call at or before it. There are
    ``floor((n - 1) * multiplier) + 1`` of them and no random draws.
    """
    if not math.isfinite(multiplier) or multiplier <= 0:
        raise InputError(f"--multiplier must be a positive number, got {multiplier!r}")
    n = len(rows)
    if multiplier == 1 or n < 2:
        return list(rows)
    count = math.floor((n - 1) * multiplier + 1e-9) + 1
    out = []
    last = n - 1
    for k in range(count):
        position = k / multiplier
        index = min(int(position + 1e-9), last)
        fraction = position - index
        row = rows[index]
        offset = row.offset_s
        if index < last and fraction > 1e-9:
            offset += fraction * (rows[index + 1].offset_s - offset)
        out.append(
            TraceRow(
                offset,
                row.prompt_tokens,
                row.output_tokens,
                row.model,
                row.stream,
                row.messages,
                row.span_id,
            )
        )
    return out


@dataclass(slots=True)
class Arrival:
    """One request of a replay: when it is due and in which stage (do not mutate)."""

    index: int
    due_s: float
    """Seconds after the start of the replay."""
    stage: int
    prompt_tokens: int
    output_tokens: int
    model: str | None = None
    stream: bool = True
    messages: list[dict[str, Any]] | None = None


class ArrivalSchedule:
    """The replay: scaled arrival times, cut into stages, handed out in order.

    Stages are windows of ``window_s`` seconds of the replay (wall clock), or, with
    ``cuts_s``, the spans between those offsets of the recording (unscaled seconds).
    """

    def __init__(
        self,
        rows: Sequence[TraceRow],
        time_scale: float,
        window_s: float,
        cuts_s: Sequence[float] | None = None,
    ) -> None:
        if time_scale <= 0 or not math.isfinite(time_scale):
            raise InputError(f"--time-scale must be a positive number, got {time_scale!r}")
        if window_s <= 0:
            raise InputError("the trace window must be positive")
        if not rows:
            raise InputError("there are no requests to replay")
        self.window_s = window_s
        end = rows[-1].offset_s / time_scale
        if cuts_s:
            starts = [0.0, *(cut / time_scale for cut in cuts_s if 0 < cut / time_scale <= end)]
            self._starts = starts
            self._ends = [*starts[1:], end]
        else:
            self._starts = [k * window_s for k in range(int(end // window_s) + 1)]
            self._ends = [start + window_s for start in self._starts]
        self.arrivals = []
        stage, starts = 0, self._starts
        for i, row in enumerate(rows):  # in time order: the stage only moves forward
            due = row.offset_s / time_scale
            while stage + 1 < len(starts) and due >= starts[stage + 1]:
                stage += 1
            self.arrivals.append(
                Arrival(i, due, stage, row.prompt_tokens, row.output_tokens, row.model)
            )
            self.arrivals[-1].stream, self.arrivals[-1].messages = row.stream, row.messages
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

    def stage_at(self, elapsed_s: float) -> int:
        """The stage running ``elapsed_s`` seconds into the replay."""
        return max(bisect.bisect_right(self._starts, elapsed_s) - 1, 0)

    def stage_start(self, stage: int) -> float:
        return self._starts[stage]

    def stage_end(self, stage: int) -> float:
        """The end of a stage; the last one ends at its last arrival (or window)."""
        return self._ends[stage]

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
