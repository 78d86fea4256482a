"""agentflight collector: ClickHouse schema and store, the embedded server, and (soon) the
OTLP receiver."""

from collector.embedded import ServerInfo
from collector.errors import AgentflightStorageError, EmbeddedServerError, StorageUnavailableError
from collector.schema import OTEL_TRACES_COLUMNS
from collector.store import Store

__all__ = [
    "OTEL_TRACES_COLUMNS",
    "AgentflightStorageError",
    "EmbeddedServerError",
    "ServerInfo",
    "StorageUnavailableError",
    "Store",
]
