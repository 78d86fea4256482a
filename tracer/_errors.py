"""Never break the agent: errors inside the tracer are logged and swallowed.

With ``AGENTFLIGHT_STRICT=1`` (the test suite sets it) they are raised instead, so bugs in the
instrumentation are not hidden. The pattern is logfire's ``handle_internal_errors``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ._settings import ENV_STRICT, is_true

logger = logging.getLogger("agentflight.tracer")

_LOG_EVERY_S = 60.0
_last_logged: dict[str, float] = {}


def strict() -> bool:
    """Whether internal errors are raised (``AGENTFLIGHT_STRICT=1``)."""
    return is_true(os.environ.get(ENV_STRICT))


def internal_error(exc: BaseException, where: str) -> None:
    """Report an error raised inside the tracer: raise it when strict, else log it.

    Call it from an ``except`` block. The log is rate limited per ``where`` so that a
    failing hot path cannot flood the application's logs.
    """
    if strict():
        raise exc
    now = time.monotonic()
    if now - _last_logged.get(where, -_LOG_EVERY_S) >= _LOG_EVERY_S:
        _last_logged[where] = now
        logger.warning("agentflight tracer: internal error while %s", where, exc_info=exc)


@contextmanager
def handle_internal_errors(where: str) -> Iterator[None]:
    """Context manager form of ``internal_error`` for paths that are not hot."""
    try:
        yield
    except Exception as exc:
        internal_error(exc, where)
