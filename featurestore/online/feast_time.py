"""Times as Feast stores them: a UNIX_TIMESTAMP in its Value message, whole seconds with
featurestore's microseconds beside; and a protobuf Timestamp (Feast's Redis "_ts:<view>").

Feast keeps a timestamp feature as whole seconds since the epoch (`unix_timestamp_val`), a
training set keeps microseconds. So that Feast reads its seconds and featurestore serves exactly
what training saw, the microseconds within the second go to `unix_timestamp_micros` (and
`unix_timestamp_list_micros` for lists), fields Feast does not use (featurestore/protos/value.proto).
They are left unset when zero: a whole-second timestamp is Feast's bytes exactly.
"""
from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.protos.value_pb2 import Value

MICROS_PER_SECOND = 1_000_000


def fill_timestamp(message: Value, micros: int) -> Value:
    seconds, micros_within = divmod(micros, MICROS_PER_SECOND)
    message.unix_timestamp_val = seconds
    if micros_within:
        message.unix_timestamp_micros = micros_within
    return message


def fill_timestamp_list(message: Value, micros: Iterable[int]) -> Value:
    split = [divmod(m, MICROS_PER_SECOND) for m in micros]
    message.unix_timestamp_list_val.val.extend(seconds for seconds, _ in split)
    if any(within for _, within in split):
        message.unix_timestamp_list_micros.extend(within for _, within in split)
    return message


def timestamp_micros(message: Value) -> int:
    return message.unix_timestamp_val * MICROS_PER_SECOND + message.unix_timestamp_micros


def timestamp_list_micros(message: Value) -> list[int]:
    seconds = message.unix_timestamp_list_val.val
    within = list(message.unix_timestamp_list_micros) or [0] * len(seconds)
    return [s * MICROS_PER_SECOND + w for s, w in zip(seconds, within)]


def timestamp_message(micros: int) -> bytes:
    """A protobuf Timestamp's bytes (seconds and nanos) for microseconds since the epoch."""
    seconds, within = divmod(micros, MICROS_PER_SECOND)
    return Timestamp(seconds=seconds, nanos=within * 1_000).SerializeToString()


def timestamp_message_micros(data: bytes) -> int:
    """timestamp_message's inverse (nanos below a microsecond dropped)."""
    stamp = Timestamp.FromString(data)
    return stamp.seconds * MICROS_PER_SECOND + stamp.nanos // 1_000
