"""The Redis connection that replicas share state through, its key names, and its failures.

Every scale-out part (turn logs, announcements, cancels, leases, watcher
presence) uses one client per process, made by ``connect``. Its timeouts are
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

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hotseat.errors import Unavailable

# A blocking read waits this long before it checks that the log it follows still exists.
BLOCK_SECONDS = 5.0
REDIS_DOWN_MESSAGE = "The live-stream store (Redis) cannot be reached; retry in a few seconds."
SESSION_PATTERN = "hotseat:session:*"


def connect(url: str) -> Redis:
    """A client for ``url``; nothing is sent until its first command."""
    return Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        # Longer than a blocking read, which would otherwise time out as a failure.
        socket_timeout=BLOCK_SECONDS + 5.0,
        retry=Retry(NoBackoff(), 1),
    )


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
