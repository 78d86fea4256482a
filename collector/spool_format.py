"""The spool's record format: what one record looks like on disk.

Little-endian: ``magic "AF" | type u8 | flags u8 | seq u64 | aux u64 | length u32 | crc32 u32
| payload``; the CRC covers the header (without itself) and the payload. Data records
(type 1) carry their row count in ``aux`` and ``project (u16 length, 0xFFFF for none) +
request`` as payload, the request gzip'd when flag 1 is set; cut records (type 2, a batch's
boundaries) carry ``first`` in ``seq`` and ``last`` in ``aux`` and no payload.
"""

from __future__ import annotations

import struct
import zlib

__all__ = [
    "CUT",
    "DATA",
    "GZIP",
    "HEADER_SIZE",
    "data_payload",
    "pack",
    "split_data_payload",
    "unpack",
]

_HEADER = struct.Struct("<2sBBQQII")
_MAGIC = b"AF"
_NO_PROJECT = 0xFFFF
DATA, CUT = 1, 2
GZIP = 1
HEADER_SIZE = _HEADER.size


def pack(kind: int, flags: int, seq: int, aux: int, payload: bytes) -> bytes:
    header = _HEADER.pack(_MAGIC, kind, flags, seq, aux, len(payload), 0)
    crc = zlib.crc32(payload, zlib.crc32(header[:-4]))
    return header[:-4] + struct.pack("<I", crc) + payload


def unpack(buf: bytes | memoryview, offset: int) -> tuple[int, int, int, int, bytes, int] | None:
    """The record at ``offset`` as ``(kind, flags, seq, aux, payload, end)``; None if torn."""
    end = offset + _HEADER.size
    if end > len(buf):
        return None
    magic, kind, flags, seq, aux, length, crc = _HEADER.unpack_from(buf, offset)
    if magic != _MAGIC or kind not in (DATA, CUT) or end + length > len(buf):
        return None
    payload = bytes(buf[end : end + length])
    if zlib.crc32(payload, zlib.crc32(buf[offset : end - 4])) != crc:
        return None
    return kind, flags, seq, aux, payload, end + length


def data_payload(project: str | None, request: bytes) -> bytes:
    if project is None:
        return struct.pack("<H", _NO_PROJECT) + request
    encoded = project.encode()
    return struct.pack("<H", len(encoded)) + encoded + request


def split_data_payload(payload: bytes) -> tuple[str | None, bytes]:
    """``(project, request)`` of a data record's payload."""
    (size,) = struct.unpack_from("<H", payload)
    if size == _NO_PROJECT:
        return None, payload[2:]
    return payload[2 : 2 + size].decode(), payload[2 + size :]
