"""``@agent``, ``@route``, ``@skill`` and ``@llm``.

Each decorator does its work once, at decoration time: it reads the signature, builds the
``Spec`` (static attributes, which arguments to read) and picks a thin wrapper (sync, async,
or generator / async generator). All share ``_run.open_run``; the call itself stays cheap.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from . import semconv
from ._binding import qualified_name
from ._errors import internal_error
from ._llm import LLMSpec
from ._replay import stand_in
from ._run import Spec, open_run
from ._specs import AgentSpec, RouteSpec, SkillSpec

F = TypeVar("F", bound=Callable[..., Any])
SpecFactory = Callable[[Callable[..., Any]], Spec]


def _sync_wrapper(fn: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with open_run(spec, args, kwargs) as run:
            return run.result(fn(*args, **kwargs))

    return wrapper


def _async_wrapper(fn: Callable[..., Any], spec: Spec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with open_run(spec, args, kwargs) as run:
            return run.result(await fn(*args, **kwargs))

    return wrapper


def _stream_wrapper(fn: Callable[..., Any], spec: Spec, is_async: bool) -> Callable[..., Any]:
    """For generator and async generator functions.

    The span starts at the call, like any other (its parent is the caller's span, and TTFT
    counts from the call), even if the generator is consumed later or elsewhere, e.g. by a web
    framework after the handler returned. The call returns a proxy that behaves like the
    generator (iteration, ``send``/``throw``/``close`` or their async forms) and ends the span.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with open_run(spec, args, kwargs, attach=False) as run:
            return run.stream(fn(*args, **kwargs), is_async)

    return wrapper


def _decorate(fn: Any, make_spec: SpecFactory) -> Any:
    """Wrap ``fn`` (a function, or a ``staticmethod``/``classmethod`` around one)."""
    if isinstance(fn, (staticmethod, classmethod)):
        return type(fn)(_decorate(fn.__func__, make_spec))
    if not callable(fn):
        raise TypeError(f"agentflight decorators wrap functions, got {fn!r}")
    try:
        spec = make_spec(fn)
        # A skill's call goes through its replay stand-in (same kind of callable as ``fn``).
        call = fn
        if isinstance(spec, SkillSpec):
            call = stand_in(fn, str(spec.static[semconv.GEN_AI_TOOL_NAME]))
        if inspect.isasyncgenfunction(fn):
            wrapper = _stream_wrapper(call, spec, is_async=True)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _stream_wrapper(call, spec, is_async=False)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _async_wrapper(call, spec)
        else:
            wrapper = _sync_wrapper(call, spec)
        return functools.update_wrapper(wrapper, fn)
    except Exception as exc:
        internal_error(exc, f"decorating {fn!r}")
        return fn


def _name_or_default(name: str | None, fn: Callable[..., Any]) -> str:
    return name if name is not None else qualified_name(fn)[1]


def _check_name(name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return name


def _bare_or_called(target: Any, build: Callable[[str | None], SpecFactory]) -> Any:
    """Support both ``@decorator`` and ``@decorator(...)``."""
    if callable(target) or isinstance(target, (staticmethod, classmethod)):
        return _decorate(target, build(None))
    name = _check_name(target)
    return lambda fn: _decorate(fn, build(name))


@overload
def agent(name: F, *, timeout_ms: float | None = None) -> F: ...
@overload
def agent(name: str | None = None, *, timeout_ms: float | None = None) -> Callable[[F], F]: ...
def agent(name: Any = None, *, timeout_ms: float | None = None) -> Any:
    """Trace an agent run (``invoke_agent``): entry point, inputs, output and deadline.

    ``timeout_ms`` is the run's budget: the span records the elapsed time and whether it was
    exceeded. The tracer observes the deadline; it does not enforce it.
    """
    if timeout_ms is not None and (
        isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or timeout_ms <= 0
    ):
        raise ValueError(f"agent(timeout_ms=...) must be a positive number, got {timeout_ms!r}")
    return _bare_or_called(
        name, lambda n: lambda fn: AgentSpec(fn, _name_or_default(n, fn), timeout_ms)
    )


@overload
def route(name: F) -> F: ...
@overload
def route(name: str | None = None) -> Callable[[F], F]: ...
def route(name: Any = None) -> Any:
    """Trace a routing decision: the input and the chosen target (the return value)."""
    return _bare_or_called(name, lambda n: lambda fn: RouteSpec(fn, _name_or_default(n, fn)))


@overload
def skill(name: F) -> F: ...
@overload
def skill(name: str | None = None) -> Callable[[F], F]: ...
def skill(name: Any = None) -> Any:
    """Trace a skill (a tool or API call, ``execute_tool``): arguments, result or error."""
    return _bare_or_called(name, lambda n: lambda fn: SkillSpec(fn, _name_or_default(n, fn)))


@overload
def llm(name: F, *, model: str | None = None, provider: str | None = None) -> F: ...
@overload
def llm(
    name: str | None = None, *, model: str | None = None, provider: str | None = None
) -> Callable[[F], F]: ...
def llm(name: Any = None, *, model: str | None = None, provider: str | None = None) -> Any:
    """Trace an LLM call (``chat``): request, usage, response and, for streams, TTFT/TBT.

    ``name`` overrides the span name (default ``"chat {model}"``). Without ``model``, a
    ``model`` argument of the call is used.
    """
    for label, value in (("model", model), ("provider", provider)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"llm({label}=...) must be a non-empty string, got {value!r}")
    return _bare_or_called(name, lambda n: lambda fn: LLMSpec(fn, n, model, provider))
