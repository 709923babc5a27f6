"""Which errors mean "the database or Redis is down" rather than "hotseat has a bug".

The store and the Redis modules raise their failures as ``HotseatError`` where they
happen: ``DatabaseUnavailable`` or ``DatabaseBusy`` (``store.failures``), and
``Unavailable`` for Redis (``streaming.redis_client.redis_errors``, the log follower).
Clients get them as ``unavailable`` or ``busy`` (503, retryable) like any other error.
Here they are recognised, so that the writes that must not be lost retry through them
(``retry_outages``), background work logs them as one line instead of a traceback, and a
WebSocket closes with 1013 (try again later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from hotseat.errors import DatabaseBusy, DatabaseUnavailable, Unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a write that must not be lost (a turn's outcome, an assessment) keeps trying through
# a busy pool or a short outage: about 8 s in all, longer than the pool's own timeout.
PERSIST_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)

Outage = Literal["database", "redis"]


def outage_of(exc: BaseException) -> Outage | None:
    """The dependency whose absence caused ``exc``, or None if ``exc`` is not an outage."""
    if isinstance(exc, DatabaseBusy | DatabaseUnavailable):
        return "database"
    if isinstance(exc, Unavailable):
        return "redis"  # the database's are DatabaseUnavailable; every other one is Redis's
    return None


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
            cause = exc.__cause__ or exc  # the driver's own error says more
            logger.warning("%s failed (%s); retrying in %.2f s", what, type(cause).__name__, delay)
        await asyncio.sleep(delay)
    return await action()
