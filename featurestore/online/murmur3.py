"""MurmurHash3 (x86, 32-bit, seed 0): how Feast's Redis online store names a feature's hash field.

Feast stores feature `f` of view `v` in the field murmur3_32("v:f") as 4 little-endian bytes
(its `_mmh3`, with the `mmh3` package). Written out here, so the Redis store needs no C
extension; field names are computed once per feature and cached by the store.
tests/feast/test_feast_online.py checks the fields against Feast's own reads.
"""
from __future__ import annotations

import struct

_C1, _C2, _MASK = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """The unsigned 32-bit MurmurHash3 of data."""
    h = seed & _MASK
    whole = len(data) - len(data) % 4
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = _rotl((k * _C1) & _MASK, 15) * _C2 & _MASK
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _MASK
    tail = data[whole:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= _rotl((k * _C1) & _MASK, 15) * _C2 & _MASK
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def feature_field(view_name: str, feature_name: str) -> bytes:
    """The hash field of a view's feature in Feast's Redis layout."""
    return struct.pack("<I", murmur3_32(f"{view_name}:{feature_name}".encode()))
