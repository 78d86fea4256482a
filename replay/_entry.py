"""The agent's entry point: importing it, rebuilding its recorded arguments, calling it.

The module is imported with the current directory on ``sys.path`` (as ``python -m`` and
uvicorn do); its import-time code runs, its ``if __name__ == "__main__"`` block does not.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from tracer import exact, semconv

from ._errors import ReplayInputError
from ._model import Step

__all__ = ["EntryPoint", "LoopPool", "recorded_arguments", "resolve_entrypoint"]

EntryPoint = Callable[..., Any]
_HINT = "pass --entrypoint module:function naming an importable function"


def resolve_entrypoint(spec: str) -> EntryPoint:
    """The function ``module:qualname`` names; ``ReplayInputError`` saying how to fix it."""
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise ReplayInputError(f"entry point {spec!r} is not module:function; {_HINT}")
    if module_name == "__main__":
        raise ReplayInputError(
            f"the agent was recorded from a script (entry point {spec}), which cannot be "
            f"imported; {_HINT} (the script's module)"
        )
    if "<locals>" in qualname:
        raise ReplayInputError(f"entry point {spec} is defined inside a function; {_HINT}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ReplayInputError(
            f"cannot import the entry point {spec}: {type(exc).__name__}: {exc}; {_HINT}"
        ) from None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ReplayInputError(f"module {module_name} has no {qualname}; {_HINT}")
    if not callable(obj) or isinstance(obj, type):
        raise ReplayInputError(f"entry point {spec} is not a function; {_HINT}")
    try:
        first = next(iter(inspect.signature(obj).parameters), None)
    except (TypeError, ValueError):
        first = None
    if first in ("self", "cls"):
        raise ReplayInputError(f"entry point {spec} is a method (it needs {first}); {_HINT}")
    return obj


def recorded_arguments(
    agent: Step, modules: Mapping[str, str] | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The agent's recorded arguments by parameter name, rebuilt with their types, or why not
    (``modules``: see ``SkillBook.from_steps``)."""
    if agent.input:
        text = agent.input
        for before, after in (modules or {}).items():
            text = text.replace(f'"class":"{before}:', f'"class":"{after}:')
        try:
            tree = json.loads(text)
        except ValueError:
            return None, "its recorded input is not valid JSON (changed by a redact hook?)"
        if exact.is_omitted(tree):
            return None, f"its input ({tree['chars']} chars) was over the exact-capture bound"
        value = exact.decode(tree)
        return (value, "") if isinstance(value, dict) else (None, "its input is not arguments")
    if agent.display_input and semconv.AGENT_INPUT not in agent.truncated:
        value = json.loads(agent.display_input)  # before exact capture: plain JSON only
        return (value, "") if isinstance(value, dict) else (None, "its input is not arguments")
    return None, "no recorded input (content capture was off)"


def bind(fn: EntryPoint, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for ``fn`` from arguments recorded by name."""
    remaining = dict(arguments)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    params = list(inspect.signature(fn).parameters.values())
    has_varargs = any(
        p.kind is p.VAR_POSITIONAL and p.name in remaining for p in params
    )  # then every earlier parameter must be passed by position
    for param in params:
        if param.kind is param.VAR_KEYWORD:
            continue
        if param.name not in remaining:
            continue
        value = remaining.pop(param.name)
        if param.kind is param.POSITIONAL_ONLY or (
            has_varargs and param.kind is param.POSITIONAL_OR_KEYWORD
        ):
            args.append(value)
        elif param.kind is param.VAR_POSITIONAL:
            args.extend(value)
        else:
            kwargs[param.name] = value
    kwargs.update(remaining)
    return args, kwargs


class LoopPool:
    """One event loop per worker thread, for async agents (kept for the run's length)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()

    def run(self, awaitable: Any) -> Any:
        loop = getattr(self._local, "loop", None)
        if loop is None:
            loop = asyncio.new_event_loop()
            self._local.loop = loop
            with self._lock:
                self._loops.append(loop)
        return loop.run_until_complete(awaitable)

    def close(self) -> None:
        with self._lock:
            for loop in self._loops:
                loop.close()
            self._loops.clear()


async def _collect(stream: Any) -> list[Any]:
    return [item async for item in stream]


def call(fn: EntryPoint, arguments: dict[str, Any], loops: LoopPool) -> Any:
    """Call the entry point; run a coroutine on this thread's loop, drain a stream."""
    args, kwargs = bind(fn, arguments)
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = loops.run(value)
    if hasattr(value, "__anext__"):
        return loops.run(_collect(value))
    if hasattr(value, "__next__") and not isinstance(value, (str, bytes)):
        return list(value)
    return value
