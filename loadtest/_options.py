"""The gate's options, as typed on the command line, and their validation.

:class:`GateOptions` travels as JSON from the command to the Locust worker process; both
call :meth:`GateOptions.validate`, so the worker never sees input the command rejected.
Recorded traffic is read from the database by the command (:mod:`loadtest._recorded`) and
handed to :meth:`GateOptions.validate` as rows.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest._search import DEFAULT_MAX, SearchSpec, parse_tolerance
from loadtest._slo import Objective, parse_slo
from loadtest._stages import Stage, parse_stages
from loadtest._trace import ArrivalSchedule, TraceRow, multiply, read_trace
from loadtest._units import InputError, parse_duration_s, parse_rate
from loadtest._window import RecordedSelection, parse_window

__all__ = ["DEFAULT_SLO", "DEFAULT_STAGES", "GateOptions", "GatePlan"]

DEFAULT_STAGES = "10:60,25:60,50:60,100:60"
DEFAULT_SLO = "ttft_p95<800ms,tbt_p99<80ms,error_rate<1%,timeout_rate<0.5%"
MAX_TRACE_USERS = 1000
SHAPES = ("ramp", "trace", "recorded")
MESSAGES = ("synthetic", "recorded")


@dataclass(frozen=True)
class GatePlan:
    """Validated, parsed options."""

    options: GateOptions
    objectives: list[Objective]
    timeout_s: float
    stages: list[Stage]
    schedule: ArrivalSchedule | None
    trace_users: int
    search: SearchSpec | None = None

    @property
    def planned_stages(self) -> int:
        if self.search is not None:
            return 0  # as many levels as the search needs
        if self.schedule is None:
            return len(self.stages)
        return len({arrival.stage for arrival in self.schedule})


@dataclass(frozen=True)
class GateOptions:
    """Everything ``agentflight loadtest`` takes."""

    target: str
    model: str | None = None
    shape: str = "ramp"
    stages: str | None = None
    """Ramp: ``USERS:SECONDS,...`` (default :data:`DEFAULT_STAGES`); recorded: cut points."""
    trace_csv: str | None = None
    time_scale: float = 1.0
    trace_window: str = "10s"
    since: str | None = None
    until: str | None = None
    service: str | None = None
    agent: str | None = None
    multiplier: float = 1.0
    messages: str = "synthetic"
    search: str | None = None
    attainment: str | None = None
    max_level: float | None = None
    tolerance: str | None = None
    search_from: float = 1.0
    level_duration: str = "30s"
    slo: str = DEFAULT_SLO
    timeout: str = "30s"
    prompt_tokens: int = 256
    max_tokens: int | None = None
    ignore_eos: bool = True
    trace_users: int | None = None
    json_out: str | None = None
    html_out: str | None = None
    csv_out: str | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateOptions:
        return cls(**data)

    def settings(self) -> dict[str, Any]:
        """The options of the run, for its report (everything but the run id)."""
        data = self.to_json()
        del data["run_id"]
        return data

    def recorded_selection(self) -> RecordedSelection | None:
        """For ``--shape recorded``: which calls to read; ``None`` for other shapes."""
        if self.shape != "recorded":
            return None
        since, until = parse_window(self.since, self.until)
        return RecordedSelection(
            since, until, self.service or "", self.agent or "", self.model or ""
        )

    def _check_common(self) -> tuple[list[Objective], float]:
        parts = urlsplit(self.target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(
                f"--target {self.target!r} is not an http(s) base URL like http://127.0.0.1:8000/v1"
            )
        if self.shape not in SHAPES:
            raise InputError(f"--shape must be ramp, trace or recorded, got {self.shape!r}")
        if self.model is not None and not self.model.strip():
            raise InputError("--model is empty")
        if self.model is None and self.shape != "recorded":
            raise InputError(f"--shape {self.shape} needs --model NAME")
        objectives = parse_slo(self.slo)
        timeout_s = parse_duration_s(self.timeout, what="--timeout")
        if timeout_s <= 0:
            raise InputError("--timeout must be positive")
        if self.prompt_tokens < 1:
            raise InputError("--prompt-tokens must be at least 1")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise InputError("--max-tokens must be at least 1")
        outputs = (
            ("--json-out", self.json_out),
            ("--html-out", self.html_out),
            ("--csv-out", self.csv_out),
        )
        for flag, path in outputs:
            if path is not None and not Path(path).resolve().parent.is_dir():
                raise InputError(f"{flag} {path}: directory {Path(path).parent} does not exist")
        recorded_only = {
            "--since": self.since,
            "--until": self.until,
            "--service": self.service,
            "--agent": self.agent,
        }
        for flag, value in recorded_only.items():
            if value is not None and self.shape != "recorded":
                raise InputError(f"{flag} is for --shape recorded only")
        if self.messages not in MESSAGES:
            raise InputError(f"--messages must be synthetic or recorded, got {self.messages!r}")
        if self.messages == "recorded" and self.shape != "recorded":
            raise InputError("--messages recorded is for --shape recorded only")
        if not math.isfinite(self.multiplier) or self.multiplier <= 0:
            raise InputError(f"--multiplier must be a positive number, got {self.multiplier!r}")
        if self.multiplier != 1 and self.shape == "ramp":
            raise InputError("--multiplier is for --shape trace or recorded")
        return objectives, timeout_s

    def _search_spec(self) -> SearchSpec | None:
        if self.search is None:
            for flag, value in (("--attainment", self.attainment), ("--tolerance", self.tolerance)):
                if value is not None:
                    raise InputError(f"{flag} is for --search only")
            return None
        if self.shape != "ramp":
            raise InputError("--search measures levels of its own: leave --shape at ramp")
        if self.stages is not None:
            raise InputError("--search measures levels of its own: drop --stages")
        attainment = None
        if self.attainment is not None:
            attainment = parse_rate(self.attainment, what="--attainment")
            if not 0 < attainment < 1:
                raise InputError("--attainment must be above 0% and below 100%")
        tolerance, relative = parse_tolerance(self.tolerance, self.search)
        return SearchSpec(
            metric=self.search,
            start=self.search_from,
            maximum=self.max_level
            if self.max_level is not None
            else max(DEFAULT_MAX, self.search_from),
            tolerance=tolerance,
            relative=relative,
            level_s=parse_duration_s(self.level_duration, what="--level-duration"),
            attainment=attainment,
        )

    def check(self) -> None:
        """Check the flags without reading a trace or the database."""
        self._check_common()
        self._search_spec()
        self.recorded_selection()
        if self.shape == "recorded" and self.stages is not None:
            _cut_points(self.stages)

    def validate(self, recorded: Sequence[TraceRow] | None = None) -> GatePlan:
        """Parse and check every option; raises :class:`InputError` with a one-line reason.

        ``--shape recorded`` needs the recorded calls as ``recorded`` (read by the command).
        """
        objectives, timeout_s = self._check_common()
        search = self._search_spec()
        if self.shape == "ramp":
            stages = parse_stages(self.stages or DEFAULT_STAGES) if search is None else []
            return GatePlan(self, objectives, timeout_s, stages, None, 0, search)
        if not math.isfinite(self.time_scale) or self.time_scale <= 0:
            raise InputError(f"--time-scale must be a positive number, got {self.time_scale!r}")
        window_s = parse_duration_s(self.trace_window, what="--trace-window")
        if window_s < 1:
            raise InputError("--trace-window must be at least 1s")
        cuts: list[float] | None = None
        if self.shape == "trace":
            if not self.trace_csv:
                raise InputError("--shape trace needs --trace-csv FILE")
            if self.stages is not None:
                raise InputError("--stages is for --shape ramp or recorded")
            rows = read_trace(self.trace_csv)
        else:
            self.recorded_selection()  # checks --since/--until
            if self.stages is not None:
                cuts = _cut_points(self.stages)
            if recorded is None:
                raise InputError("--shape recorded: the recorded calls were not read")
            rows = list(recorded)
        schedule = ArrivalSchedule(multiply(rows, self.multiplier), self.time_scale, window_s, cuts)
        users = self.trace_users
        if users is None:
            users = min(MAX_TRACE_USERS, schedule.peak_arrivals(timeout_s) + 1)
        if users < 1:
            raise InputError("--trace-users must be at least 1")
        return GatePlan(self, objectives, timeout_s, [], schedule, users)


def _cut_points(text: str) -> list[float]:
    """``--stages 6h,12h`` for a recording: offsets into the recorded window, increasing."""
    cuts = [
        parse_duration_s(part, what=f"--stages cut point {part.strip()!r}")
        for part in text.split(",")
    ]
    if any(b <= a for a, b in itertools.pairwise(cuts)) or cuts[0] <= 0:
        raise InputError(
            f"--stages {text!r}: cut points into the recording must be positive and increasing "
            "(e.g. 6h,12h,18h)"
        )
    return cuts
