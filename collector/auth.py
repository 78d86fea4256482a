"""API keys: which project a request writes to, or reads from.

Keys come from ``AGENTFLIGHT_API_KEYS`` / ``AGENTFLIGHT_API_KEYS_FILE`` (see
:mod:`collector.config`) and are sent as ``Authorization: Bearer KEY`` or ``x-api-key: KEY``.
With no keys configured every request is let through with no project (the collector then
only listens on loopback).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

__all__ = ["AuthError", "Authenticator"]


class AuthError(Exception):
    """A missing or unknown API key (HTTP 401)."""


class Authenticator:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(key.encode(), project) for key, project in keys.items()]

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def project(self, headers: Mapping[str, str]) -> str | None:
        """The project of the key in ``headers``; None when no keys are configured."""
        if not self._keys:
            return None
        key = headers.get("x-api-key", "").strip()
        if not key:
            scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() == "bearer":
                key = credentials.strip()
        if not key:
            raise AuthError(
                "missing API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'"
            )
        candidate = key.encode("utf-8", "surrogateescape")
        found = None
        for known, project in self._keys:  # compare with every key, in constant time
            if hmac.compare_digest(known, candidate):
                found = project
        if found is None:
            raise AuthError("invalid API key")
        return found
