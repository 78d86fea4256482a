"""One Locust user's HTTP connection: geventhttpclient, kept alive, read line by line.

geventhttpclient is the client behind Locust's ``FastHttpUser``; used directly, a streamed
body can be read as it arrives without Locust's own per-request event, and the clock is
read right after each line is parsed. Locust-side only (imports gevent).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPException
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.client import HTTPSocketPoolResponse

__all__ = ["TRANSPORT_ERRORS", "HttpStream", "TimeoutReached"]

TRANSPORT_ERRORS = (OSError, HTTPException)
"""Socket errors and geventhttpclient's parse errors (``HTTPParseError`` is an
``http.client.HTTPException``)."""


class TimeoutReached(Exception):
    """The whole request outlived its deadline."""


class HttpStream:
    """A keep-alive connection to ``base_url``; paths are relative to its path."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._client: HTTPClient | None = None

    def _connect(self) -> HTTPClient:
        if self._client is None:
            self._client = HTTPClient.from_url(
                self._origin,
                concurrency=1,
                connection_timeout=self.timeout,
                network_timeout=self.timeout,
                insecure=True,
            )
        return self._client

    @contextmanager
    def deadline(self) -> Iterator[None]:
        """Raise :class:`TimeoutReached` in the block once ``timeout`` seconds have passed."""
        with gevent.Timeout(self.timeout, TimeoutReached):
            yield

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> HTTPSocketPoolResponse:
        return self._connect().request("POST", self._prefix + path, body=body, headers=headers)

    def reset(self) -> None:
        """Drop the connection (after a timeout or a broken stream it is not reusable)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    close = reset
