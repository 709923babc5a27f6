"""The Redis connection that replicas share state through, its key names, and its failures.

Every scale-out part (turn logs, announcements, cancels, leases, watcher
presence) uses one client per process, made by ``connect``. Its pool is
bounded and a command waits for a free connection rather than failing:
redis-py's default pool raises "Too many connections" the moment a burst needs
more than it holds (200 turns appending at once did). Its timeouts are
short so that a request fails fast with ``unavailable`` while Redis is down,
and it retries a command once on a fresh connection, because every pooled
connection dies when Redis restarts. Commands are written so that this retry
is harmless (the log's append is idempotent).

Keys (all prefixed ``hotseat:``)::

    log:{turn}          Stream: the turn's events, entry id "<seq>-0" ("0-1" marks an empty log)
    lease:{turn}        String: the replica running the turn; expires unless renewed
    watchers:{session}  Sorted set: replica ids watching the session, scored by expiry (ms)
    session:{session}   Pub/sub channel: turn-started announcements
    cancel:{replica}    Pub/sub channel: turn ids that replica must cancel

The rate buckets and connection counts (``rate:…``, ``conns…``, ``replicas``) are
described in ``api.redis_limits``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hotseat.errors import REDIS_DOWN_MESSAGE, Unavailable

# A blocking read waits this long before it checks that the log it follows still exists.
BLOCK_SECONDS = 5.0
SESSION_PATTERN = "hotseat:session:*"
# Connections one replica keeps to Redis, and how long a command waits for one before it fails.
# Commands are short, and live reads share one connection (``redis_follower``), so 64 serve
# thousands of streams; the wait covers a burst, not an outage (the socket timeouts do).
POOL_SIZE = 64
POOL_WAIT_SECONDS = 5.0


def connect(url: str) -> Redis:
    """A client for ``url``; nothing is sent until its first command."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_SECONDS,
        socket_connect_timeout=2.0,
        # Longer than a blocking read, which would otherwise time out as a failure.
        socket_timeout=BLOCK_SECONDS + 5.0,
        retry=Retry(NoBackoff(), 1),
    )
    return Redis.from_pool(pool)


def log_key(turn_id: str) -> str:
    return f"hotseat:log:{turn_id}"


def lease_key(turn_id: str) -> str:
    return f"hotseat:lease:{turn_id}"


def watchers_key(session_id: str) -> str:
    return f"hotseat:watchers:{session_id}"


def session_channel(session_id: str) -> str:
    return f"hotseat:session:{session_id}"


def cancel_channel(replica_id: str) -> str:
    return f"hotseat:cancel:{replica_id}"


@contextlib.contextmanager
def redis_errors() -> Iterator[None]:
    """Turn Redis failures inside the block into ``Unavailable``, which clients understand."""
    try:
        yield
    except RedisError as exc:
        raise Unavailable(REDIS_DOWN_MESSAGE, retry_after=2) from exc
