"""One blocking ``XREAD`` per replica for every turn log its clients follow live.

Before this, each client following a live turn issued its own blocking
``XREAD``: every waiting reader held a pooled Redis connection, and every event
cost one round trip per reader. redis-py's pool is bounded, so a replica with
more live readers than pooled connections failed their turns with "Too many
connections" (bench S1 in Redis mode; docs/performance.md has the scale-out runs).

The follower issues one ``XREAD BLOCK`` over all the logs this replica's
readers wait on, plus the replica's wake stream. A reader that starts following
while that ``XREAD`` is blocked adds one entry to the wake stream, so the
``XREAD`` returns at once and the next one includes the new log. Each log's
entries are decoded once and handed to every local reader of that log, each of
which skips what it already has (readers of one log may start at different
seqs; the log is then read from the earliest).

A failed ``XREAD`` (Redis down) ends every current reader with ``Unavailable``,
as its own ``XREAD`` did before; a log that vanished (expired, or dropped)
ends its readers with ``LogMissing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hotseat.errors import REDIS_DOWN_MESSAGE, Unavailable
from hotseat.streaming.events import Event
from hotseat.streaming.log import LogMissing
from hotseat.streaming.redis_client import BLOCK_SECONDS, log_key

# Most entries one XREAD returns per log: a reader far behind catches up in a few large batches.
BATCH = 1000
# The shortest time between two XREADs. Each one names every followed log, so its cost grows with
# their number; once one returns, the next waits this long and collects what arrived meanwhile in
# one call, delaying an event by at most this much.
MIN_INTERVAL_SECONDS = 0.005
# Entries kept in a wake stream: only its newest id matters.
_WAKE_MAXLEN = 16
_WAKE_TTL_SECONDS = 24 * 3600

EntryId = tuple[int, int]
Entry = tuple[bytes, dict[bytes, bytes]]
Decode = Callable[[str, Sequence[Entry]], list[Event]]


def parse_id(entry_id: bytes | str) -> EntryId:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


class Inbox:
    """One reader's batches, put by the follower, taken by the reader in order."""

    __slots__ = ("_batches", "_error", "_ready", "last_seq")

    def __init__(self, last_seq: int) -> None:
        self.last_seq = last_seq  # the reader has every event up to this seq
        self._batches: deque[list[Event]] = deque()
        self._error: BaseException | None = None
        self._ready = asyncio.Event()

    def put(self, events: list[Event]) -> None:
        if events[-1].seq <= self.last_seq:
            return
        if events[0].seq <= self.last_seq:
            events = [e for e in events if e.seq > self.last_seq]
        self.last_seq = events[-1].seq
        self._batches.append(events)
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    async def get(self) -> list[Event]:
        """The next batch; raises what ended the follow (``Unavailable``, ``LogMissing``)."""
        while not self._batches:
            if self._error is not None:
                raise self._error
            self._ready.clear()
            await self._ready.wait()
        return self._batches.popleft()


class _Follow:
    __slots__ = ("cursor", "heard", "inboxes", "turn_id")

    def __init__(self, turn_id: str, cursor: EntryId, now: float) -> None:
        self.turn_id = turn_id
        self.cursor = cursor  # XREAD returns entries after this id
        self.inboxes: set[Inbox] = set()
        self.heard = now  # when an entry last arrived (or the follow began)


class LogFollower:
    """Follows turn logs for this replica's readers over one blocking ``XREAD``."""

    def __init__(self, redis: Redis, decode: Decode) -> None:
        self._redis = redis
        self._decode = decode
        self._wake_key = f"hotseat:wake:{secrets.token_hex(8)}".encode()
        self._wake_id: EntryId = (0, 0)
        self._follows: dict[bytes, _Follow] = {}  # by log key
        self._task: asyncio.Task[None] | None = None
        self._blocked = False  # an XREAD is in flight
        self._woken = False  # a wake was sent for it
        self._wakes: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def readers(self) -> int:
        """Readers waiting on the follower, over all its logs."""
        return sum(len(follow.inboxes) for follow in self._follows.values())

    @contextlib.asynccontextmanager
    async def follow(self, turn_id: str, after: bytes | str) -> AsyncIterator[Inbox]:
        """Entries of ``turn_id``'s log after entry id ``after``, as batches in an ``Inbox``."""
        if self._closed:
            raise Unavailable(REDIS_DOWN_MESSAGE)
        cursor = parse_id(after)
        inbox = Inbox(cursor[0])
        key = log_key(turn_id).encode()
        loop = asyncio.get_running_loop()
        follow = self._follows.get(key)
        if follow is None:
            follow = self._follows[key] = _Follow(turn_id, cursor, loop.time())
            self._wake()
        elif cursor < follow.cursor:
            follow.cursor = cursor  # read again from here; the other readers skip what they have
            self._wake()
        follow.inboxes.add(inbox)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-log-follower")
        try:
            yield inbox
        finally:
            follow.inboxes.discard(inbox)
            if not follow.inboxes and self._follows.get(key) is follow:
                del self._follows[key]  # the next XREAD leaves it out

    def _wake(self) -> None:
        """Make a blocked XREAD return, so that the next one includes a change to the follows."""
        if not self._blocked or self._woken:
            return
        self._woken = True
        task = asyncio.create_task(self._send_wake(), name="redis-log-follower-wake")
        self._wakes.add(task)
        task.add_done_callback(self._wakes.discard)

    async def _send_wake(self) -> None:
        with contextlib.suppress(RedisError):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": b"1"}, maxlen=_WAKE_MAXLEN, approximate=True)
                pipe.expire(self._wake_key, _WAKE_TTL_SECONDS)
                await pipe.execute()
        # If the wake failed, so will the XREAD: its readers then end with Unavailable.

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time() + BLOCK_SECONDS
        try:
            while self._follows:
                streams: dict[Any, Any] = {
                    key: f"{f.cursor[0]}-{f.cursor[1]}" for key, f in self._follows.items()
                }
                streams[self._wake_key] = f"{self._wake_id[0]}-{self._wake_id[1]}"
                started = loop.time()
                self._blocked, self._woken = True, False
                try:
                    response = await self._redis.xread(streams, count=BATCH, block=int(BLOCK_SECONDS * 1000))
                except RedisError:
                    self._end_all(Unavailable(REDIS_DOWN_MESSAGE, retry_after=2))
                    return
                finally:
                    self._blocked = False
                now = loop.time()
                self._deliver(cast(Sequence[Any], response or ()), now)
                if now >= next_check:
                    next_check = now + BLOCK_SECONDS
                    await self._end_vanished(now)
                pause = started + MIN_INTERVAL_SECONDS - loop.time()
                if pause > 0 and self._follows:
                    await asyncio.sleep(pause)
        finally:
            self._task = None

    def _deliver(self, response: Sequence[Any], now: float) -> None:
        # RESP2 XREAD: [[key, [(id, {field: value}), ...]], ...]
        for key, entries in response:
            if key == self._wake_key:
                self._wake_id = parse_id(entries[-1][0])
                continue
            follow = self._follows.get(key)
            if follow is None or not entries:
                continue
            follow.cursor = parse_id(entries[-1][0])
            follow.heard = now
            events = self._decode(follow.turn_id, entries)
            if not events:
                continue
            for inbox in follow.inboxes:
                inbox.put(events)
            if events[-1].terminal:
                del self._follows[key]  # nothing follows a terminal event

    async def _end_vanished(self, now: float) -> None:
        """End the readers of logs that were quiet for a whole block and no longer exist."""
        quiet = [(key, f) for key, f in self._follows.items() if now - f.heard >= BLOCK_SECONDS]
        if not quiet:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _ in quiet:
                    pipe.exists(key)
                found = await pipe.execute()
        except RedisError:
            self._end_all(Unavailable(REDIS_DOWN_MESSAGE, retry_after=2))
            return
        for (key, follow), exists in zip(quiet, found, strict=True):
            follow.heard = now
            if not exists and self._follows.get(key) is follow:
                del self._follows[key]
                for inbox in follow.inboxes:
                    inbox.fail(LogMissing(follow.turn_id))

    def _end_all(self, error: Unavailable) -> None:
        follows, self._follows = self._follows, {}
        for follow in follows.values():
            for inbox in follow.inboxes:
                inbox.fail(error)

    async def aclose(self) -> None:
        """End every reader (as if Redis went away) and stop."""
        self._closed = True
        self._end_all(Unavailable(REDIS_DOWN_MESSAGE, retry_after=2))
        tasks = [*self._wakes, *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
