"""The tracer's side of replay: skill stand-ins, OpenAI redirection and the overrides.

The ``replay`` package re-runs a recorded agent inside a *replay context*: an object it sets
in a ContextVar with :func:`replaying`. The tracer only consults it:

- a ``@skill`` call asks ``hooks.skill(name, arguments)`` for the recorded result; the value
  :data:`LIVE` means "run the skill", and a hook that raises stops the call with that error
  (the span records it). A stubbed call's span carries ``agentflight.replay.stubbed``;
- an instrumented OpenAI ``create`` call passes its resource and keyword arguments through
  ``hooks.openai_request(resource, kwargs, step)``, which may return another client's resource
  (the replay target) and changed arguments (the overrides); the span records what was sent;
- ``@llm`` functions that call a model some other way read :func:`replay_overrides`.

Outside a replay each of these costs one ContextVar lookup.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from opentelemetry import trace

from . import semconv
from ._binding import ArgBinder, signature

LIVE: Final[Any] = object()
"""Returned by ``ReplayHooks.skill``: no recorded result stands in; run the skill."""


@dataclass(frozen=True)
class ReplayOverrides:
    """What a replay changes in the LLM calls it re-runs (``agentflight replay`` flags)."""

    run_id: str
    replay_of: str
    """The trace id of the recorded run being replayed."""
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    system_prompt: str | None = None
    step: str | None = None
    """The step whose system prompt is replaced; ``None``: every LLM call's."""
    params: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, step: str) -> bool:
        """Whether the system prompt override applies to the LLM step named ``step``."""
        return self.system_prompt is not None and self.step in (None, step)


class ReplayHooks(Protocol):
    """What a replay context provides (implemented by the ``replay`` package)."""

    overrides: ReplayOverrides

    def skill(self, name: str, arguments: dict[str, Any]) -> Any:
        """The recorded result standing in for this call, or ``LIVE``; may raise."""

    def openai_request(
        self, resource: Any, kwargs: dict[str, Any], step: str
    ) -> tuple[Any, dict[str, Any]]:
        """The resource to call ``create`` on and the arguments to send."""


_HOOKS: ContextVar[ReplayHooks | None] = ContextVar("agentflight_replay", default=None)


def replay_overrides() -> ReplayOverrides | None:
    """The overrides of the replay this call runs in, or ``None`` outside a replay.

    An ``@llm`` function that calls its model without the OpenAI SDK applies them itself::

        overrides = tracer.replay_overrides()
        model = overrides.model if overrides and overrides.model else "local-llama"
    """
    hooks = _HOOKS.get()
    return None if hooks is None else hooks.overrides


@contextmanager
def replaying(hooks: ReplayHooks) -> Iterator[None]:
    """Run the block inside a replay context (for the ``replay`` package)."""
    token = _HOOKS.set(hooks)
    try:
        yield
    finally:
        _HOOKS.reset(token)


def _mark_stubbed() -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(semconv.REPLAY_STUBBED, True)


def _items(recorded: Any) -> list[Any]:
    """A generator skill's recorded result: the list of items it yielded."""
    return list(recorded) if isinstance(recorded, (list, tuple)) else [recorded]


def _sync_items(recorded: Any) -> Iterator[Any]:
    _mark_stubbed()  # runs inside the proxy, with the skill's span current
    yield from _items(recorded)


async def _async_items(recorded: Any) -> AsyncIterator[Any]:
    _mark_stubbed()
    for item in _items(recorded):
        yield item


def stand_in(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` wrapped so that, inside a replay, a recorded result can stand in for it.

    The wrapper has the same kind as ``fn`` (sync, async, generator); the decorator that
    traces it decides the kind from ``fn`` itself.
    """
    binder = ArgBinder(signature(fn))

    def ask(hooks: ReplayHooks, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return hooks.skill(name, binder.bind(args, kwargs))

    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        items = _async_items if inspect.isasyncgenfunction(fn) else _sync_items

        def stream(*args: Any, **kwargs: Any) -> Any:
            hooks = _HOOKS.get()
            if hooks is not None:
                value = ask(hooks, args, kwargs)
                if value is not LIVE:
                    return items(value)
            return fn(*args, **kwargs)

        return stream

    if inspect.iscoroutinefunction(fn):

        async def call_async(*args: Any, **kwargs: Any) -> Any:
            hooks = _HOOKS.get()
            if hooks is not None:
                value = ask(hooks, args, kwargs)
                if value is not LIVE:
                    _mark_stubbed()
                    return value
            return await fn(*args, **kwargs)

        return call_async

    def call(*args: Any, **kwargs: Any) -> Any:
        hooks = _HOOKS.get()
        if hooks is not None:
            value = ask(hooks, args, kwargs)
            if value is not LIVE:
                _mark_stubbed()
                return value
        return fn(*args, **kwargs)

    return call


def _step(kwargs: dict[str, Any]) -> str:
    """The LLM step an instrumented call belongs to: the enclosing ``@llm`` span's name, else
    the chat span's own name (``chat {model}``, with the model the code asked for)."""
    current = trace.get_current_span()
    attributes = getattr(current, "attributes", None) or {}
    if attributes.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OP_CHAT:
        return str(getattr(current, "name", ""))
    return f"{semconv.OP_CHAT} {kwargs.get('model')}"


def redirectable(create: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """An instrumented ``create`` that, inside a replay, sends the call where replay says."""
    if is_async:

        async def create_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            hooks = _HOOKS.get()
            if hooks is not None:
                self, kwargs = hooks.openai_request(self, kwargs, _step(kwargs))
            return await create(self, *args, **kwargs)

        return functools.update_wrapper(create_async, create)

    def create_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        hooks = _HOOKS.get()
        if hooks is not None:
            self, kwargs = hooks.openai_request(self, kwargs, _step(kwargs))
        return create(self, *args, **kwargs)

    return functools.update_wrapper(create_sync, create)
