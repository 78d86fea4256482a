"""The spool: durable before acknowledged, group commit, crash recovery, bounded on disk."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import spool as spool_module
from collector.spool import DataRecord, Spool, SpoolError, SpoolFull


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[list[Spool]]:
    spools: list[Spool] = []
    yield spools
    for s in spools:
        s.close()


def open_spool(path: Path, spools: list[Spool], **kwargs: int) -> tuple[Spool, list[DataRecord]]:
    s = Spool(path, max_bytes=kwargs.pop("max_bytes", 10**9), **kwargs)
    seen: list[DataRecord] = []
    s.on_durable = seen.extend
    spools.append(s)
    return s, seen


def test_records_are_durable_in_order_and_survive_a_restart(
    tmp_path: Path, opened: list[Spool]
) -> None:
    spool, seen = open_spool(tmp_path, opened)
    assert spool.open().records == []
    seqs = [
        spool.append_data(b"req%d" % i, i % 2 == 0, "p" if i else None, i).result()
        for i in range(5)
    ]
    assert seqs == [0, 1, 2, 3, 4] and [r.seq for r in seen] == seqs
    assert spool.read(seen[0].location) == (None, b"req0", True)
    assert spool.read(seen[3].location) == ("p", b"req3", False)
    spool.close()
    again, _ = open_spool(tmp_path, opened)
    recovery = again.open()
    assert recovery.spool_id == spool.spool_id
    assert [(r.seq, r.rows) for r in recovery.records] == [(i, i) for i in range(5)]
    assert again.append_data(b"next", False, None, 1).result() == 5


def test_concurrent_appends_share_fsyncs(
    tmp_path: Path, opened: list[Spool], monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = []

    def slow_sync(fd: int) -> None:
        syncs.append(fd)
        time.sleep(0.01)  # a slow disk: appends pile up behind each flush
        os.fsync(fd)

    monkeypatch.setattr(spool_module.os, "fdatasync", slow_sync)
    spool, seen = open_spool(tmp_path, opened)
    spool.open()
    results: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(10):
            seq = spool.append_data(b"%d-%d" % (n, i), False, None, 1).result()
            with lock:
                results.append(seq)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(200))
    assert [r.seq for r in seen] == list(range(200))  # handed on in sequence order
    assert len(syncs) < 100  # group commit: far fewer flushes than records


def test_a_torn_tail_is_cut_off_at_recovery(tmp_path: Path, opened: list[Spool]) -> None:
    spool, seen = open_spool(tmp_path, opened)
    spool.open()
    for _ in range(3):
        spool.append_data(b"x" * 100, False, None, 1).result()
    segment = tmp_path / f"wal-{seen[-1].location.segment:08d}.log"
    spool.close()
    whole = segment.stat().st_size
    with open(segment, "r+b") as f:  # a crash in the middle of writing the last record
        f.truncate(whole - 30)
    again, _ = open_spool(tmp_path, opened)
    assert [r.seq for r in again.open().records] == [0, 1]
    assert segment.stat().st_size == seen[2].location.offset
    assert again.append_data(b"y", False, None, 1).result() == 2


def test_batch_cuts_and_checkpoints_drive_replay(tmp_path: Path, opened: list[Spool]) -> None:
    spool, _ = open_spool(tmp_path, opened)
    spool.open()
    for i in range(5):
        spool.append_data(b"%d" % i, False, None, 10).result()
    spool.append_cut(0, 2).result()  # batch 0..2 was about to be inserted: then a crash
    spool.close()
    again, _ = open_spool(tmp_path, opened)
    recovery = again.open()
    assert (recovery.cuts, [r.seq for r in recovery.records]) == ({0: 2}, [0, 1, 2, 3, 4])
    again.checkpoint(2)  # inserted
    again.close()
    third, _ = open_spool(tmp_path, opened)
    recovery = third.open()
    assert (recovery.cuts, [r.seq for r in recovery.records]) == ({}, [3, 4])


def test_inserted_segments_are_deleted(tmp_path: Path, opened: list[Spool]) -> None:
    spool, seen = open_spool(tmp_path, opened, segment_bytes=300)
    spool.open()
    for _ in range(12):
        spool.append_data(b"z" * 100, False, None, 1).result()
    segments = {r.location.segment for r in seen}
    assert len(segments) > 2
    before = spool.disk_bytes
    spool.checkpoint(seen[-1].seq)
    left = sorted(p.name for p in tmp_path.glob("wal-*.log"))
    assert len(left) == 1 and spool.disk_bytes < before  # only the segment being written


def test_a_spool_smaller_than_a_segment_never_stays_full_of_inserted_records(
    tmp_path: Path, opened: list[Spool]
) -> None:
    # 64 KiB segments would have let the one being written fill the bound with records long
    # inserted: refused for ever. Segments are at most an eighth of the bound instead.
    bound = 1024 * 1024
    spool, seen = open_spool(tmp_path, opened, max_bytes=bound)
    spool.open()
    assert spool.segment_bytes <= bound // 8
    record = b"r" * 20_000
    for _ in range(5 * bound // len(record)):  # five times the bound, each insert in turn
        spool.append_data(record, False, None, 1).result()
        spool.checkpoint(seen[-1].seq)
    assert spool.disk_bytes <= bound // 8 + len(record) + 100
    assert not spool.full(len(record))


def test_the_disk_bound_refuses_data_but_never_cuts(tmp_path: Path, opened: list[Spool]) -> None:
    spool, _ = open_spool(tmp_path, opened, max_bytes=1000)
    spool.open()
    spool.append_data(b"a" * 600, False, None, 1).result()
    assert not spool.full()
    with pytest.raises(SpoolFull):
        spool.append_data(b"b" * 600, False, None, 1)
    assert spool.full(600)
    spool.append_cut(0, 0).result()


def test_one_collector_per_spool_directory(tmp_path: Path, opened: list[Spool]) -> None:
    first, _ = open_spool(tmp_path, opened)
    first.open()
    second, _ = open_spool(tmp_path, opened)
    with pytest.raises(SpoolError, match="in use by another collector"):
        second.open()
    opened.remove(second)
