"""The gate's options, as typed on the command line, and their validation.

:class:`GateOptions` travels as JSON from the command to the Locust worker process; both
call :meth:`GateOptions.validate`, so the worker never sees input the command rejected.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest._slo import Objective, parse_slo
from loadtest._stages import Stage, parse_stages
from loadtest._trace import ArrivalSchedule, read_trace
from loadtest._units import InputError, parse_duration_s

__all__ = ["DEFAULT_SLO", "DEFAULT_STAGES", "GateOptions", "GatePlan"]

DEFAULT_STAGES = "10:60,25:60,50:60,100:60"
DEFAULT_SLO = "ttft_p95<800ms,tbt_p99<80ms,error_rate<1%,timeout_rate<0.5%"
MAX_TRACE_USERS = 1000


@dataclass(frozen=True)
class GatePlan:
    """Validated, parsed options."""

    options: GateOptions
    objectives: list[Objective]
    timeout_s: float
    stages: list[Stage]
    schedule: ArrivalSchedule | None
    trace_users: int

    @property
    def planned_stages(self) -> int:
        if self.schedule is None:
            return len(self.stages)
        return len({arrival.stage for arrival in self.schedule})


@dataclass(frozen=True)
class GateOptions:
    """Everything ``agentflight loadtest`` takes."""

    target: str
    model: str
    shape: str = "ramp"
    stages: str = DEFAULT_STAGES
    trace_csv: str | None = None
    time_scale: float = 1.0
    trace_window: str = "10s"
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

    def validate(self) -> GatePlan:
        """Parse and check every option; raises :class:`InputError` with a one-line reason."""
        parts = urlsplit(self.target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(
                f"--target {self.target!r} is not an http(s) base URL like http://127.0.0.1:8000/v1"
            )
        if not self.model.strip():
            raise InputError("--model is empty")
        if self.shape not in ("ramp", "trace"):
            raise InputError(f"--shape must be ramp or trace, got {self.shape!r}")
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
        if self.shape == "ramp":
            return GatePlan(self, objectives, timeout_s, parse_stages(self.stages), None, 0)
        if not self.trace_csv:
            raise InputError("--shape trace needs --trace-csv FILE")
        if not math.isfinite(self.time_scale) or self.time_scale <= 0:
            raise InputError(f"--time-scale must be a positive number, got {self.time_scale!r}")
        window_s = parse_duration_s(self.trace_window, what="--trace-window")
        if window_s < 1:
            raise InputError("--trace-window must be at least 1s")
        schedule = ArrivalSchedule(read_trace(self.trace_csv), self.time_scale, window_s)
        users = self.trace_users
        if users is None:
            users = min(MAX_TRACE_USERS, schedule.peak_arrivals(timeout_s) + 1)
        if users < 1:
            raise InputError("--trace-users must be at least 1")
        return GatePlan(self, objectives, timeout_s, [], schedule, users)
