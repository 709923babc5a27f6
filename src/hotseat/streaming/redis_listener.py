"""One pub/sub connection per replica, kept subscribed through Redis restarts.

A replica listens to two things: every session's turn announcements (one
pattern subscription, ``hotseat:session:*``) and the cancels addressed to it
(``hotseat:cancel:{replica}``). Subscriptions are fixed when the replica
starts, so a new WebSocket costs no Redis round trip and cannot miss an
announcement published while its own SUBSCRIBE was in flight; the bus fans
messages out to local subscribers and drops those for sessions nobody here
follows. If the connection breaks, the listener reconnects with back-off and
subscribes again; what was published meanwhile is lost, as pub/sub always is
(a reconnecting client finds a running turn through the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.asyncio import Redis

from hotseat.streaming.background import Backoff
from hotseat.streaming.redis_client import BLOCK_SECONDS

logger = logging.getLogger(__name__)

# Called with the channel and the message's data.
Handler = Callable[[bytes, bytes], Awaitable[None]]


class RedisListener:
    def __init__(
        self, redis: Redis, *, channels: Mapping[str, Handler], patterns: Mapping[str, Handler]
    ) -> None:
        self._redis = redis
        self._channels = {name.encode(): handler for name, handler in channels.items()}
        self._patterns = {name.encode(): handler for name, handler in patterns.items()}
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any failure."""
        backoff = Backoff("the Redis pub/sub listener")
        while True:
            try:
                await self._listen(backoff)
            except Exception as exc:
                self.subscribed.clear()
                await asyncio.sleep(backoff.failed(exc))

    async def _listen(self, backoff: Backoff) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            if self._channels:
                await pubsub.subscribe(*self._channels)
            if self._patterns:
                await pubsub.psubscribe(*self._patterns)
            self.subscribed.set()
            backoff.succeeded()
            while True:
                message = await pubsub.get_message(timeout=BLOCK_SECONDS)
                if message is not None:
                    await self._dispatch(message)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _dispatch(self, message: dict[str, Any]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        if message.get("type") == "pmessage":
            handler = self._patterns.get(message.get("pattern") or b"")
        else:
            handler = self._channels.get(channel)
        if handler is None:
            return
        try:
            await handler(channel, data)
        except Exception:
            logger.exception("handling a Redis message on %r failed", channel)
