"""Which turn log, session bus and peers a process uses, and their background tasks.

Without ``HOTSEAT_REDIS_URL``, ``Streaming`` keeps everything in the process,
exactly as a single replica needs (and nothing runs in the background). With
it, ``RedisStreaming`` shares logs, announcements, cancels, leases and watcher
presence with the other replicas through Redis, and runs three tasks for the
life of the process, each of which survives Redis going away:

- the pub/sub listener (announcements from other replicas, cancels for this one);
- the heartbeat, renewing this replica's leases and presence every lease / 3;
- the sweeper, ending the turns of dead replicas (see ``streaming.sweeper``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from typing import Literal

from redis.asyncio import Redis

from hotseat.config import Settings
from hotseat.errors import REDIS_DOWN_MESSAGE, Unavailable
from hotseat.store.repo import Store
from hotseat.streaming.background import run_every
from hotseat.streaming.bus import MemorySessionBus, SessionBus
from hotseat.streaming.log import MemoryStreamLog, StreamLog
from hotseat.streaming.peers import Peers, Standalone
from hotseat.streaming.redis_bus import RedisSessionBus
from hotseat.streaming.redis_client import (
    SESSION_PATTERN,
    cancel_channel,
    connect,
    redis_errors,
)
from hotseat.streaming.redis_listener import RedisListener
from hotseat.streaming.redis_log import RedisStreamLog
from hotseat.streaming.redis_peers import RedisPeers
from hotseat.streaming.runner import TurnRunner
from hotseat.streaming.sweeper import Sweeper

PING_TIMEOUT_SECONDS = 2.0


class Streaming:
    """One process: logs, announcements and watchers live in memory."""

    shared = False

    def __init__(self, settings: Settings) -> None:
        self.log: StreamLog = MemoryStreamLog(settings.log_retention_seconds)
        self.bus: SessionBus = MemorySessionBus()
        self.peers: Peers = Standalone()

    def start(self, runner: TurnRunner) -> None:
        """Start the background work for ``runner`` (none in one process)."""

    async def ping(self) -> Literal["ok", "disabled"]:
        """Whether the shared store answers; raises ``Unavailable`` if it does not."""
        return "disabled"

    async def aclose(self) -> None:
        """Stop the background work and close connections."""


class RedisStreaming(Streaming):
    """Replicas: logs in Redis Streams, announcements and cancels over pub/sub, leases and presence."""

    shared = True

    def __init__(self, settings: Settings, store: Store) -> None:
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.redis: Redis = connect(settings.redis_url)
        log = RedisStreamLog(self.redis, settings.log_retention_seconds)
        bus = RedisSessionBus(self.redis, self.replica_id)
        self._peers = RedisPeers(self.redis, log, self.replica_id, settings.turn_lease_seconds)
        self.log, self.bus, self.peers = log, bus, self._peers
        self._sweeper = Sweeper(store, log, self.redis, settings.turn_lease_seconds, self._peers.running)
        self._listener = RedisListener(
            self.redis,
            channels={cancel_channel(self.replica_id): self._peers.on_cancel},
            patterns={SESSION_PATTERN: bus.deliver},
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, runner: TurnRunner) -> None:
        self._peers.bind(runner.cancel_local)
        self._tasks = [
            asyncio.create_task(self._listener.run(), name="redis-listener"),
            asyncio.create_task(
                run_every(self._peers.heartbeat_seconds, "the lease heartbeat", self._peers.heartbeat),
                name="lease-heartbeat",
            ),
            asyncio.create_task(
                run_every(self._sweeper.interval_seconds, "the dead-turn sweeper", self._sweeper.sweep_all),
                name="dead-turn-sweeper",
            ),
        ]

    async def ping(self) -> Literal["ok", "disabled"]:
        """Redis answers, and this replica's listener is subscribed (it hears cancels and turns)."""
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                with redis_errors():
                    await self.redis.ping()
        except TimeoutError:
            raise Unavailable(REDIS_DOWN_MESSAGE) from None
        if not self._listener.subscribed.is_set():
            raise Unavailable("This replica is not yet subscribed to Redis; retry in a few seconds.")
        return "ok"

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._peers.aclose()
        await self.redis.aclose()


def open_streaming(settings: Settings, store: Store) -> Streaming:
    """The streaming parts the settings ask for; nothing connects until first used."""
    if settings.redis_url:
        return RedisStreaming(settings, store)
    return Streaming(settings)
