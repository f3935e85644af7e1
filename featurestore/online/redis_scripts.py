"""The Lua scripts of the Redis online store, and the one way they are run (`run`).

Each script is sent by its SHA1 (EVALSHA) and loaded (SCRIPT LOAD) only when Redis answers
NOSCRIPT: on first use, after a restart or a SCRIPT FLUSH. redis-py's register_script would
ask SCRIPT EXISTS before every pipeline, one more round trip per write chunk or read.

Hash layout (see featurestore.online.redis_store): one hash per entity key; a view's fields
are Feast's (each feature's murmur3 field holding a serialized Value, and "_ts:<view>", a
protobuf Timestamp) and featurestore's "<view>:#ts" (event_ts and created_ts in
microseconds as two big-endian int64), by which a write decides what is newer.

redis-py is not imported here: the store imports it on first connect, with an install hint.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from featurestore.online.base import StoredFeatures, stored_features
from featurestore.online.feast_time import timestamp_message_micros


@dataclass(frozen=True)
class LuaScript:
    source: str
    sha: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# KEYS: the rows' hash keys. ARGV: the fence (the generations hash, or '' for none; the view;
# the generation the rows belong to; the view's resetting counter), ttl seconds, featurestore's
# timestamp field, Feast's timestamp field, n = number of feature fields, the n field names,
# then per row: its packed timestamps, its Feast timestamp and its n values. Returns the number
# of rows written: newer than what was stored, or at equal timestamps with other values; -1,
# writing nothing, when the fence does not hold (the hash records another generation for the
# view, or a reset of it is under way).
WRITE_IF_NEWER = LuaScript("""
if ARGV[1] ~= '' then
  if redis.call('HGET', ARGV[1], ARGV[2]) ~= ARGV[3] then return -1 end
  local resetting = redis.call('GET', ARGV[4])
  if resetting and tonumber(resetting) > 0 then return -1 end
end
-- a protobuf Timestamp's bytes (Feast's "_ts:<view>") -> microseconds; nil when unreadable
local function feast_micros(stamp)
  local pos, seconds, nanos = 1, 0, 0
  while pos <= #stamp do
    local tag = string.byte(stamp, pos)
    pos = pos + 1
    local value, scale = 0, 1
    repeat
      local b = string.byte(stamp, pos)
      if not b then return nil end
      pos = pos + 1
      value = value + (b % 128) * scale
      scale = scale * 128
    until b < 128
    if tag == 8 then seconds = value elseif tag == 16 then nanos = value else return nil end
  end
  if seconds >= 2 ^ 63 then seconds = seconds - 2 ^ 64 end  -- a negative int64
  return seconds * 1000000 + math.floor(nanos / 1000)
end
local ttl = tonumber(ARGV[5])
local ts_field = ARGV[6]
local feast_ts_field = ARGV[7]
local n = tonumber(ARGV[8])
local changed = 0
local at = 9 + n
for _, key in ipairs(KEYS) do
  local new_ts = ARGV[at]
  local stamps = redis.call('HMGET', key, ts_field, feast_ts_field)
  local stored_ts = stamps[1]
  local newer = true
  if not stored_ts and stamps[2] then
    -- written by Feast (no featurestore timestamps): newer only by a later event time, as Feast decides
    local stored_micros = feast_micros(stamps[2])
    local high, low = struct.unpack('>i4I4', new_ts)
    if stored_micros and high * 4294967296 + low <= stored_micros then newer = false end
  elseif stored_ts then
    -- int64s split into a signed high and unsigned low half: exact, unlike Lua's doubles
    local a1, a2, a3, a4 = struct.unpack('>i4I4i4I4', new_ts)
    local b1, b2, b3, b4 = struct.unpack('>i4I4i4I4', stored_ts)
    if a1 ~= b1 then newer = a1 > b1
    elseif a2 ~= b2 then newer = a2 > b2
    elseif a3 ~= b3 then newer = a3 > b3
    elseif a4 ~= b4 then newer = a4 > b4
    else
      -- equal timestamps: the row was rewritten in place when any value differs
      local fields = {}
      for i = 1, n do fields[i] = ARGV[8 + i] end
      local stored = redis.call('HMGET', key, unpack(fields))
      newer = false
      for i = 1, n do
        if stored[i] ~= ARGV[at + 1 + i] then newer = true break end
      end
    end
  end
  if newer then
    local hset_args = {ts_field, new_ts, feast_ts_field, ARGV[at + 1]}
    for i = 1, n do
      hset_args[2 * i + 3] = ARGV[8 + i]
      hset_args[2 * i + 4] = ARGV[at + 1 + i]
    end
    redis.call('HSET', key, unpack(hset_args))
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
    changed = changed + 1
  end
  at = at + 2 + n
end
return changed
""")

# KEYS: a view's resetting counter (featurestore.online.redis_store). One reset of the view is
# done: the counter goes down, and the key goes once it reaches 0, so no key outlives the resets.
RESET_DONE = LuaScript("""
local left = redis.call('DECR', KEYS[1])
if left <= 0 then redis.call('DEL', KEYS[1]) end
return left
""")

# KEYS: hash keys. ARGV: the view's two timestamp fields (featurestore's, Feast's), then the
# feature fields. Returns one string holding, per key, the lengths of all the fields
# (big-endian int32, -1 for a missing field) followed by the fields' bytes; a key with neither
# timestamp field (nothing stored for the view) is a single -2. One string instead of a reply
# per value, because parsing many small replies is what costs most in a Python client.
# parse_read_reply reads it.
READ = LuaScript("""
local n = #ARGV
local lengths_format = '>' .. string.rep('i4', n)
local nothing = struct.pack('>i4', -2)
local out = {}
for k, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  if values[1] or values[2] then
    local lengths = {}
    for i = 1, n do
      if values[i] then
        lengths[i] = #values[i]
      else
        lengths[i] = -1
        values[i] = ''
      end
    end
    out[k] = struct.pack(lengths_format, unpack(lengths)) .. table.concat(values)
  else
    out[k] = nothing
  end
end
return table.concat(out)
""")

_LENGTH = struct.Struct(">i")
_EVENT_TS = struct.Struct(">q")


def run(client, script: LuaScript, calls: Sequence[tuple]) -> list:
    """Run script once per call, in one round trip; a call is EVALSHA's arguments after the
    SHA: (number of keys, *keys, *args). Returns the scripts' replies, in order.

    Where Redis answers NOSCRIPT, the script is loaded and only the calls that failed are run
    again, so no call runs twice. Any other error is raised (a redis-py RedisError).
    """
    if len(calls) == 1:  # the common single-view read skips the pipeline's bookkeeping
        try:
            return [client.execute_command("EVALSHA", script.sha, *calls[0])]
        except _redis_exceptions().NoScriptError:  # evaluated only when something was raised
            client.script_load(script.source)
            return [client.execute_command("EVALSHA", script.sha, *calls[0])]
    replies = _evalsha_pipeline(client, script, calls)
    errors = _redis_exceptions()
    missing = [index for index, reply in enumerate(replies) if isinstance(reply, errors.NoScriptError)]
    if missing:
        client.script_load(script.source)
        for index, reply in zip(missing, _evalsha_pipeline(client, script, [calls[i] for i in missing])):
            replies[index] = reply
    for reply in replies:
        if isinstance(reply, errors.ResponseError):
            raise reply
    return replies


def _evalsha_pipeline(client, script: LuaScript, calls: Sequence[tuple]) -> list:
    pipeline = client.pipeline(transaction=False)
    for call in calls:
        pipeline.execute_command("EVALSHA", script.sha, *call)
    return pipeline.execute(raise_on_error=False)


def _redis_exceptions():
    import redis.exceptions

    return redis.exceptions


def event_micros(ours: bytes | None, feasts: bytes | None) -> int:
    """A view's event time in a hash: featurestore's field, or (a hash Feast wrote) Feast's Timestamp."""
    return _EVENT_TS.unpack_from(ours)[0] if ours is not None else timestamp_message_micros(feasts)


def parse_read_reply(blob: bytes, key_count: int, feature_names: Sequence[str]) -> list[StoredFeatures | None]:
    """READ's string -> one StoredFeatures (or None) per key."""
    lengths_struct = struct.Struct(f">{2 + len(feature_names)}i")
    unpack_lengths = lengths_struct.unpack_from
    unpack_first = _LENGTH.unpack_from
    results: list[StoredFeatures | None] = []
    position = 0
    for _ in range(key_count):
        if unpack_first(blob, position)[0] == -2:
            results.append(None)
            position += 4
            continue
        ours_length, feasts_length, *lengths = unpack_lengths(blob, position)
        position += lengths_struct.size
        ours = blob[position:position + ours_length] if ours_length >= 0 else None
        position += max(ours_length, 0)
        feasts = blob[position:position + feasts_length] if feasts_length >= 0 else None
        position += max(feasts_length, 0)
        values = {}
        for name, length in zip(feature_names, lengths):
            if length >= 0:
                values[name] = blob[position:position + length]
                position += length
        results.append(stored_features(values, event_micros(ours, feasts)))
    return results
