"""Ramp stages: ``--stages 10:60,25:60,50:60`` is 10 users for 60 s, then 25, then 50."""

from __future__ import annotations

from dataclasses import dataclass

from loadtest._units import InputError, parse_duration_s

__all__ = ["MIN_STAGE_SECONDS", "Stage", "parse_stages"]

MIN_STAGE_SECONDS = 1.0
"""Locust applies a load shape once a second; shorter stages would be skipped."""


@dataclass(frozen=True, slots=True)
class Stage:
    users: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.users}:{self.seconds:g}"


def parse_stages(text: str) -> list[Stage]:
    """Parse ``USERS:SECONDS[,USERS:SECONDS...]``; SECONDS may carry a unit (``90s``, ``2m``)."""
    if not text or not text.strip():
        raise InputError("--stages is empty; expected USERS:SECONDS,... such as 10:60,25:60")
    stages: list[Stage] = []
    for part in text.split(","):
        item = part.strip()
        users_text, sep, seconds_text = item.partition(":")
        if not sep or not users_text.strip() or not seconds_text.strip():
            raise InputError(
                f"--stages entry {item!r} is not USERS:SECONDS (for example 10:60,25:60)"
            )
        try:
            users = int(users_text)
        except ValueError:
            raise InputError(
                f"--stages entry {item!r}: users {users_text!r} is not a whole number"
            ) from None
        if users < 1:
            raise InputError(f"--stages entry {item!r}: users must be at least 1")
        seconds = parse_duration_s(seconds_text, what=f"--stages entry {item!r}: duration")
        if seconds < MIN_STAGE_SECONDS:
            raise InputError(
                f"--stages entry {item!r}: a stage must last at least {MIN_STAGE_SECONDS:g} s"
            )
        stages.append(Stage(users=users, seconds=seconds))
    return stages
