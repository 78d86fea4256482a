"""In-process count of LLM calls in flight, per model (``agentflight.llm.inflight``)."""

from __future__ import annotations

import os
import threading


class Inflight:
    """A per-model counter; ``enter`` returns the count including the new call."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, model: str) -> int:
        """Count one more call to ``model`` and return how many are now in flight."""
        with self._lock:
            count = self._counts.get(model, 0) + 1
            self._counts[model] = count
        return count

    def exit(self, model: str) -> None:
        """Count one call to ``model`` as finished."""
        with self._lock:
            count = self._counts.get(model, 0) - 1
            if count > 0:
                self._counts[model] = count
            else:
                self._counts.pop(model, None)

    def get(self, model: str) -> int:
        """How many calls to ``model`` are in flight now."""
        return self._counts.get(model, 0)

    def reset(self) -> None:
        """Forget everything (the calls of a forked parent are not in flight in the child)."""
        self._counts = {}
        self._lock = threading.Lock()


INFLIGHT = Inflight()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=INFLIGHT.reset)
