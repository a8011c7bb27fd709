"""Reading TFRecord files without TensorFlow: the framing and its CRC32C checks.

A TFRecord file is a plain concatenation of records, each framed as

==========  =======================================================
8 bytes     payload length ``n``, unsigned little-endian
4 bytes     masked CRC32C of those 8 length bytes, little-endian
``n`` bytes the payload
4 bytes     masked CRC32C of the payload, little-endian
==========  =======================================================

where CRC32C is the CRC-32 of the Castagnoli polynomial (reflected ``0x82F63B78``,
initial value and final XOR ``0xFFFFFFFF``) and the mask is
``((crc >> 15) | (crc << 17)) + 0xA282EAD8`` modulo 2**32.

Two CRC32C implementations live here. `crc32c` is table-driven Python, eight bytes per
step ("slicing by 8"); it checks the 8-byte length fields, one at a time, because a
record's length must be trusted before the next record can be found. `crc32c_many`
checks many payloads at once with numpy, one byte *column* per step across a batch, so
a 500 MB file costs seconds rather than the minutes a byte loop in Python would take.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._errors import SourceFileError

#: The Castagnoli polynomial, bit-reflected (CRC32C as used by TFRecord and iSCSI).
_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_WORD = struct.Struct("<I")

#: Payloads whose CRCs are checked together by `crc32c_many` while reading.
_BATCH = 4096
#: Rows per numpy pass of `crc32c_many`: bounds the padded batch in memory.
_GROUP = 2048


class TFRecordError(SourceFileError):
    """A TFRecord file is truncated, or a length or payload fails its CRC check."""


def _tables() -> list[list[int]]:
    # t[0] is the classic byte table; t[k][b] is the CRC state of byte b followed by k
    # zero bytes, which lets one step fold in 8 bytes with 8 independent lookups.
    t0 = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(v >> 8) ^ t0[v & 0xFF] for v in prev])
    return tables


_T = _tables()
_T_NP = np.array(_T, dtype=np.uint32)


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32C of ``data``; ``value`` continues a CRC over earlier bytes (like `zlib.crc32`).

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    buf = bytes(data)
    crc = value ^ _M32
    n8 = len(buf) - len(buf) % 8
    for i in range(0, n8, 8):
        lo = crc ^ _WORD.unpack_from(buf, i)[0]
        crc = (t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[lo >> 24]
               ^ t3[buf[i + 4]] ^ t2[buf[i + 5]] ^ t1[buf[i + 6]] ^ t0[buf[i + 7]])
    for b in buf[n8:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _M32


def mask_crc(crc: int) -> int:
    """The masked form TFRecord stores (a CRC of data holding CRCs is then not trivial)."""
    return ((((crc >> 15) | (crc << 17)) & _M32) + _MASK_DELTA) & _M32


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """``mask_crc(crc32c(data))``: the checksum a TFRecord file stores for ``data``."""
    return mask_crc(crc32c(data))


def crc32c_many(payloads: Sequence[bytes]) -> np.ndarray:
    """CRC32C of every payload, computed together; ``uint32`` array of ``len(payloads)``.

    The CRC is linear over GF(2), which allows two shortcuts. Leading zero bytes leave a
    zero state at zero, so payloads are right-aligned in one zero-padded array and the
    whole batch advances one byte column per numpy step. And starting from state
    ``0xFFFFFFFF`` equals starting from zero with the first 4 bytes inverted, so every
    row can start from zero wherever its data begins. Payloads shorter than 4 bytes
    go through `crc32c`.
    """
    out = np.zeros(len(payloads), dtype=np.uint32)
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=len(payloads))
    short = np.flatnonzero(lengths < 4)
    for i in short.tolist():
        out[i] = crc32c(payloads[i])
    # Sorting by length keeps the padding of each group small.
    order = np.argsort(lengths, kind="stable")
    order = order[lengths[order] >= 4]
    for start in range(0, order.size, _GROUP):
        rows = order[start : start + _GROUP]
        out[rows] = _crc_group([payloads[i] for i in rows.tolist()], lengths[rows])
    return out


def _crc_group(payloads: list[bytes], lengths: np.ndarray) -> np.ndarray:
    m = len(payloads)
    width = -(-int(lengths.max()) // 8) * 8  # whole 8-byte steps; the padding is leading
    flat = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    grid = np.zeros((m, width), dtype=np.uint8)
    starts = width - lengths  # the column where each payload's first byte lands
    rows = np.repeat(np.arange(m), lengths)
    offsets = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid[rows, np.repeat(starts, lengths) + offsets] = flat
    for k in range(4):  # the initial 0xFFFFFFFF, folded into the first 4 data bytes
        grid[np.arange(m), starts + k] ^= 0xFF
    # Little-endian 32-bit words, one contiguous row of the batch per word position.
    words = np.ascontiguousarray(grid.view("<u4").T).astype(np.uint32)
    t0, t1, t2, t3, t4, t5, t6, t7 = _T_NP
    crc = np.zeros(m, dtype=np.uint32)
    ff = np.uint32(0xFF)
    for j in range(0, words.shape[0], 2):
        lo = crc ^ words[j]
        hi = words[j + 1]
        crc = (t7[lo & ff] ^ t6[(lo >> 8) & ff] ^ t5[(lo >> 16) & ff] ^ t4[lo >> 24]
               ^ t3[hi & ff] ^ t2[(hi >> 8) & ff] ^ t1[(hi >> 16) & ff] ^ t0[hi >> 24])
    return crc ^ np.uint32(_M32)


def iter_records(
    path: str | os.PathLike[str],
    *,
    on_bytes: Callable[[int], None] | None = None,
    batch: int = _BATCH,
) -> Iterator[tuple[int, bytes]]:
    """The payloads of a TFRecord file, streamed, with both CRCs of each record checked.

    Args:
        path: The file.
        on_bytes: Called with the bytes consumed, as reading advances (a progress bar).
        batch: Payloads read ahead and checked together (`crc32c_many`).

    Yields:
        ``(number, payload)``: the record's 1-based position and its bytes. Records come
        in file order; a bad record raises when its turn comes, after the good ones
        before it were yielded.

    Raises:
        TFRecordError: naming the file, the record and its byte offset, for a length or
            payload whose CRC does not match, or a file that ends inside a record.
    """
    path = Path(path)
    pending: list[tuple[int, int, bytes, int]] = []  # number, offset, payload, stored CRC

    def flush() -> Iterator[tuple[int, bytes]]:
        crcs = crc32c_many([p for _, _, p, _ in pending])
        for (number, offset, payload, stored), crc in zip(pending, crcs.tolist()):
            if mask_crc(crc) != stored:
                raise TFRecordError(
                    f"{path}, record {number} (byte offset {offset}): payload CRC mismatch "
                    f"(stored {stored:#010x}, computed {mask_crc(crc):#010x}); the file is "
                    "corrupt, download it again"
                )
            yield number, payload
        if on_bytes is not None:
            on_bytes(sum(len(p) + 16 for _, _, p, _ in pending))
        pending.clear()

    with open(path, "rb", buffering=1 << 20) as fh:
        size = os.fstat(fh.fileno()).st_size
        offset, number = 0, 0
        while True:
            head = fh.read(_HEADER.size)
            if not head:
                break
            number += 1
            where = f"{path}, record {number} (byte offset {offset})"
            if len(head) < _HEADER.size:
                raise TFRecordError(
                    f"{where}: truncated: the file ends {len(head)} bytes into the "
                    f"{_HEADER.size}-byte record header; the file is cut short, "
                    "download it again"
                )
            length, stored = _HEADER.unpack(head)
            if mask_crc(crc32c(head[:8])) != stored:
                raise TFRecordError(
                    f"{where}: length CRC mismatch (length field {length}, stored CRC "
                    f"{stored:#010x}); the file is corrupt or not a TFRecord file"
                )
            left = size - offset - _HEADER.size
            if length + _FOOTER.size > left:
                raise TFRecordError(
                    f"{where}: truncated: the record needs {length + _FOOTER.size} more "
                    f"bytes, the file has {max(left, 0)}; the file is cut short, "
                    "download it again"
                )
            body = fh.read(length + _FOOTER.size)
            if len(body) < length + _FOOTER.size:  # the file shrank while being read
                raise TFRecordError(f"{where}: truncated: the file ends inside the record")
            pending.append((number, offset, body[:length], _FOOTER.unpack_from(body, length)[0]))
            offset += _HEADER.size + length + _FOOTER.size
            if len(pending) >= batch:
                yield from flush()
        if pending:
            yield from flush()


def write_record(fh: BinaryIO, payload: bytes) -> int:
    """Append one framed record to the binary file ``fh``; returns the bytes written."""
    head = struct.pack("<Q", len(payload))
    frame = b"".join([head, _WORD.pack(masked_crc32c(head)), payload,
                      _WORD.pack(masked_crc32c(payload))])
    fh.write(frame)
    return len(frame)
