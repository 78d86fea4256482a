"""Errors raised by the collector package, each with a message meant for the user."""

from __future__ import annotations

__all__ = ["AgentflightStorageError", "EmbeddedServerError", "StorageUnavailableError"]


class AgentflightStorageError(Exception):
    """Base class of the storage errors; the message names the problem and the fix."""


class EmbeddedServerError(AgentflightStorageError):
    """The embedded ClickHouse server could not be started or stopped."""


class StorageUnavailableError(AgentflightStorageError):
    """No ClickHouse server is configured or reachable."""
