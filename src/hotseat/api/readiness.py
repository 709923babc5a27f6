"""``GET /api/ready``: can this replica serve? Its database and Redis both answer.

``/api/health`` stays free of I/O (a process that is up is alive); readiness
is what a load balancer should route by. Each check has its own short timeout,
and the body names what is down, so an operator sees it at a glance::

    200 {"status": "ready", "database": "ok", "redis": "ok" | "disabled"}
    503 {"status": "unavailable", "database": "down", "redis": "ok",
         "error": {"code": "unavailable", "message": "...", "retryable": true}}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from hotseat.errors import DATABASE_DOWN_MESSAGE, REDIS_DOWN_MESSAGE, Unavailable
from hotseat.interview.records import Records
from hotseat.streaming.wiring import Streaming

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


async def readiness(records: Records, streaming: Streaming) -> dict[str, Any]:
    """The readiness body; ``status`` is ``ready`` only if nothing is down."""
    database, redis = await asyncio.gather(_state(_database(records)), _state(streaming.ping()))
    body: dict[str, Any] = {"database": database, "redis": redis}
    down = [DATABASE_DOWN_MESSAGE] if database == "down" else []
    if redis == "down":
        down.append(REDIS_DOWN_MESSAGE)
    if not down:
        return {"status": "ready", **body}
    return {"status": "unavailable", **body, "error": Unavailable(" ".join(down), retry_after=2).to_dict()}


async def _database(records: Records) -> str:
    await records.ping_database()
    return "ok"


async def _state(probe: Awaitable[str]) -> str:
    """What the probe answers within the timeout, or ``down``."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await probe
    except Exception as exc:
        logger.info("readiness check failed: %s: %s", type(exc).__name__, exc)
        return "down"
