"""Background loops that outlive a Redis or database outage.

A replica's heartbeat, sweeper and pub/sub listener run for the life of the
process. When Redis or the database goes away they must neither die nor flood
the log: ``Backoff`` waits longer after each failure (up to a cap), logs the
first failure of a streak once, and logs once more when the loop recovers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class Backoff:
    """Delays after consecutive failures: ``first``, doubling, at most ``cap`` seconds."""

    def __init__(self, what: str, *, first: float = 0.5, cap: float = 10.0) -> None:
        self.what = what
        self._first = first
        self._cap = cap
        self._failures = 0

    @property
    def failing(self) -> bool:
        return self._failures > 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before trying again."""
        if self._failures == 0:
            logger.warning("%s failed (%s: %s); retrying with back-off", self.what, type(exc).__name__, exc)
        self._failures += 1
        return float(min(self._cap, self._first * 2 ** (self._failures - 1)))

    def succeeded(self) -> None:
        if self._failures:
            logger.warning("%s works again after %d failed attempt(s)", self.what, self._failures)
            self._failures = 0


async def run_every(interval: float, what: str, body: Callable[[], Awaitable[object]]) -> None:
    """Call ``body`` every ``interval`` seconds until cancelled; failures back off, never end the loop."""
    backoff = Backoff(what, cap=max(interval, 10.0))
    while True:
        try:
            await body()
        except Exception as exc:
            await asyncio.sleep(backoff.failed(exc))
            continue
        backoff.succeeded()
        await asyncio.sleep(interval)
