"""The spool: an append-only, fsync'd log of every accepted request (a write-ahead log).

A request is answered 200 only once its record is on disk. Records are appended to segment
files ``wal-NNNNNNNN.log`` by one writer thread that takes everything waiting, writes it with
one ``writev`` and makes it durable with one ``fdatasync``: concurrent requests share the
cost of a flush (group commit). The inserter records each batch's boundaries (a *cut*: first
and last sequence number) durably *before* inserting it, with a deduplication token derived
from them, and a checkpoint after. After a crash, :meth:`Spool.open` finds the records not yet
checkpointed and the cuts, so replayed batches are the very same inserts with the same tokens,
and ClickHouse stores them once. Segments are deleted when everything in them is inserted.

The layout of a record is in :mod:`collector.spool_format`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.spool_format import (
    CUT,
    DATA,
    GZIP,
    HEADER_SIZE,
    data_payload,
    pack,
    split_data_payload,
    unpack,
)

__all__ = ["DataRecord", "Location", "Recovery", "Spool", "SpoolError", "SpoolFull"]

log = logging.getLogger("agentflight.collector.spool")

SEGMENT_BYTES = 64 * 1024 * 1024
MIN_SEGMENT_BYTES = 64 * 1024


class SpoolError(OSError):
    """The spool cannot take the record (I/O error, or closed)."""


class SpoolFull(SpoolError):
    """Accepting the record would take the spool over its disk bound."""


@dataclass(frozen=True)
class Location:
    segment: int
    offset: int
    length: int


@dataclass
class DataRecord:
    """An accepted request, as the pipeline sees it once it is durable."""

    seq: int
    rows: int
    location: Location
    attachment: Any = None  # what the pipeline keeps in memory (None: read it back later)
    durable_at: float = field(default_factory=time.monotonic)


@dataclass
class Recovery:
    """What an earlier run left: records not yet inserted, and batch cuts ``first -> last``."""

    spool_id: str
    records: list[DataRecord] = field(default_factory=list)
    cuts: dict[int, int] = field(default_factory=dict)


@dataclass
class _Pending:
    data: bytes
    kind: int
    seq: int
    rows: int
    future: Future[Any]
    attachment: Any


class Spool:
    """The log in ``directory``; one process at a time (the directory is locked)."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.on_durable: Callable[[list[DataRecord]], None] = lambda records: None
        self.spool_id = ""
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._next_seq = 0
        self._disk_bytes = 0
        self._closing = False
        self._failed: str | None = None
        self._segments: dict[int, int] = {}  # segment -> highest seq it refers to
        self._active = -1
        self._fd = -1
        self._size = 0
        self._lock_fd = -1
        self._readers: dict[int, int] = {}
        self._writer: threading.Thread | None = None

    # --- start-up ----------------------------------------------------------------------
    def open(self) -> Recovery:
        """Lock the directory, find what an earlier run left, start the writer."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = _segment_size(self.segment_bytes, self.max_bytes, self.directory)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolError(
                f"the spool {self.directory} is in use by another collector; give this one "
                "its own with --spool-dir or AGENTFLIGHT_SPOOL_DIR"
            ) from None
        id_path = self.directory / "spool.id"
        if not id_path.exists():
            self._write_small(id_path, secrets.token_hex(8))
        self.spool_id = id_path.read_text().strip()
        done = self.checkpointed()
        recovery = Recovery(self.spool_id)
        last_seq = done
        for segment in sorted(self._segment_files()):
            top = self._scan(segment, done, recovery)
            self._segments[segment] = top
            last_seq = max(last_seq, top)
        recovery.records.sort(key=lambda r: r.seq)
        self._next_seq = last_seq + 1
        self._active = max(self._segments, default=0) + 1
        self._open_segment(self._active)
        self._writer = threading.Thread(target=self._write_loop, name="spool-writer", daemon=True)
        self._writer.start()
        self.delete_inserted()
        return recovery

    def _segment_files(self) -> dict[int, Path]:
        found = {}
        for path in self.directory.glob("wal-*.log"):
            number = path.stem.removeprefix("wal-")
            if number.isdigit():
                found[int(number)] = path
        return found

    def _path(self, segment: int) -> Path:
        return self.directory / f"wal-{segment:08d}.log"

    def _scan(self, segment: int, done: int, recovery: Recovery) -> int:
        path = self._path(segment)
        buf = path.read_bytes()
        offset, top = 0, -1
        while offset < len(buf):
            record = unpack(buf, offset)
            if record is None:
                log.warning("spool %s: torn record at byte %d, truncating", path.name, offset)
                with open(path, "r+b") as file:
                    file.truncate(offset)
                    os.fsync(file.fileno())
                break
            kind, _flags, seq, aux, _payload, end = record
            if kind == DATA:
                top = max(top, seq)
                if seq > done:
                    location = Location(segment, offset, end - offset)
                    recovery.records.append(DataRecord(seq, aux, location))
            else:
                top = max(top, aux)
                if aux > done:
                    recovery.cuts[seq] = aux
            offset = end
        self._disk_bytes += offset
        return top

    # --- appending ------------------------------------------------------------------------
    def append_data(
        self, request: bytes, gzip: bool, project: str | None, rows: int, attachment: Any = None
    ) -> Future[Any]:
        """Queue a data record; the future resolves once it is durable (or fails)."""
        payload = data_payload(project, request)
        with self._cond:
            self._check_open()
            size = HEADER_SIZE + len(payload)
            if self._disk_bytes + self._pending_bytes + size > self.max_bytes:
                raise SpoolFull(f"the spool is full ({self.max_bytes} bytes)")
            seq = self._next_seq
            self._next_seq += 1
            data = pack(DATA, GZIP if gzip else 0, seq, rows, payload)
            return self._enqueue(_Pending(data, DATA, seq, rows, Future(), attachment))

    def append_cut(self, first: int, last: int) -> Future[Any]:
        """Record a batch's boundaries (never refused for space: draining needs it)."""
        with self._cond:
            self._check_open()
            return self._enqueue(
                _Pending(pack(CUT, 0, first, last, b""), CUT, last, 0, Future(), None)
            )

    def _check_open(self) -> None:
        if self._closing:
            raise SpoolError("the spool is closed")
        if self._failed:
            raise SpoolError(f"the spool cannot write: {self._failed}")

    def _enqueue(self, pending: _Pending) -> Future[Any]:
        self._pending.append(pending)
        self._pending_bytes += len(pending.data)
        self._cond.notify()
        return pending.future

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                self._pending_bytes = 0
            try:
                self._write(batch)
            except Exception as exc:  # a bug: fail these appends, keep the writer alive
                log.exception("spool writer failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(SpoolError(f"the spool failed: {exc}"))

    def _write(self, batch: list[_Pending]) -> None:
        durable: list[DataRecord] = []
        start = self._size
        try:
            if self._size >= self.segment_bytes:
                self._rotate()
                start = 0
            offset = self._size
            top = -1
            for item in batch:
                location = Location(self._active, offset, len(item.data))
                if item.kind == DATA:
                    durable.append(DataRecord(item.seq, item.rows, location, item.attachment))
                offset += len(item.data)
                top = max(top, item.seq)
            with self._cond:
                self._segments[self._active] = max(self._segments.get(self._active, -1), top)
            _write_all(self._fd, [item.data for item in batch])
            os.fdatasync(self._fd)
        except OSError as exc:
            log.error("spool write failed: %s", exc)
            self._recover_from(start, exc)
            for item in batch:
                item.future.set_exception(SpoolError(f"the spool cannot write: {exc}"))
            return
        self._size = offset
        with self._cond:
            self._disk_bytes += offset - start
        try:
            self.on_durable(durable)  # in sequence order, before anyone is told
        except Exception:  # durable all the same: the next start inserts them
            log.exception("handing spooled records on failed; they are inserted at restart")
        for item in batch:
            item.future.set_result(item.seq)

    def _recover_from(self, size: int, exc: OSError) -> None:
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError:
            with self._cond:
                self._failed = str(exc)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._active += 1
        self._open_segment(self._active)

    def _open_segment(self, segment: int) -> None:
        self._fd = os.open(self._path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        with self._cond:
            self._segments.setdefault(segment, -1)
        _fsync_dir(self.directory)

    # --- reading, checkpoints -------------------------------------------------------------
    def read(self, location: Location) -> tuple[str | None, bytes, bool]:
        """``(project, request, gzip)`` of the data record at ``location``."""
        fd = self._readers.get(location.segment)
        if fd is None:
            fd = self._readers[location.segment] = os.open(
                self._path(location.segment), os.O_RDONLY
            )
        record = unpack(os.pread(fd, location.length, location.offset), 0)
        if record is None or record[0] != DATA:
            raise SpoolError(f"spool record at {location} is unreadable")
        _kind, flags, _seq, _aux, payload, _end = record
        project, request = split_data_payload(payload)
        return project, request, bool(flags & GZIP)

    def checkpointed(self) -> int:
        """The highest sequence number known to be inserted (-1 for none)."""
        try:
            state = json.loads((self.directory / "checkpoint").read_text())
            return int(state["inserted_through"])
        except (OSError, ValueError, KeyError, TypeError):
            return -1

    def checkpoint(self, inserted_through: int) -> None:
        """Remember that everything up to ``inserted_through`` is in ClickHouse."""
        state = json.dumps({"inserted_through": inserted_through})
        self._write_small(self.directory / "checkpoint", state, sync=False)
        self.delete_inserted(inserted_through)

    def delete_inserted(self, done: int | None = None) -> None:
        """Delete the segments whose records (and cuts) are all inserted."""
        done = self.checkpointed() if done is None else done
        with self._cond:
            removable = [
                s for s, top in self._segments.items() if top <= done and s != self._active
            ]
        if not removable:
            return
        state = json.dumps({"inserted_through": done})
        self._write_small(self.directory / "checkpoint", state)  # durable before any unlink
        for segment in removable:
            fd = self._readers.pop(segment, None)
            if fd is not None:
                os.close(fd)
            path = self._path(segment)
            size = path.stat().st_size
            path.unlink()
            with self._cond:
                del self._segments[segment]
                self._disk_bytes -= size

    @property
    def disk_bytes(self) -> int:
        return self._disk_bytes

    def full(self, headroom: int = 0) -> bool:
        return self._disk_bytes + self._pending_bytes + headroom > self.max_bytes

    def close(self) -> None:
        """Write what is queued, then release the files and the lock."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._writer is not None:
            self._writer.join()
        for fd in [self._fd, *self._readers.values()]:
            if fd >= 0:
                os.close(fd)
        self._readers.clear()
        self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def _write_small(self, path: Path, text: str, sync: bool = True) -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as file:
            file.write(text)
            if sync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(tmp, path)
        if sync:
            _fsync_dir(self.directory)


def _segment_size(requested: int, max_bytes: int, directory: Path) -> int:
    """At most an eighth of the spool's bound and of its filesystem.

    Only whole segments are deleted, once all their records are inserted: were a segment as
    large as the room the spool has, the active one could fill it with records long since
    inserted, and the collector would refuse requests for ever (seen on a small tmpfs).
    """
    room = max_bytes
    try:
        stat = os.statvfs(directory)
        room = min(room, stat.f_blocks * stat.f_frsize or room)
    except OSError:
        pass
    return min(requested, max(MIN_SEGMENT_BYTES, room // 8))


def _write_all(fd: int, buffers: list[bytes]) -> None:
    views = [memoryview(b) for b in buffers]
    while views:
        chunk = views[:512]
        written = os.writev(fd, chunk)
        while written and views:
            if written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][written:]
                written = 0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
