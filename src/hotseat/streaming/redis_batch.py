"""One Lua script called by many turns at once, sent to Redis in shared pipelines.

Every token of every turn is one call of the turn log's append script. Sent one
by one, each call paid redis-py's whole command path (a pooled connection
checked out, a timeout scope, a write, a wait, a read), which took a large share
of a Redis replica's event loop in a profile (``bench.profile_hotseat``; see
docs/performance.md). ``ScriptBatch`` queues the calls made while a pipeline is
in flight and sends them together in the next one, so under load a round trip
carries many tokens, and when idle a call goes out at once. Each caller still
gets its own result or error; a call whose caller was cancelled is sent anyway
(the script is idempotent) and its result dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

_Call = tuple[str, list[Any], "asyncio.Future[Any]"]
# The most calls one pipeline carries: a burst is split, so no reply waits on a huge one.
MAX_BATCH = 500


class ScriptBatch:
    def __init__(self, redis: Redis, script: str) -> None:
        self._redis = redis
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._queued: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None

    async def call(self, key: str, args: list[Any]) -> Any:
        """The script's result for one key; raises what Redis or the connection raised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((key, args, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="redis-script-batch")
        return await future

    async def _send_all(self) -> None:
        batch: list[_Call] = []
        try:
            while self._queued:
                batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
                try:
                    results = await self._send(batch)
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue  # its caller was cancelled
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._sender = None
            # Closed mid-flight (aclose): nobody may wait forever for a call that was never answered.
            for _, _, future in [*batch, *self._queued]:
                if not future.done():
                    future.set_exception(RedisConnectionError("the Redis client was closed"))
            self._queued = []

    async def _send(self, batch: list[_Call]) -> list[Any]:
        results = await self._pipeline(batch)
        if any(isinstance(result, NoScriptError) for result in results):
            # A Redis that restarted (or flushed its scripts) has forgotten it: load it, send again.
            await self._redis.script_load(self._script)
            results = await self._pipeline(batch)
        return results

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, args, _ in batch:
                pipe.evalsha(self._sha, 1, key, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    async def aclose(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
