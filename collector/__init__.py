"""agentflight collector: the OTLP/HTTP receiver, ClickHouse schema and store, the embedded
server.

The receiver (``create_app``, ``serve``) and the store (``Store``) are imported on first
use: code that only queries the store does not load FastAPI and uvicorn, and commands that
only look at the embedded server (``agentflight db status``) do not load clickhouse-connect.
"""

from typing import TYPE_CHECKING, Any

from collector.config import CollectorSettings
from collector.embedded import ServerInfo
from collector.errors import AgentflightStorageError, EmbeddedServerError, StorageUnavailableError
from collector.schema import OTEL_TRACES_COLUMNS

if TYPE_CHECKING:
    from collector.app import create_app
    from collector.server import serve
    from collector.store import Store

__all__ = [
    "OTEL_TRACES_COLUMNS",
    "AgentflightStorageError",
    "CollectorSettings",
    "EmbeddedServerError",
    "ServerInfo",
    "StorageUnavailableError",
    "Store",
    "create_app",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from collector.app import create_app

        return create_app
    if name == "serve":
        from collector.server import serve

        return serve
    if name == "Store":
        from collector.store import Store

        return Store
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
