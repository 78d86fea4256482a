"""``--cassette DIR``: vcrpy cassettes for the HTTP a replay makes through httpx or aiohttp
(the target model's answers through the OpenAI SDK, and what live skills call with those).
The first replay records; later ones play back, offline.

Record mode ``once``: a cassette that exists is only played back, and a request it does not
hold is an error, never a live call. The collector (span export) and ClickHouse are never
recorded: their requests go through as usual.

vcrpy patches HTTP libraries process-wide, and lets a request it does not record through by
unpatching them all, for a moment, process-wide. The exporter and ClickHouse talk through
``requests`` and ``urllib3`` on other threads, so with those libraries patched, their
requests would open such windows while replay threads call the model, and the model's
answers would escape the cassette. Those libraries are left unpatched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import vcr

from ._errors import ReplayInputError

__all__ = ["cassette_path", "use_cassette"]

_SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "cookie"]
# Libraries vcrpy leaves alone: those whose stubs let a request through by unpatching every
# library process-wide (``force_reset``), the exporter's and ClickHouse's among them.
_UNPATCHED = ["httplib", "requests", "urllib3", "boto3", "httplib2"]


def cassette_path(directory: Path, name: str) -> Path:
    """The cassette file for ``name`` (a trace id, or a batch's name) in ``directory``."""
    if directory.exists() and not directory.is_dir():
        raise ReplayInputError(f"--cassette {directory} is a file; it must be a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReplayInputError(f"--cassette {directory}: {exc.strerror or exc}") from None
    return directory / f"{name}.yaml"


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@contextmanager
def use_cassette(path: Path | None, passthrough: Iterable[str]) -> Iterator[None]:
    """Record or play back HTTP in the block; ``passthrough`` URLs (collector, ClickHouse) are
    neither recorded nor played back."""
    if path is None:
        yield
        return
    ignored = {_endpoint(url) for url in passthrough if url}

    def keep(request: Any) -> Any:
        parts = urlsplit(request.uri)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return None if (parts.hostname or "", port) in ignored else request

    recorder = vcr.VCR(
        record_mode="once",
        match_on=["method", "scheme", "host", "port", "path", "query", "body"],
        filter_headers=_SECRET_HEADERS,
        before_record_request=keep,
        decode_compressed_response=True,
        skip_patchers=_UNPATCHED,
    )
    with recorder.use_cassette(str(path)):
        yield
