"""Client-side reading of an OpenAI SSE stream, with the timing definitions of the project.

TTFT runs from the start of the request to the first content-bearing chunk (text, refusal
or tool-call delta; the opening ``role`` chunk does not count). TBT is each gap between
consecutive content-bearing chunks. Pure code: the Locust user feeds it lines and clock
readings, tests feed it bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamMeter", "has_content"]


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return []
    return [choice for choice in choices if isinstance(choice, dict)]


def _count(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def has_content(chunk: dict[str, Any]) -> bool:
    for choice in _choices(chunk):
        delta = choice.get("delta")
        if isinstance(delta, dict) and (
            delta.get("content") or delta.get("tool_calls") or delta.get("refusal")
        ):
            return True
    return False


@dataclass
class StreamMeter:
    """Accumulates one stream's measurements. Times are ``time.perf_counter()`` seconds."""

    start: float
    any_event_is_content: bool = False
    """Count every ``data:`` event as content (agent streams that are not OpenAI chunks)."""
    ttft_ms: float | None = None
    gaps_ms: list[float] = field(default_factory=list)
    content_chunks: int = 0
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    done: bool = False
    _last: float | None = None

    def feed(self, line: bytes, now: float) -> bool:
        """Take one line of the body; ``True`` once the stream is over: ``[DONE]``, an error
        event, or the end of the body (``b""``, which is an error without ``[DONE]``)."""
        if not line:  # the body ended cleanly
            if self.any_event_is_content:
                self.done = True
            elif not self.done and self.error is None:
                self.error = "stream ended before [DONE]"
            return True
        if not line.startswith(b"data:"):
            return False  # blank separators, comments, event:/id: fields
        payload = line[5:].strip()
        if payload == b"[DONE]":
            self.done = True
            return True
        try:
            chunk = json.loads(payload)
        except ValueError:
            if self.any_event_is_content:
                self._content(now)
                return False
            self.error = "malformed SSE data line"
            return True
        if not isinstance(chunk, dict):
            self.error = "malformed SSE chunk"
            return True
        if chunk.get("error"):
            err = chunk["error"] if isinstance(chunk["error"], dict) else {}
            self.error = str(err.get("code") or err.get("message") or "error event in stream")
            return True
        if self.any_event_is_content or has_content(chunk):
            self._content(now)
        for choice in _choices(chunk):
            if isinstance(choice.get("finish_reason"), str):
                self.finish_reason = choice["finish_reason"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.take_usage(usage)
        return False

    def _content(self, now: float) -> None:
        if self._last is None:
            self.ttft_ms = (now - self.start) * 1000.0
        else:
            self.gaps_ms.append((now - self._last) * 1000.0)
        self._last = now
        self.content_chunks += 1

    def take_body(self, body: bytes) -> None:
        """Take a whole (non-streamed) JSON answer: its ``usage`` if it has one."""
        try:
            data = json.loads(body) if body else None
        except ValueError:  # an agent may answer in plain text
            data = None
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            self.take_usage(data["usage"])
        else:
            self.content_chunks = 1

    def take_usage(self, usage: dict[str, Any]) -> None:
        self.prompt_tokens = _count(usage.get("prompt_tokens"))
        self.completion_tokens = _count(usage.get("completion_tokens"))
        details = usage.get("completion_tokens_details")
        if isinstance(details, dict):
            self.reasoning_tokens = _count(details.get("reasoning_tokens"))

    @property
    def output_tokens(self) -> int:
        """Tokens reported in ``usage``, else one per content chunk."""
        if self.completion_tokens is not None:
            return self.completion_tokens
        return self.content_chunks
