"""The dashboard's connection to ClickHouse: made on first use, remade after a failure.

The app must keep serving while the database is down (pages show a banner), so nothing
connects at start-up and every failure to connect or to query becomes
:class:`DatabaseDown`, with a one-line reason for the banner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clickhouse_connect.driver.exceptions import ClickHouseError

from collector import AgentflightStorageError, Store

__all__ = ["DOWN_ERRORS", "STORAGE_ERRORS", "DatabaseDown", "Stores", "default_store_factory"]

log = logging.getLogger("agentflight.dashboards")

STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    ClickHouseError,
    AgentflightStorageError,
    OSError,
)
"""What a database that is down, or going down, raises from a query."""
QUERY_TIMEOUT_S = 30.0


class DatabaseDown(Exception):
    """ClickHouse cannot be reached; the message is one line, for the banner."""


DOWN_ERRORS = (DatabaseDown, ClickHouseError, AgentflightStorageError, OSError)
""":data:`STORAGE_ERRORS` and :class:`DatabaseDown`: what a page survives."""


def default_store_factory() -> Store:
    """``Store.connect()``: ``$AGENTFLIGHT_CLICKHOUSE_URL``, else the embedded server."""
    return Store.connect(timeout_s=QUERY_TIMEOUT_S)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Stores:
    """One shared :class:`Store` (clickhouse-connect is safe across threads without a session)."""

    def __init__(self, factory: Callable[[], Store]) -> None:
        self._factory = factory
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        """The store, connecting if needed; DatabaseDown when that fails."""
        with self._lock:
            if self._store is None:
                try:
                    self._store = self._factory()
                except STORAGE_ERRORS as exc:
                    raise DatabaseDown(first_line(exc)) from exc
            return self._store

    def down(self) -> str | None:
        """None when the database answers, else why not (and the next use reconnects)."""
        try:
            store = self.get()
        except DatabaseDown as exc:
            return str(exc)
        try:
            if store.ping():
                return None
        except STORAGE_ERRORS as exc:
            self.reset()
            return first_line(exc)
        self.reset()
        return "ClickHouse does not answer its /ping"

    def reset(self) -> None:
        """Forget the connection; the next use makes a new one."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except STORAGE_ERRORS as exc:  # closing a dead connection
                log.debug("closing the old connection failed: %s", exc)

    def close(self) -> None:
        self.reset()
