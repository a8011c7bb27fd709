"""A minimal reader of the protobuf wire format, without the ``protobuf`` package.

Enough to decode small proto2 messages of scalars, strings and nested messages: a
message is a sequence of fields, each a varint *tag* (``field_number << 3 | wire_type``)
followed by a value whose layout the wire type gives:

====  ==================  ================================================
type  name                value
====  ==================  ================================================
0     varint              base-128, little-endian groups of 7 bits (≤ 10 bytes)
1     fixed64             8 bytes little-endian (``double``, ``fixed64``)
2     length-delimited    varint length, then that many bytes (strings,
                          bytes, nested messages, packed repeated fields)
5     fixed32             4 bytes little-endian (``float``, ``fixed32``)
====  ==================  ================================================

Groups (wire types 3 and 4) are deprecated and not supported. Interpreting a value
(which field is a double, which a nested message) is left to the caller, who knows the
schema; unknown fields can then be skipped as protobuf parsers do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")


class ProtobufError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``buf[pos:]`` and the position after it.

    Raises:
        ProtobufError: for a varint running past the end or longer than 10 bytes.
    """
    result, shift = 0, 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """The fields of one message, in order.

    Yields:
        ``(field_number, wire_type, value)``: an int for a varint, the raw bytes for the
        other wire types (8 for fixed64, 4 for fixed32, the payload for a
        length-delimited field).

    Raises:
        ProtobufError: for field number 0, an unsupported wire type, or a value that runs
            past the end of ``buf``.
    """
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {pos}")
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire, value
            continue
        if wire == FIXED64:
            size = 8
        elif wire == FIXED32:
            size = 4
        elif wire == LENGTH:
            size, pos = read_varint(buf, pos)
        else:
            raise ProtobufError(f"field {number}: unsupported wire type {wire}")
        if pos + size > end:
            raise ProtobufError(
                f"field {number}: {size}-byte value runs past the end of the message"
            )
        yield number, wire, buf[pos : pos + size]
        pos += size


def as_double(raw: bytes) -> float:
    """A fixed64 value read as an IEEE-754 ``double``."""
    return float(_DOUBLE.unpack(raw)[0])


def as_int32(value: int) -> int:
    """A varint read as ``int32``: negative numbers are sign-extended to 10-byte varints
    on the wire, and parsers keep the low 32 bits."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
