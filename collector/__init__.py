"""agentflight collector: the OTLP/HTTP receiver, ClickHouse schema and store, the embedded
server.

The receiver (``create_app``, ``serve``) is imported on first use: code that only queries the
store does not load FastAPI and uvicorn.
"""

from typing import TYPE_CHECKING, Any

from collector.config import CollectorSettings
from collector.embedded import ServerInfo
from collector.errors import AgentflightStorageError, EmbeddedServerError, StorageUnavailableError
from collector.schema import OTEL_TRACES_COLUMNS
from collector.store import Store

if TYPE_CHECKING:
    from collector.app import create_app
    from collector.server import serve

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
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
