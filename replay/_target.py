"""The replay target: one OpenAI-compatible endpoint, one HTTP connection pool.

Sync calls from every worker thread share one ``openai.OpenAI`` client (httpx's pool is
thread-safe). An ``httpx.AsyncClient`` belongs to one event loop, so async agents get one
``AsyncOpenAI`` client per worker thread's loop.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai

from ._errors import ReplayInputError

__all__ = ["Target", "check_reachable"]

_TIMEOUT = openai.Timeout(120.0, connect=10.0)
# The SDK's own HTTP client and limits types (httpx, or httpx2 in newer SDKs).
_Limits = type(openai.DEFAULT_CONNECTION_LIMITS)


def check_reachable(base_url: str) -> None:
    """Raise ``ReplayInputError`` unless something answers HTTP at ``base_url``."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReplayInputError(f"--base-url must be an http(s) URL, got {base_url!r}")
    try:
        httpx.get(base_url.rstrip("/") + "/models", timeout=10.0)
    except httpx.HTTPError as exc:
        raise ReplayInputError(
            f"cannot reach the target at {base_url}: {type(exc).__name__}: {exc}"
        ) from None


@dataclass
class Target:
    """Clients for the target endpoint, shared by every replay of a run."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    max_connections: int = 16
    max_retries: int = 1
    _sync: openai.OpenAI | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _async_clients: list[openai.AsyncOpenAI] = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        # The SDK insists on a key; OpenAI-compatible local servers ignore it.
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "unused"

    def _limits(self) -> Any:
        return _Limits(
            max_connections=self.max_connections, max_keepalive_connections=self.max_connections
        )

    @property
    def sync(self) -> openai.OpenAI:
        """The shared sync client (created on first use)."""
        with self._lock:
            if self._sync is None:
                self._sync = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self.key,
                    max_retries=self.max_retries,
                    http_client=openai.DefaultHttpxClient(limits=self._limits(), timeout=_TIMEOUT),
                )
            return self._sync

    @property
    def async_client(self) -> openai.AsyncOpenAI:
        """This thread's async client (its event loop's)."""
        client: openai.AsyncOpenAI | None = getattr(self._local, "client", None)
        if client is None:
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.key,
                max_retries=self.max_retries,
                http_client=openai.DefaultAsyncHttpxClient(limits=self._limits(), timeout=_TIMEOUT),
            )
            self._local.client = client
            with self._lock:
                self._async_clients.append(client)
        return client

    def resource(self, original: Any) -> Any:
        """The target's chat-completions resource of the same kind (sync/async) as ``original``."""
        is_async = type(original).__name__.startswith("Async")
        return (self.async_client if is_async else self.sync).chat.completions

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
