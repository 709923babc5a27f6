"""Which failures mean "the database or Redis is down" rather than "hotseat has a bug".

An outage is reported to clients as ``unavailable`` (503, retryable) and logged
as one line; a bug stays ``internal`` with its traceback. A database pool with no
connection free within ``HOTSEAT_DATABASE_POOL_TIMEOUT_SECONDS`` (overload, not an
outage) is reported as ``busy`` (503, retryable), also as one line. ``api/errors.py``
maps exceptions with ``unavailable_error``; the background loops use
``outage_of`` to decide whether a traceback is worth logging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from redis.exceptions import RedisError
from sqlalchemy import exc as sa

from hotseat.errors import Busy, Unavailable
from hotseat.streaming.redis_client import REDIS_DOWN_MESSAGE

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a write that must not be lost (a turn's outcome, an assessment) keeps trying through
# a busy pool or a short outage: about 8 s in all, longer than the pool's own timeout.
PERSIST_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)

DATABASE_DOWN_MESSAGE = "The database cannot be reached; retry in a few seconds."
DATABASE_BUSY_MESSAGE = "The server is too busy to reach its database right now; retry in a few seconds."

Outage = Literal["database", "redis"]

# The exception classes an outage surfaces as (``api/errors.py`` answers them without a traceback).
OUTAGE_TYPES: tuple[type[Exception], ...] = (RedisError, sa.DBAPIError, sa.TimeoutError, ConnectionError)


def outage_of(exc: BaseException) -> Outage | None:
    """The dependency whose absence caused ``exc``, or None if ``exc`` is not an outage."""
    if isinstance(exc, Unavailable):
        cause = exc.__cause__
        return "redis" if cause is None or isinstance(cause, RedisError) else outage_of(cause)
    if isinstance(exc, RedisError):
        return "redis"
    if isinstance(exc, sa.DBAPIError):
        lost = exc.connection_invalidated or isinstance(exc, sa.OperationalError | sa.InterfaceError)
        return "database" if lost else None
    if isinstance(exc, sa.TimeoutError):  # no pooled connection came free in time
        return "database"
    # Connecting, asyncpg raises its own errors and refused or reset sockets without wrapping them.
    if isinstance(exc, ConnectionError) or type(exc).__module__.startswith("asyncpg"):
        return "database"
    return None


def unavailable_error(exc: BaseException) -> Busy | Unavailable | None:
    """``exc`` as the error a client gets, if it is an outage (or the database pool is exhausted)."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, sa.TimeoutError):
        return Busy(DATABASE_BUSY_MESSAGE, retry_after=2)
    outage = outage_of(exc)
    if outage is None:
        return None
    message = REDIS_DOWN_MESSAGE if outage == "redis" else DATABASE_DOWN_MESSAGE
    return Unavailable(message, retry_after=2)


async def retry_outages(
    what: str, action: Callable[[], Awaitable[T]], delays: tuple[float, ...] = PERSIST_RETRY_DELAYS
) -> T:
    """Run ``action``, and again after each of ``delays`` while it fails with an outage or busy pool.

    Anything else, and the last failure, propagates. ``what`` names the action in the log.
    """
    for delay in delays:
        try:
            return await action()
        except Exception as exc:
            if outage_of(exc) is None:
                raise
            logger.warning("%s failed (%s); retrying in %.2f s", what, type(exc).__name__, delay)
        await asyncio.sleep(delay)
    return await action()
