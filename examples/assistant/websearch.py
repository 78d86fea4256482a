"""A stand-in for an internal web-search API, served over HTTP on loopback.

It answers ``GET /search?q=...`` with a few made-up results. Like the real thing, it is
sometimes slow (a tail of a second or more) and sometimes fails (HTTP 503).
"""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

__all__ = ["WebSearchServer"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != "/search":
            self.send_error(404)
            return
        query = parse_qs(url.query).get("q", [""])[0]
        rng = self.server.rng
        with self.server.lock:
            slow, fail = rng.random(), rng.random()
            delay = rng.uniform(0.02, 0.12) + (rng.uniform(0.8, 1.6) if slow < 0.08 else 0.0)
        time.sleep(delay)
        if fail < self.server.failure_rate:
            self.send_error(503, "search backend unavailable")
            return
        words = query.split()[:3] or ["results"]
        results = [
            {"title": f"{' '.join(words).title()}: overview {i + 1}",
             "url": f"https://example.org/{'-'.join(words)}/{i + 1}",
             "snippet": f"What to know about {' '.join(words)} (result {i + 1})."}
            for i in range(3)
        ]  # fmt: skip
        body = json.dumps({"query": query, "results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    rng: random.Random
    lock: threading.Lock
    failure_rate: float


class WebSearchServer:
    """The search API on ``127.0.0.1:port`` (0: a free one) in a background thread."""

    def __init__(self, port: int = 0, failure_rate: float = 0.06, seed: int | None = None) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.rng = random.Random(seed)
        self._server.lock = threading.Lock()
        self._server.failure_rate = failure_rate
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="web-search", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> WebSearchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
