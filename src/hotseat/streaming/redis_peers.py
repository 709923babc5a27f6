"""``Peers`` through Redis: turn leases, remote cancel and watcher presence.

- **Leases.** Each running turn has ``hotseat:lease:{turn}`` = this replica's id,
  with a TTL of ``HOTSEAT_TURN_LEASE_SECONDS``. The heartbeat renews every lease
  (and re-creates any that a Redis restart lost) every third of that. A
  replica that dies stops renewing, its leases expire, and a survivor's
  ``Sweeper`` ends its turns. Assessments queued or running here hold the same
  kind of lease, so the sweeper can record a dead replica's as not assessed.
- **Cancel.** ``cancel_remote`` reads the lease to learn which replica runs the
  turn and publishes the turn id on that replica's ``hotseat:cancel:{replica}``
  channel. That replica's listener calls the runner's local cancel, which
  stops the model stream at once (within one token). The sender then follows
  the turn's log until its terminal event, so, as a local cancel, it returns
  only once the outcome is stored.
- **Presence.** ``hotseat:watchers:{session}`` is a sorted set of the replicas
  with a client following the session, each scored by when its entry expires.
  ``watch`` and ``unwatch`` update it at once, the heartbeat keeps live entries
  fresh, and ``watched_elsewhere`` counts unexpired entries of other replicas.

Replicas compare expiry scores written with their own clocks: keep the clocks
in sync (NTP) to well within a lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hotseat.streaming.background import Backoff
from hotseat.streaming.log import LogMissing
from hotseat.streaming.redis_client import (
    cancel_channel,
    lease_key,
    redis_errors,
    watchers_key,
)
from hotseat.streaming.redis_log import RedisStreamLog

logger = logging.getLogger(__name__)

CancelHere = Callable[[str], Coroutine[Any, Any, bool]]


class RedisPeers:
    def __init__(self, redis: Redis, log: RedisStreamLog, replica_id: str, lease_seconds: float) -> None:
        self._redis = redis
        self._log = log
        self.replica_id = replica_id
        self.lease_seconds = lease_seconds
        self._lease_ms = int(lease_seconds * 1000)
        self._running: set[str] = set()
        self._watched: set[str] = set()
        self._cancel_here: CancelHere | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._closed = False
        self._failures = Backoff("updating turn leases and watchers in Redis")

    @property
    def heartbeat_seconds(self) -> float:
        return self.lease_seconds / 3

    def bind(self, cancel_here: CancelHere) -> None:
        """Where cancels addressed to this replica go: the runner's local cancel."""
        self._cancel_here = cancel_here

    # -- leases ---------------------------------------------------------------------

    async def turn_started(self, turn_id: str) -> None:
        self._running.add(turn_id)
        await self._quietly(self._redis.set(lease_key(turn_id), self.replica_id, px=self._lease_ms))

    async def turn_ended(self, turn_id: str) -> None:
        self._running.discard(turn_id)
        await self._quietly(self._redis.delete(lease_key(turn_id)))

    async def assessment_started(self, assessment_id: str) -> None:
        # The same lease as a turn's: ids are random, so an assessment's never names a turn.
        await self.turn_started(assessment_id)

    async def assessment_ended(self, assessment_id: str) -> None:
        await self.turn_ended(assessment_id)

    def running(self) -> frozenset[str]:
        """The turns and assessments this replica holds leases for."""
        return frozenset(self._running)

    async def heartbeat(self) -> None:
        """Renew every lease and presence entry of this replica (one round trip)."""
        if not self._running and not self._watched:
            return
        expires = _now_ms() + self._lease_ms
        async with self._redis.pipeline(transaction=False) as pipe:
            for turn_id in self._running:
                pipe.set(lease_key(turn_id), self.replica_id, px=self._lease_ms)
            for session_id in self._watched:
                key = watchers_key(session_id)
                pipe.zadd(key, {self.replica_id: expires})
                pipe.pexpire(key, self._lease_ms)
            await pipe.execute()

    # -- cancel ---------------------------------------------------------------------

    async def cancel_remote(self, turn_id: str) -> bool:
        with redis_errors():
            raw = await self._redis.get(lease_key(turn_id))
            owner = raw.decode() if isinstance(raw, bytes) else raw
            if owner is None or owner == self.replica_id:
                return False
            if not await self._redis.publish(cancel_channel(owner), turn_id):
                return False  # that replica is gone; the sweeper ends its turns
        await self._wait_for_end(turn_id)
        return True

    async def on_cancel(self, _channel: bytes, data: bytes) -> None:
        """A cancel addressed to this replica (from the listener)."""
        if self._cancel_here is not None and not self._closed:
            self._spawn(self._cancel_here(data.decode()))

    async def _wait_for_end(self, turn_id: str) -> None:
        # Bounded: a replica that dies meanwhile has its turn ended by a sweeper within two leases.
        last = await self._log.last_seq(turn_id)
        if last is None:
            return
        try:
            async with asyncio.timeout(2 * self.lease_seconds + 30):
                async for batch in self._log.read(turn_id, after=max(last - 1, 0)):
                    if batch[-1].terminal:
                        return
        except (TimeoutError, LogMissing):
            return

    # -- presence -------------------------------------------------------------------

    def watch(self, session_id: str) -> None:
        self._watched.add(session_id)
        key = watchers_key(session_id)

        async def mark() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {self.replica_id: _now_ms() + self._lease_ms})
                pipe.pexpire(key, self._lease_ms)
                await pipe.execute()

        if not self._closed:
            self._spawn(self._quietly(mark()))

    def unwatch(self, session_id: str) -> None:
        self._watched.discard(session_id)
        if not self._closed:
            self._spawn(self._quietly(self._redis.zrem(watchers_key(session_id), self.replica_id)))

    async def watched_elsewhere(self, session_id: str) -> bool:
        try:
            members = await self._redis.zrangebyscore(watchers_key(session_id), _now_ms(), "+inf")
        except RedisError as exc:
            self._failures.failed(exc)
            return True  # cannot tell: keep the turn rather than cancel it blind
        return any(member != self.replica_id.encode() for member in members)

    # -- helpers --------------------------------------------------------------------

    async def _quietly(self, write: Awaitable[Any]) -> None:
        """Best effort: the heartbeat repeats every write that fails while Redis is away."""
        try:
            await write
        except RedisError as exc:
            self._failures.failed(exc)
        else:
            self._failures.succeeded()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        # Callers check ``_closed`` first: once the client is closed, a write would open a connection
        # that nobody closes.
        task = asyncio.create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def aclose(self) -> None:
        self._closed = True
        for task in self._writes:
            task.cancel()
        await asyncio.gather(*self._writes, return_exceptions=True)


def _now_ms() -> int:
    return int(time.time() * 1000)
