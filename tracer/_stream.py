"""Stream proxies: iterate a generator or an OpenAI ``Stream`` and end its span exactly once.

A proxy ends its run on exhaustion, on error, on ``close()`` and, when the consumer drops it
unfinished, on garbage collection (outcome ``abandoned``). Each step of the wrapped iterator
runs with the span current, so spans opened inside a generator body nest under it, and nothing
stays attached in the consumer's context between steps:

- sync: every step runs inside a private ``contextvars.Context`` copied when the stream
  started, in which the span is attached (one C-level ``Context.run`` per chunk);
- async: the span is attached and detached around every awaited step.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Generator
from typing import Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from ._errors import internal_error
from ._stats import StreamStats

DONE: Final = "done"
ERROR: Final = "error"
ABANDONED: Final = "abandoned"

_now = time.perf_counter_ns


class StreamOwner(Protocol):
    """The run a proxy reports to (see ``_run.Run``)."""

    context: Context

    def end_stream(
        self, outcome: str, exc: BaseException | None, stats: StreamStats | None, items: list[Any]
    ) -> None: ...


def _as_exception(typ: Any, val: Any = None, tb: Any = None) -> BaseException:
    """Normalise the legacy ``throw(type, value, traceback)`` signature to one exception."""
    if isinstance(typ, BaseException):
        exc = typ
    elif isinstance(val, BaseException):
        exc = val
    else:
        exc = typ() if val is None else typ(val)
    return exc.with_traceback(tb) if tb is not None else exc


class _Proxy:
    """State and ending logic shared by the sync and async proxies."""

    __slots__ = ("__weakref__", "_count", "_done", "_inner", "_items", "_owner", "_stats")

    def __init__(
        self, inner: Any, owner: StreamOwner, stats: StreamStats | None, item_limit: int
    ) -> None:
        self._inner = inner
        self._owner = owner
        self._stats = stats
        # Items yielded by non-LLM streams, kept (up to a limit) for content capture.
        self._items: list[Any] | None = [] if item_limit > 0 and stats is None else None
        self._count = item_limit
        self._done = True  # until the subclass's __init__ completes: nothing to end yet

    def _observe(self, chunk: Any) -> None:
        stats = self._stats
        if stats is None:
            items = self._items
            if items is not None and len(items) < self._count:
                items.append(chunk)
            return
        if type(chunk) is str:
            if chunk:
                stats.times.append(_now())
                text0 = stats.text0
                if text0 is not None:
                    text0.append(chunk)
            else:
                stats.empty += 1
        elif stats.observe(chunk):
            stats.times.append(_now())
        else:
            stats.empty += 1

    def _end(self, outcome: str, exc: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        if exc is not None and not isinstance(exc, Exception):
            outcome, exc = ABANDONED, None  # GeneratorExit, cancellation: not errors
        if outcome == ABANDONED and self._stats is not None and self._stats.finish_reasons:
            outcome = DONE  # everything arrived; the consumer just did not read past the end
        try:
            self._owner.end_stream(outcome, exc, self._stats, self._items or [])
        except Exception as error:
            internal_error(error, "ending a stream span")

    def __del__(self) -> None:
        if not self._done:
            self._end(ABANDONED)

    # No ``__getattr__`` passthrough: it would slow every attribute lookup of the hot path.
    # The wrapped object is ``wrapped``; what OpenAI streams expose is delegated below.
    @property
    def wrapped(self) -> Any:
        """The generator or stream this proxy wraps."""
        return self._inner

    @property
    def response(self) -> Any:
        """The HTTP response of a wrapped OpenAI stream."""
        return self._inner.response

    def __repr__(self) -> str:
        return f"<agentflight stream proxy of {self._inner!r}>"


class SyncStream(_Proxy):
    """Proxy for a generator, an iterator or an OpenAI ``Stream``."""

    __slots__ = ("_ctx", "_next")

    def __init__(
        self, inner: Any, owner: StreamOwner, stats: StreamStats | None, item_limit: int = 0
    ) -> None:
        super().__init__(inner, owner, stats, item_limit)
        next_method = getattr(inner, "__next__", None)
        self._next: Callable[[], Any] = next_method or iter(inner).__next__
        self._ctx = contextvars.copy_context()
        self._ctx.run(otel_context.attach, owner.context)
        self._done = False

    def __iter__(self) -> Generator[Any, Any, Any]:
        """A driver generator (``_drive``), so that a ``for`` loop costs no Python method call
        per chunk. It shares this proxy's state; one left unfinished (``break``) lets go of
        nothing, and the next loop, or ``next()``, goes on where it stopped."""
        return _drive(self, self._ctx.run, self._inner, self._next, owns_inner=False)

    def __next__(self) -> Any:
        return self._step(self._next)

    def _step(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            chunk = self._ctx.run(method, *args)
        except StopIteration:
            self._end(DONE)
            raise
        except BaseException as exc:
            self._end(ERROR, exc)
            raise
        self._observe(chunk)
        return chunk

    def send(self, value: Any) -> Any:
        """Generator ``send``, timed like ``next``."""
        return self._step(self._inner.send, value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Generator ``throw``."""
        return self._step(self._inner.throw, _as_exception(typ, val, tb))

    def close(self) -> None:
        """Close the wrapped stream; before exhaustion the span is marked abandoned."""
        close = getattr(self._inner, "close", None)
        try:
            if close is not None:
                self._ctx.run(close)
        except BaseException as exc:
            self._end(ERROR, exc)
            raise
        self._end(ABANDONED)

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class GeneratorStream:
    """The proxy of a generator: what ``SyncStream`` does, with the steps run by a generator
    (``_drive``) so that a ``for`` loop costs no Python method call per chunk.

    ``iter(proxy)`` is that generator (the same one every time), so ``send``, ``throw``,
    ``close`` and ``yield from`` reach the wrapped generator as they would reach any, and its
    return value passes through. The proxy holds the driver, which holds the state (a
    ``_Proxy``), never the reverse: a proxy dropped unfinished closes the driver (the span
    ends ``abandoned``), and one dropped before its first step lets go of the state, which
    ends the span the same way.
    """

    __slots__ = ("__weakref__", "_gen", "_run", "_state")

    def __init__(
        self,
        inner: Generator[Any, Any, Any],
        owner: StreamOwner,
        stats: StreamStats | None,
        item_limit: int = 0,
    ) -> None:
        state = _Proxy(inner, owner, stats, item_limit)
        ctx = contextvars.copy_context()
        ctx.run(otel_context.attach, owner.context)
        self._run = ctx.run
        self._gen = _drive(state, ctx.run, inner, inner.__next__)
        self._state = state
        state._done = False

    def __iter__(self) -> Generator[Any, Any, Any]:
        return self._gen

    def __next__(self) -> Any:
        return self._gen.__next__()

    def send(self, value: Any) -> Any:
        """Generator ``send``, timed like ``next``."""
        return self._gen.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Generator ``throw``."""
        return self._gen.throw(_as_exception(typ, val, tb))

    def close(self) -> None:
        """Close the wrapped generator; before exhaustion the span is marked abandoned."""
        state = self._state
        if not state._done:
            try:
                self._run(state._inner.close)
            except BaseException as exc:
                state._end(ERROR, exc)
                raise
            state._end(ABANDONED)
        self._gen.close()

    def __enter__(self) -> GeneratorStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def wrapped(self) -> Any:
        """The generator this proxy wraps."""
        return self._state._inner

    def __repr__(self) -> str:
        return f"<agentflight stream proxy of {self._state._inner!r}>"


def _drive(
    state: _Proxy,
    run: Callable[..., Any],
    inner: Any,
    step: Callable[[], Any],
    owns_inner: bool = True,
) -> Generator[Any, Any, Any]:
    """The steps of a proxy (``step`` is ``inner``'s ``__next__``): each one runs in the
    proxy's context and is observed; ``send``/``throw`` go on to ``inner``. When the driver
    is closed, or dropped unfinished, it closes ``inner`` and ends the span ``abandoned`` if
    it ``owns_inner`` (``GeneratorStream``); else the proxy does that (``SyncStream``).

    This loop is the per-chunk cost of every traced stream, so an LLM stream's chunks are
    handled inline: a text chunk is timed here, any other goes straight to
    ``StreamStats.observe``; the chunks of other streams go through ``_Proxy._observe``.
    """
    stats = state._stats
    observe = state._observe
    if stats is not None:  # an LLM stream: text chunks timed inline, the rest observed
        stamp, now, text0, observe_chunk = stats.times.append, _now, stats.text0, stats.observe
    advance = step
    while True:
        try:
            chunk = run(advance)
        except StopIteration as stop:
            state._end(DONE)
            return stop.value
        except BaseException as exc:
            state._end(ERROR, exc)
            raise
        if stats is None:
            observe(chunk)
        elif type(chunk) is str:
            if chunk:
                stamp(now())
                if text0 is not None:
                    text0.append(chunk)
            else:
                stats.empty += 1
        elif observe_chunk(chunk):
            stamp(now())
        else:
            stats.empty += 1
        try:
            sent = yield chunk
        except GeneratorExit:  # closed, or dropped unfinished
            if not owns_inner:
                return None
            try:
                run(inner.close)
            except BaseException as exc:
                state._end(ERROR, exc)
                raise
            state._end(ABANDONED)
            raise
        except BaseException as exc:  # thrown in: on to the wrapped generator
            advance = functools.partial(inner.throw, exc)
            continue
        advance = step if sent is None else functools.partial(inner.send, sent)


class AsyncStream(_Proxy):
    """Proxy for an async generator, an async iterator or an OpenAI ``AsyncStream``."""

    __slots__ = ("_anext",)

    def __init__(
        self, inner: Any, owner: StreamOwner, stats: StreamStats | None, item_limit: int = 0
    ) -> None:
        super().__init__(inner, owner, stats, item_limit)
        anext_method = getattr(inner, "__anext__", None)
        self._anext: Callable[[], Any] = anext_method or inner.__aiter__().__anext__
        self._done = False

    def __aiter__(self) -> AsyncStream:
        return self

    async def _astep(self, method: Callable[..., Any], *args: Any) -> Any:
        token = otel_context.attach(self._owner.context)
        try:
            chunk = await method(*args)
        except StopAsyncIteration:
            self._end(DONE)
            raise
        except BaseException as exc:
            self._end(ERROR, exc)
            raise
        finally:
            otel_context.detach(token)
        self._observe(chunk)
        return chunk

    def __anext__(self) -> Any:
        return self._astep(self._anext)

    def asend(self, value: Any) -> Any:
        """Async generator ``asend``."""
        return self._astep(self._inner.asend, value)

    def athrow(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Async generator ``athrow``."""
        return self._astep(self._inner.athrow, _as_exception(typ, val, tb))

    async def aclose(self) -> None:
        """Close the wrapped stream; before exhaustion the span is marked abandoned."""
        close = getattr(self._inner, "aclose", None) or getattr(self._inner, "close", None)
        token = otel_context.attach(self._owner.context)
        try:
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        except BaseException as exc:
            self._end(ERROR, exc)
            raise
        finally:
            otel_context.detach(token)
        self._end(ABANDONED)

    async def close(self) -> None:
        """OpenAI ``AsyncStream.close`` spelling of ``aclose``."""
        await self.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
