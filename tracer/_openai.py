"""``instrument_openai()``: chat spans for the ``openai`` SDK's chat-completions ``create``.

``Completions.create`` and ``AsyncCompletions.create`` are replaced on their classes by the
same wrappers ``@tracer.llm`` uses, so instrumented calls get the same spans (streamed or
not). Each wrapper keeps the original it replaced; instrumenting twice does not wrap twice and
``uninstrument_openai()`` puts the originals back. ``openai`` is imported only here, lazily.
Inside a replay the call is first redirected to the replay target (``_replay``).
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from . import semconv
from ._decorators import _async_wrapper, _sync_wrapper
from ._errors import logger
from ._llm import LLMSpec
from ._replay import redirectable

PROVIDER: Final = "openai"
_ORIGINAL: Final = "__agentflight_original__"
_DEFAULT_PORTS: Final[dict[Any, int]] = {"https": 443, "http": 80}
_lock = threading.Lock()


def _server_attributes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
    """``server.address``/``server.port`` from the resource's client base URL."""
    client = getattr(args[0], "_client", None) if args else None
    url = getattr(client, "base_url", None)
    host = getattr(url, "host", None)
    if not isinstance(host, str) or not host:
        return {}
    attributes: dict[str, AttributeValue] = {semconv.SERVER_ADDRESS: host}
    port = getattr(url, "port", None) or _DEFAULT_PORTS.get(getattr(url, "scheme", None))
    if isinstance(port, int):
        attributes[semconv.SERVER_PORT] = port
    return attributes


def _ours(fn: Any) -> bool:
    """Whether ``fn`` or a function it wraps (``__wrapped__`` chain) is our wrapper."""
    for _ in range(32):
        if fn is None:
            return False
        if getattr(fn, _ORIGINAL, None) is not None:
            return True
        fn = getattr(fn, "__wrapped__", None)
    return False


def _targets() -> list[type] | None:
    try:
        from openai.resources.chat.completions import AsyncCompletions, Completions
    except ImportError:
        logger.warning("agentflight: instrument_openai() needs the openai package")
        return None
    return [Completions, AsyncCompletions]


def instrument_openai() -> bool:
    """Trace every chat-completions ``create`` call of the openai SDK. Idempotent.

    Returns ``False`` if openai is not installed.
    """
    targets = _targets()
    if targets is None:
        return False
    with _lock:
        for cls in targets:
            current = cls.__dict__["create"]
            if _ours(current):
                continue  # already instrumented, possibly under another library's wrapper
            spec = LLMSpec(current, None, None, PROVIDER, enrich=True, extra=_server_attributes)
            is_async = cls.__name__.startswith("Async")
            make = _async_wrapper if is_async else _sync_wrapper
            traced = functools.update_wrapper(make(current, spec), current)
            # Outside the span: a replay redirects the call before the span records it.
            wrapper = redirectable(traced, is_async)
            setattr(wrapper, _ORIGINAL, current)
            cls.create = wrapper  # type: ignore[attr-defined]
    return True


def uninstrument_openai() -> bool:
    """Restore the original ``create`` methods. Returns ``False`` if openai is not installed."""
    targets = _targets()
    if targets is None:
        return False
    with _lock:
        for cls in targets:
            current = cls.__dict__["create"]
            original = getattr(current, _ORIGINAL, None)
            if original is not None:
                cls.create = original  # type: ignore[attr-defined]
            elif _ours(current):
                logger.warning(
                    "agentflight: %s.create was wrapped again by another library; left as is",
                    cls.__name__,
                )
    return True


def openai_instrumented() -> bool:
    """Whether the openai SDK is currently instrumented (without importing it)."""
    module = sys.modules.get("openai.resources.chat.completions")
    completions = getattr(module, "Completions", None)
    return _ours(getattr(completions, "create", None))
