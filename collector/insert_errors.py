"""Which ClickHouse insert failures are worth retrying, and which never will succeed.

A retryable failure (the server unreachable or overloaded, a timeout, too many parts, not
enough memory or disk, a table or permission missing until someone fixes the deployment) keeps
its batch at the head of the queue and is retried with the same deduplication token. A
permanent one (the rows themselves are refused: bad data, a type error, a view that throws on
them) would fail forever and block everything behind it, so its rows are set aside as a dead
letter instead.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

__all__ = ["INGEST_VIEW", "RETRYABLE_CODES", "error_code", "is_permanent", "refusing_view"]

INGEST_VIEW = "otlp_ingest_mv"  # migration 0010

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that a later attempt may get past.
RETRYABLE_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE (a connection cut mid-response)
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        60,  # UNKNOWN_TABLE (not migrated yet, or dropped: fixed by migrating)
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        160,  # TOO_SLOW
        164,  # READONLY
        194,  # REQUIRED_PASSWORD
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS (but see _PERMANENT_MESSAGES)
        279,  # ALL_CONNECTION_TRIES_FAILED
        285,  # TOO_FEW_LIVE_REPLICAS
        286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        497,  # ACCESS_DENIED (a grant missing until the deployment is fixed)
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
    }
)
# Messages that share a retryable code but will fail the same way every time.
_PERMANENT_MESSAGES = ("Too many partitions for single INSERT block",)
_CODE = re.compile(r"\b[Cc]ode:\s*(\d+)")
_VIEW = re.compile(r"while pushing to view ([\w.`\-]+)")


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code named in ``exc``'s message, if any."""
    match = _CODE.search(str(exc))
    return int(match.group(1)) if match else None


def is_permanent(exc: BaseException) -> bool:
    """True when inserting the same rows again cannot succeed."""
    if isinstance(exc, OperationalError) or not isinstance(exc, DatabaseError):
        return False  # the network, or not ClickHouse's answer at all: try again
    message = str(exc)
    if any(text in message for text in _PERMANENT_MESSAGES):
        return True
    code = error_code(exc)
    return code is not None and code not in RETRYABLE_CODES


def refusing_view(exc: BaseException) -> str | None:
    """The materialized view that threw, when it was one (the source table has the rows).

    ``otlp_ingest_mv``, through which ClickHouse maps requests into ``otel_traces``, is not
    one: when only it is named, ``otel_traces`` itself refused the rows.
    """
    for match in _VIEW.finditer(str(exc)):
        view = match.group(1).strip("`").rstrip(".")
        if view.rsplit(".", 1)[-1].strip("`") != INGEST_VIEW:
            return view
    return None
