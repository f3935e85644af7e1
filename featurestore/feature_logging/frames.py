"""The pipe between a logging process and its writer: length-prefixed frames.

    4 bytes   the payload's length (big-endian)
    payload   a pickle (it starts with byte 0x80, pickle's PROTO opcode): ("layout", key,
              layout), ("flush", token), or ("rows", key, record) for a record marshal
              cannot take (a datetime value); or else marshal of (key, record): a logged
              request, the request path's common case (marshal is about 30% cheaper than
              pickle for lists and dicts of numbers and strings, and no marshal output
              starts with 0x80, which would be type 0 with its reference flag)

The request path keeps payloads only; the length is added when frames are handed over
(fewer objects made per request). Both ends are the same Python (the writer runs
`sys.executable`), so marshal's format, which may change between versions, agrees.
"""
from __future__ import annotations

import marshal
import pickle
import struct

_LENGTH = struct.Struct(">I")
_PICKLE = 0x80


def record_payload(key: int, record: tuple) -> bytes:
    try:
        return marshal.dumps((key, record))
    except ValueError:  # a value marshal does not know (a datetime, a Decimal)
        return pickle.dumps(("rows", key, record), protocol=pickle.HIGHEST_PROTOCOL)


def frames(payloads) -> bytes:
    """Payloads as one run of frames."""
    pack = _LENGTH.pack
    return b"".join(pack(len(payload)) + payload for payload in payloads)


def message_frame(message: tuple) -> bytes:
    return frames([pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)])


def read_frames(buffer: bytearray):
    """The complete frames at the front of buffer (consumed), as messages: ("rows", key,
    record), ("layout", key, layout) or ("flush", token)."""
    while len(buffer) >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer)
        end = _LENGTH.size + size
        if len(buffer) < end:
            return
        payload = bytes(buffer[_LENGTH.size:end])
        del buffer[:end]
        if payload[0] == _PICKLE:
            yield pickle.loads(payload)
        else:
            key, record = marshal.loads(payload)
            yield ("rows", key, record)
