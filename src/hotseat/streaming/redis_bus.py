"""Turn announcements between replicas: Redis pub/sub, one channel per session.

``publish`` hands the announcement to this replica's own subscribers at once
(the turn is running here, whatever Redis does) and publishes it on
``hotseat:session:{id}`` for the other replicas; the ``RedisListener`` passes
what they publish to ``deliver``, which skips this replica's own messages so no
connection hears of a turn twice. A failed publish is logged, never raised: the
turn is already running, and a client elsewhere still finds it through the
database when it connects.
"""

from __future__ import annotations

import logging

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from hotseat.streaming.background import Backoff
from hotseat.streaming.bus import Listener, MemorySessionBus, TurnStarted
from hotseat.streaming.redis_client import session_channel

logger = logging.getLogger(__name__)

_PREFIX = len(session_channel(""))


class RedisSessionBus:
    def __init__(self, redis: Redis, replica_id: str) -> None:
        self._redis = redis
        self._replica = replica_id
        self._local = MemorySessionBus()
        self._failures = Backoff("publishing turn announcements to Redis")

    async def publish(self, announcement: TurnStarted) -> None:
        await self._local.publish(announcement)
        message = orjson.dumps([self._replica, announcement.turn_id, announcement.kind])
        try:
            await self._redis.publish(session_channel(announcement.session_id), message)
        except RedisError as exc:
            self._failures.failed(exc)
        else:
            self._failures.succeeded()

    async def deliver(self, channel: bytes, data: bytes) -> None:
        """A message from the listener; announcements from this replica were delivered already."""
        replica, turn_id, kind = orjson.loads(data)
        if replica != self._replica:
            await self._local.publish(TurnStarted(channel[_PREFIX:].decode(), turn_id, kind))

    def subscribe(self, session_id: str, listener: Listener) -> None:
        self._local.subscribe(session_id, listener)

    def unsubscribe(self, session_id: str, listener: Listener) -> None:
        self._local.unsubscribe(session_id, listener)
