"""Turn logs in Redis Streams, shared by every replica (``HOTSEAT_REDIS_URL``).

One stream per turn (``hotseat:log:{turn}``). Each event is one entry whose id
is ``<seq>-0``, so a reader resumes from any seq with a plain ``XREAD`` after
``<seq>-0``, and the entry holds the event's wire JSON, encoded once by the
writer and reused unchanged by every reader on every replica. ``create`` writes
the marker entry ``0-1``, so an empty log still exists; ``LogMissing`` means the
stream itself is absent.

Appends go through one Lua script that checks and writes atomically (the calls
of every turn share pipelines: ``redis_batch``): the seq
must be one past the last entry, and nothing follows a terminal event. That
fences a replica presumed dead (the sweeper closed its log) out of the log, and
makes the client's retry of an append that did reach Redis harmless. The
terminal event sets the stream's TTL to ``HOTSEAT_LOG_RETENTION_SECONDS``.

A reader first reads what the log holds with one plain ``XREAD``; from then on
it waits on the replica's ``LogFollower`` (``redis_follower``), which follows
every live log its readers wait on with one blocking ``XREAD``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from hotseat.errors import Unavailable
from hotseat.streaming.background import Backoff
from hotseat.streaming.events import Event, EventType
from hotseat.streaming.log import LogMissing
from hotseat.streaming.redis_batch import ScriptBatch
from hotseat.streaming.redis_client import log_key, redis_errors
from hotseat.streaming.redis_follower import BATCH, Entry, LogFollower

# A log whose writer and sweepers all vanished, and so never got its terminal event, still goes.
_UNCLOSED_TTL_SECONDS = 24 * 3600
_OPEN = b"open"
_TERMINAL = frozenset({b"done", b"error"})
# How long a terminal event that Redis refused is retried (readers are waiting for it).
_TERMINAL_RETRY_SECONDS = 600.0
_LOST_MESSAGE = "The live stream of this reply was lost (Redis restarted); retry the turn."

# KEYS[1] the stream; ARGV: seq, type, event JSON, "1" if terminal, retention in ms.
# Returns the seq, or -1 (no log), -2 (closed by a terminal event), -3 (another seq is next).
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local seq = tonumber(ARGV[1])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local last_seq = tonumber(string.match(last[1], '^%d+'))
local fields = last[2]
if last_seq == seq and fields[2] == ARGV[2] and fields[4] == ARGV[3] then return seq end
if fields[2] == 'done' or fields[2] == 'error' then return -2 end
if seq ~= last_seq + 1 then return -3 end
redis.call('XADD', KEYS[1], seq .. '-0', 't', ARGV[2], 'j', ARGV[3])
if ARGV[4] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return seq
"""


class _OutOfStep(LogMissing):
    """The log's last seq is not the one before this event's."""


class LogLost(Unavailable):
    """The writer's log vanished from Redis (a restart without persistence): the turn cannot go on."""


class RedisStreamLog:
    """``StreamLog`` on Redis Streams; the writer is the replica that created the log."""

    def __init__(self, redis: Redis, retention_seconds: float = 300.0) -> None:
        self._redis = redis
        self._retention_ms = max(1, int(retention_seconds * 1000))
        self._appends = ScriptBatch(redis, _APPEND)
        # The next seq of each log this replica writes (the runner is a log's only writer).
        self._next: dict[str, int] = {}
        self._retries: set[asyncio.Task[None]] = set()
        self._follower = LogFollower(redis, _events)

    async def create(self, turn_id: str) -> None:
        key = log_key(turn_id)
        with redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.xadd(key, {"t": _OPEN}, id="0-1")
                pipe.expire(key, _UNCLOSED_TTL_SECONDS)
                await pipe.execute()
        self._next[turn_id] = 1

    async def append(self, turn_id: str, type: EventType, payload: dict[str, Any]) -> Event:
        seq = self._next.get(turn_id)
        if seq is None:
            raise LogMissing(turn_id)
        event = Event(turn_id, seq, type, payload)
        if not event.terminal:
            # Counted before the write: a cancelled caller does not stop it (``ScriptBatch``).
            self._next[turn_id] = seq + 1
            await self._write(event)
            return event
        del self._next[turn_id]
        try:
            try:
                await self._write(event)
            except _OutOfStep:
                event = await self._write_after_last(event)
        except LogLost:
            raise
        except Unavailable as exc:
            # Readers wait for this event: write it once Redis is back (the outcome is stored).
            self._retry_later(event, exc)
            raise
        return event

    async def _write_after_last(self, event: Event) -> Event:
        """The terminal event, right after what the log holds: a delta whose write failed (Redis
        briefly unreachable) may or may not have landed, so this writer's count may be off."""
        last = await self.last_seq(event.turn_id)
        if last is None:
            raise LogMissing(event.turn_id)
        moved = Event(event.turn_id, last + 1, event.type, event.payload)
        await self._write(moved)
        return moved

    def _retry_later(self, event: Event, failure: Unavailable) -> None:
        task = asyncio.create_task(self._write_eventually(event, failure), name=f"end:{event.turn_id}")
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _write_eventually(self, event: Event, failure: Unavailable) -> None:
        backoff = Backoff(f"logging the end of turn {event.turn_id}")
        delay = backoff.failed(failure)
        deadline = asyncio.get_running_loop().time() + _TERMINAL_RETRY_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(delay)
            try:
                await self._write(event)
            except (LogMissing, LogLost):
                return
            except Unavailable as exc:
                delay = backoff.failed(exc)
                continue
            backoff.succeeded()
            return

    async def close_abandoned(self, turn_id: str, seq: int, type: EventType, payload: dict[str, Any]) -> bool:
        """Append the terminal event of a turn whose writer died; False if the log moved on or is gone."""
        try:
            await self._write(Event(turn_id, seq, type, payload))
        except (LogMissing, LogLost):
            return False
        return True

    async def _write(self, event: Event) -> None:
        terminal = "1" if event.terminal else "0"
        with redis_errors():
            result = await self._appends.call(
                log_key(event.turn_id), [event.seq, event.type, event.json, terminal, self._retention_ms]
            )
        if result == -1:
            raise LogLost(_LOST_MESSAGE)
        if result == -3:
            raise _OutOfStep(event.turn_id)
        if result != event.seq:
            raise LogMissing(event.turn_id)

    async def events(self, turn_id: str) -> list[Event] | None:
        """The whole log at once, or None if there is none (the sweeper's view of a dead turn)."""
        with redis_errors():
            entries = await self._redis.xrange(log_key(turn_id), min="0-2", max="+")
            if not entries and not await self._redis.exists(log_key(turn_id)):
                return None
        return _events(turn_id, cast(Sequence[Entry], entries))

    async def read(self, turn_id: str, after: int = 0) -> AsyncIterator[list[Event]]:
        key = log_key(turn_id)
        cursor: bytes | str = f"{max(after, 0)}-0"
        with redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xrevrange(key, count=1)
                pipe.xread({key: cursor}, count=BATCH)
                last, response = await pipe.execute()
        if not last:
            raise LogMissing(turn_id)
        if not response and last[0][1][b"t"] in _TERMINAL:
            return  # the reader has the whole turn already
        entries = _entries(response)
        if entries:
            cursor = entries[-1][0]
            batch = _events(turn_id, entries)
            if batch:
                yield batch
                if batch[-1].terminal:
                    return
        async with self._follower.follow(turn_id, cursor) as inbox:
            while True:
                batch = await inbox.get()
                yield batch
                if batch[-1].terminal:
                    return

    async def last_seq(self, turn_id: str) -> int | None:
        """The seq of the log's last event (0 if it has none yet), or None if there is no log."""
        with redis_errors():
            entries = await self._redis.xrevrange(log_key(turn_id), count=1)
        if not entries:
            return None
        return _seq(cast(bytes, entries[0][0]))

    async def drop(self, turn_id: str) -> None:
        self._next.pop(turn_id, None)
        with redis_errors():
            await self._redis.delete(log_key(turn_id))

    async def aclose(self) -> None:
        """Stop retrying terminal events; the client belongs to the caller, who closes it."""
        for task in self._retries:
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
        self._next.clear()
        await self._follower.aclose()
        await self._appends.aclose()


def _entries(response: Any) -> Sequence[Entry]:
    # RESP2 XREAD: [[key, [(id, {field: value}), ...]]], or None when a blocking read timed out.
    if not response:
        return ()
    return cast(Sequence[Entry], response[0][1])


def _seq(entry_id: bytes) -> int:
    return int(entry_id.partition(b"-")[0])


def _events(turn_id: str, entries: Sequence[Entry]) -> list[Event]:
    events = []
    for entry_id, fields in entries:
        kind = fields[b"t"]
        if kind == _OPEN:
            continue
        text = fields[b"j"].decode()
        payload: dict[str, Any] = orjson.loads(text)
        for key in ("type", "turn_id", "seq"):  # a delta's frame has no turn_id
            payload.pop(key, None)
        type = cast(EventType, kind.decode())
        event = Event(turn_id, _seq(entry_id), type, payload, _json=text)
        events.append(event)
    return events
