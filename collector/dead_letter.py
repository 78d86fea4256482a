"""Dead letters: rows ClickHouse refused for good, kept on disk until someone retries them.

Each dead letter is two files in ``<spool_dir>/dead-letter/``: ``ID.arrow`` (the refused
``otel_traces`` rows, an Arrow IPC file) and ``ID.json`` (when, how many rows, and ClickHouse's
error). IDs derive from the spool's batch boundaries, so the same refusal after a restart
writes the same dead letter again rather than a second one. ``agentflight spool retry``
inserts them (with a deduplication token made from the ID) and deletes what went in.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.ipc

if TYPE_CHECKING:
    from collector.store import Store

__all__ = ["DeadLetter", "DeadLetters", "RetryResult"]

log = logging.getLogger("agentflight.collector.dead_letter")

SUBDIR = "dead-letter"


@dataclass(frozen=True)
class DeadLetter:
    id: str
    rows: int
    error: str
    created_at: float
    path: Path


@dataclass(frozen=True)
class RetryResult:
    inserted: list[DeadLetter]
    failed: list[tuple[DeadLetter, str]]


class DeadLetters:
    """The dead letters of one spool directory."""

    def __init__(self, spool_dir: Path) -> None:
        self.directory = spool_dir / SUBDIR

    def put(self, letter_id: str, table: pa.Table, error: str) -> DeadLetter:
        """Keep ``table`` (durably) with the error that refused it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / f"{letter_id}.arrow"
        tmp = data.with_suffix(".arrow.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        _fsync(tmp)
        os.replace(tmp, data)
        meta = {"id": letter_id, "rows": table.num_rows, "error": error, "created_at": time.time()}
        meta_path = self.directory / f"{letter_id}.json"
        meta_tmp = meta_path.with_suffix(".json.tmp")
        meta_tmp.write_text(json.dumps(meta, indent=2))
        _fsync(meta_tmp)
        os.replace(meta_tmp, meta_path)
        _fsync(self.directory)
        return DeadLetter(letter_id, table.num_rows, error, meta["created_at"], data)

    def __iter__(self) -> Iterator[DeadLetter]:
        if not self.directory.is_dir():
            return
        for meta_path in sorted(self.directory.glob("*.json")):
            data = meta_path.with_suffix(".arrow")
            try:
                meta = json.loads(meta_path.read_text())
                letter = DeadLetter(
                    str(meta["id"]), int(meta["rows"]), str(meta["error"]),
                    float(meta["created_at"]), data,
                )  # fmt: skip
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("dead letter %s is unreadable: %s", meta_path.name, exc)
                continue
            if data.exists():
                yield letter

    def count(self) -> int:
        return sum(1 for _ in self)

    def read(self, letter: DeadLetter) -> pa.Table:
        with pa.memory_map(str(letter.path)) as source:
            return pa.ipc.open_file(source).read_all()

    def retry(self, store: Store, ids: set[str] | None = None) -> RetryResult:
        """Insert dead letters (all, or those in ``ids``); delete each one that went in."""
        inserted: list[DeadLetter] = []
        failed: list[tuple[DeadLetter, str]] = []
        for letter in list(self):
            if ids is not None and letter.id not in ids:
                continue
            try:
                store.insert_arrow(self.read(letter), dedup_token=f"agentflight-dead-{letter.id}")
            except Exception as exc:  # reported per letter; the others are still tried
                failed.append((letter, str(exc).splitlines()[0] if str(exc) else repr(exc)))
                continue
            self.remove(letter)
            inserted.append(letter)
        return RetryResult(inserted, failed)

    def remove(self, letter: DeadLetter) -> None:
        letter.path.unlink(missing_ok=True)
        letter.path.with_suffix(".json").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
