"""The rate limits and connection caps of ``api.limits``, shared by every replica through Redis.

With ``HOTSEAT_REDIS_URL`` set, a candidate who spreads requests over three
replicas gets the same allowance as one who stays on one: the counts live in
Redis, and each check is one Lua script, so two replicas can never both take
the last token or the last connection slot. Times come from Redis's own clock
(``TIME``), so the replicas' clocks do not matter.

Keys (prefixed ``hotseat:``)::

    rate:{kind}:{owner|ip}:{key}  Hash {tokens, at}: one token bucket; expires once it would be full
    conns                         Hash {replica: open connections}: the total, per replica
    conns:{owner}                 Hash {replica: open connections}: one owner's, per replica
    replicas                      Sorted set: live replica ids, scored by when they stop being live (ms)

Connection counts are kept per replica so that a replica that dies does not
hold its slots forever: it stops renewing its entry in ``replicas``, and the
next check drops the counts of every replica no longer live. A replica also
knows its own counts exactly (``MemoryConnectionCounter``); when a Redis
command fails, or Redis restarts empty, its heartbeat writes them back
(``reconcile``), so the shared counts converge to the truth once Redis is back.
While Redis is down, new connections and counted actions are refused with
``unavailable``: the live streams need Redis anyway.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from hotseat.api.limits import CONNECTION_RETRY_AFTER, Limits, MemoryConnectionCounter, Rate, RateLimiter
from hotseat.config import Settings
from hotseat.errors import Busy, RateLimited
from hotseat.streaming.redis_client import redis_errors

REPLICAS_KEY = "hotseat:replicas"
TOTAL_CONNECTIONS_KEY = "hotseat:conns"
# An owner's hash outlives any real connection; it only bounds what a lost release can leave.
OWNER_CONNECTIONS_TTL_SECONDS = 86_400

# KEYS: one bucket per limited rate. ARGV: tokens per second and burst, per key, then the cost.
# Returns "0" when the cost (at most a bucket's burst) was taken from every bucket, else the
# seconds to wait (nothing taken).
_TAKE_TOKEN = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local tokens, costs, wait = {}, {}, 0
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local have = burst
  if state[1] then
    have = math.min(burst, tonumber(state[1]) + (now - tonumber(state[2])) * rate)
  end
  tokens[i] = have
  costs[i] = math.min(tonumber(ARGV[#ARGV]), burst)
  if have < costs[i] then wait = math.max(wait, (costs[i] - have) / rate) end
end
if wait > 0 then return tostring(wait) end
for i = 1, #KEYS do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - costs[i]), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - tokens[i] + costs[i]) / rate * 1000) + 1000)
end
return '0'
"""

# KEYS: replicas, total hash, owner hash. ARGV: replica id, max total, max per owner, owner TTL.
# Returns {0, 0} when counted, {1, owner's count} over the owner's cap, {2, total} over the total.
_ACQUIRE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local function live_sum(key)
  local fields, sum = redis.call('HGETALL', key), 0
  for i = 1, #fields, 2 do
    local replica = fields[i]
    local until_ms = redis.call('ZSCORE', KEYS[1], replica)
    if replica == ARGV[1] or (until_ms and tonumber(until_ms) > now) then
      sum = sum + tonumber(fields[i + 1])
    else
      redis.call('HDEL', key, replica)
    end
  end
  return sum
end
local mine = live_sum(KEYS[3])
if tonumber(ARGV[3]) > 0 and mine >= tonumber(ARGV[3]) then return {1, mine} end
local total = live_sum(KEYS[2])
if tonumber(ARGV[2]) > 0 and total >= tonumber(ARGV[2]) then return {2, total} end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {0, 0}
"""

# KEYS: total hash, owner hash. ARGV: replica id.
_RELEASE = """
for i = 1, 2 do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[i], ARGV[1]) end
end
return 1
"""

# KEYS: replicas. ARGV: replica id, lease (ms). Marks the replica live for one lease and forgets dead
# ones. Returns 0 if the replica was not live until now (it just started, Redis lost its data, or it
# missed its lease): others may have dropped its counts, so they must all be written back.
_HEARTBEAT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if known and tonumber(known) > now then return 1 end
return 0
"""


def rate_key(kind: str, by: str, key: str) -> str:
    return f"hotseat:rate:{kind}:{by}:{key}"


def owner_connections_key(owner: str) -> str:
    return f"{TOTAL_CONNECTIONS_KEY}:{owner}"


class RedisRateLimiter:
    """``RateLimiter`` with its per-owner and per-IP buckets in Redis, checked and taken atomically."""

    def __init__(self, redis: Redis, kind: str, refusal: str, per_owner: Rate, per_ip: Rate) -> None:
        self._kind = kind
        self._refusal = refusal
        limited = [(rate, by) for rate, by in ((per_owner, "owner"), (per_ip, "ip")) if rate.limited]
        self._by = [by for _rate, by in limited]
        # The script's ARGV: tokens per second and burst of each limited bucket, in key order.
        self._args = [number for rate, _by in limited for number in (rate.per_minute / 60.0, rate.burst)]
        self._script: AsyncScript = redis.register_script(_TAKE_TOKEN)

    async def hit(self, owner: str, ip: str, cost: float = 1.0) -> None:
        if not self._by:
            return
        keys = [rate_key(self._kind, by, owner if by == "owner" else ip) for by in self._by]
        with redis_errors():
            wait = float(await self._script(keys=keys, args=[*self._args, cost]))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(self._refusal.format(wait=seconds), retry_after=float(seconds))


class RedisConnectionCounter:
    """``ConnectionCounter`` whose caps hold across every replica (see the module docstring)."""

    def __init__(
        self, redis: Redis, replica_id: str, max_total: int, max_per_owner: int, *, lease_seconds: float
    ) -> None:
        self._redis = redis
        self.replica_id = replica_id
        self._max_total = max_total
        self._max_per_owner = max_per_owner
        self._lease_ms = int(lease_seconds * 1000)
        self.heartbeat_seconds = lease_seconds / 3
        # This replica's own connections, exactly: what ``reconcile`` writes back after a failure.
        self._local = MemoryConnectionCounter(0, 0)
        # Owners whose shared count may be wrong (a failed command); rewritten by ``reconcile``.
        self._stale: set[str] = set()
        self._total_stale = False
        self._releases: set[asyncio.Task[None]] = set()
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._heartbeat = redis.register_script(_HEARTBEAT)

    async def acquire(self, owner: str) -> None:
        keys = [REPLICAS_KEY, TOTAL_CONNECTIONS_KEY, owner_connections_key(owner)]
        args: list[str | int] = [
            self.replica_id,
            self._max_total,
            self._max_per_owner,
            OWNER_CONNECTIONS_TTL_SECONDS,
        ]
        try:
            with redis_errors():
                refused, count = await self._acquire(keys=keys, args=args)
        except Exception:
            # The script may or may not have counted the connection: let reconcile settle it.
            self._stale.add(owner)
            self._total_stale = True
            raise
        if refused == 1:
            raise RateLimited(
                f"You already have {count} connections open, the most allowed; close another tab "
                "or wait for a stream to end.",
                retry_after=CONNECTION_RETRY_AFTER,
            )
        if refused == 2:
            raise Busy(
                "The server has as many open connections as it allows; try again in a moment.",
                retry_after=CONNECTION_RETRY_AFTER,
            )
        await self._local.acquire(owner)

    async def release(self, owner: str) -> None:
        # Often called while the connection's task is being cancelled (the client went away), where
        # an await would be cancelled too: the shared count is decremented by a task of its own.
        await self._local.release(owner)
        task = asyncio.create_task(self._release_shared(owner), name="release-connection-slot")
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_shared(self, owner: str) -> None:
        try:
            await self._release(
                keys=[TOTAL_CONNECTIONS_KEY, owner_connections_key(owner)], args=[self.replica_id]
            )
        except RedisError:
            # The connection is gone whatever Redis says; its slot is freed when reconcile runs.
            self._stale.add(owner)
            self._total_stale = True

    def open_count(self) -> int:
        return self._local.open_count()

    async def heartbeat(self) -> None:
        """Keep this replica live (its counts count), and write back counts a failure left stale."""
        was_live = await self._heartbeat(keys=[REPLICAS_KEY], args=[self.replica_id, self._lease_ms])
        if not was_live:
            self._stale.update(self._local.owner_ids())
            self._total_stale = True
        await self.reconcile()

    async def reconcile(self) -> None:
        """Set this replica's shared counts to its own, for the owners a failure may have skewed."""
        if not self._stale and not self._total_stale:
            return
        stale, self._stale, self._total_stale = self._stale, set(), False
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(TOTAL_CONNECTIONS_KEY, self.replica_id, self._local.open_count())
                for owner in stale:
                    key, count = owner_connections_key(owner), self._local.count(owner)
                    if count:
                        pipe.hset(key, self.replica_id, count)
                        pipe.expire(key, OWNER_CONNECTIONS_TTL_SECONDS)
                    else:
                        pipe.hdel(key, self.replica_id)
                await pipe.execute()
        except BaseException:
            self._stale |= stale
            self._total_stale = True
            raise

    async def settle(self) -> None:
        """Wait until every release so far has reached Redis (or been marked for ``reconcile``)."""
        await asyncio.gather(*self._releases, return_exceptions=True)

    async def forget(self) -> None:
        """At shutdown: stop counting this replica's connections (best effort; death does the same)."""
        await self.settle()
        try:
            await self._redis.zrem(REPLICAS_KEY, self.replica_id)
            await self._redis.hdel(TOTAL_CONNECTIONS_KEY, self.replica_id)
        except RedisError:
            pass


def shared_limits(
    settings: Settings, running_for_owner: Callable[[str], int], redis: Redis, replica_id: str
) -> tuple[Limits, RedisConnectionCounter]:
    """Limits counted in Redis for every replica, and the counter whose heartbeat must run."""
    counter = RedisConnectionCounter(
        redis,
        replica_id,
        settings.max_connections,
        settings.max_connections_per_owner,
        lease_seconds=settings.turn_lease_seconds,
    )

    def rate_limiter(kind: str, refusal: str, per_owner: Rate, per_ip: Rate) -> RateLimiter:
        return RedisRateLimiter(redis, kind, refusal, per_owner, per_ip)

    limits = Limits.from_settings(settings, running_for_owner, connections=counter, rate_limiter=rate_limiter)
    return limits, counter
