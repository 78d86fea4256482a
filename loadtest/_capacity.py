"""The simulator's capacity model: how a serving engine's latency responds to load.

A request waits for one of ``max_batch`` batch slots (FIFO), prefills its prompt, then
decodes one token per step. Hidden reasoning tokens are decoded first; the first visible
token follows them. The time of a decode step grows linearly with the number of sequences
in the batch::

    prefill_ms = prefill_base_ms + prefill_ms_per_token * prompt_tokens
    tbt_ms     = tbt_base_ms + tbt_slope_ms * active          (active <= max_batch)
    ttft_ms    = queue_ms + prefill_ms + reasoning_tokens * tbt_ms
    e2e_ms     = queue_ms + prefill_ms + (reasoning_tokens + output_tokens - 1) * tbt_ms

:func:`predict` gives the steady state of a closed loop of ``concurrency`` clients that send
their next request as soon as the previous one ends, which is what a Locust ramp stage is.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Capacity", "Prediction", "predict"]


@dataclass(frozen=True, slots=True)
class Capacity:
    """Capacity parameters of one simulated model deployment."""

    max_batch: int = 16
    """B: at most this many sequences are in the batch; later requests queue (FIFO)."""
    prefill_base_ms: float = 20.0
    prefill_ms_per_token: float = 0.02
    tbt_base_ms: float = 15.0
    tbt_slope_ms: float = 0.5
    """Each sequence in the batch adds this much to every decode step."""
    reasoning_tokens: int = 0
    """Hidden reasoning tokens decoded before visible content (``reasoning_effort=medium``)."""
    output_tokens: int = 128
    """Median visible output length when a request does not force one."""
    output_tokens_sigma: float = 0.0
    """Log-normal sigma of the output length; 0 makes every answer ``output_tokens`` long."""
    output_tokens_max: int = 4096
    error_rate: float = 0.0
    """Probability that a request fails at once with HTTP 500 or 503."""
    stall_rate: float = 0.0
    """Probability that a stream pauses once, for ``stall_ms``, at a random token."""
    stall_ms: float = 2000.0
    drop_rate: float = 0.0
    """Probability that the server drops the connection at a random token."""
    server_timeout_s: float = 0.0
    """Requests not finished this long after arrival fail with a timeout; 0 disables it."""

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.output_tokens < 1 or self.output_tokens_max < 1:
            raise ValueError("output_tokens and output_tokens_max must be at least 1")
        for name in ("reasoning_tokens",):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in (
            "prefill_base_ms",
            "prefill_ms_per_token",
            "tbt_base_ms",
            "tbt_slope_ms",
            "output_tokens_sigma",
            "stall_ms",
            "server_timeout_s",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("error_rate", "stall_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, base: Capacity | None = None) -> Capacity:
        """``base`` (or the defaults) with ``values`` laid over it; unknown keys raise."""
        known = cls.field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown capacity parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        merged = {name: getattr(base or cls(), name) for name in known}
        for name, value in values.items():
            kind = type(merged[name])
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"capacity parameter {name} must be a number, got {value!r}")
            if kind is int and value != int(value):
                raise ValueError(f"capacity parameter {name} must be an integer, got {value!r}")
            merged[name] = kind(value)
        return cls(**merged)

    def prefill_ms(self, prompt_tokens: int) -> float:
        return self.prefill_base_ms + self.prefill_ms_per_token * prompt_tokens

    def tbt_ms(self, active: int) -> float:
        """Duration of one decode step with ``active`` sequences in the batch."""
        return self.tbt_base_ms + self.tbt_slope_ms * min(max(active, 1), self.max_batch)

    def sample_output_tokens(self, rng: random.Random) -> int:
        """A visible output length drawn from the configured distribution."""
        if self.output_tokens_sigma == 0.0:
            drawn = self.output_tokens
        else:
            drawn = round(
                rng.lognormvariate(math.log(self.output_tokens), self.output_tokens_sigma)
            )
        return max(1, min(drawn, self.output_tokens_max))


@dataclass(frozen=True, slots=True)
class Prediction:
    """Steady-state latencies the model predicts for one closed-loop concurrency."""

    concurrency: int
    active: int
    queue_ms: float
    ttft_ms: float
    tbt_ms: float
    e2e_ms: float
    requests_per_s: float


def predict(
    capacity: Capacity,
    concurrency: int,
    *,
    prompt_tokens: int,
    output_tokens: int,
) -> Prediction:
    """What ``concurrency`` clients sending back-to-back requests will see.

    With more clients than slots, each slot serves requests of duration
    ``S = prefill + (reasoning + output - 1) * tbt`` back to back, so a client's cycle lasts
    ``concurrency * S / max_batch`` and its request waits ``S * (concurrency / B - 1)``.
    Client overhead (HTTP, parsing) is ignored: measured figures sit slightly above these.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    active = min(concurrency, capacity.max_batch)
    tbt = capacity.tbt_ms(active)
    prefill = capacity.prefill_ms(prompt_tokens)
    steps = capacity.reasoning_tokens + max(output_tokens, 1) - 1
    service = prefill + steps * tbt
    queue = service * (concurrency / capacity.max_batch - 1.0) if concurrency > active else 0.0
    return Prediction(
        concurrency=concurrency,
        active=active,
        queue_ms=queue,
        ttft_ms=queue + prefill + capacity.reasoning_tokens * tbt,
        tbt_ms=tbt,
        e2e_ms=queue + service,
        requests_per_s=1000.0 * active / service if service > 0 else math.inf,
    )
