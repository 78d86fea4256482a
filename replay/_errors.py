"""Errors of the replay package, each with a one-line message meant for the user."""

from __future__ import annotations

__all__ = ["RecordedSkillError", "ReplayDivergence", "ReplayError", "ReplayInputError"]


class ReplayError(Exception):
    """Base class of replay's errors."""


class ReplayInputError(ReplayError):
    """Bad input: an unknown trace, no content to replay, an entry point that cannot be
    imported, an unreachable target, a malformed flag. The CLI exits 2 with the message."""


class ReplayDivergence(BaseException):
    """Raised inside the agent when a skill call has no recorded match under ``--policy fail``.

    A ``BaseException``, like ``KeyboardInterrupt``: an agent's ``except Exception`` does not
    swallow it, so the divergence stops that trace's replay.
    """


class RecordedSkillError(Exception):
    """Stands in for the exception a recorded skill call raised, when its class cannot be
    found again (``error_type`` names it)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}" if message else error_type)
        self.error_type = error_type
        self.message = message
