"""Tracing load-test requests with the agentflight tracer (placeholder until it lands)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from loadtest._stats import RequestResult

__all__ = ["traced_request", "tracing_session"]


class _Recorder:
    def record(self, result: RequestResult) -> None:
        pass


@contextmanager
def traced_request(model: str, stage: int | None, max_tokens: int | None) -> Iterator[_Recorder]:
    yield _Recorder()


@contextmanager
def tracing_session(options: object) -> Iterator[None]:
    yield
