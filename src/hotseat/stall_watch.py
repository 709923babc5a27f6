"""Noticing waits that last longer than a timeout, for any number of them, without a timer each.

A deadline per wait (``asyncio.timeout``, sse-starlette's anyio scope, aiohttp's
``sock_read``) makes and cancels a timer for every send or read: per token, per
stream. Instead each watched thing notes when its current wait began
(``waiting_since``, None while not waiting), and one ``StallWatch`` task looks at
all of them every quarter of the timeout (at most every second) and calls
``stall()`` on each that has waited at least the timeout. A stall is noticed up to
one tick late. The task runs from the first ``watch`` until ``stop()``: a task that
came and went with the connections would make the process's task count (which the
hardening tests compare before and after) depend on timing.

Used for sends to clients that stopped reading (``api/send_watchdog.py``) and for
reads from a model server that went silent (``llm/openai.py``).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

MAX_TICK_SECONDS = 1.0


class Waiting(Protocol):
    """Something whose waits are watched."""

    # When the current wait began (the event loop's clock), or None while not waiting.
    waiting_since: float | None

    def stall(self) -> None:
        """The wait has lasted the timeout: end it. Also clears ``waiting_since``."""


class StallWatch:
    def __init__(self, timeout: float, name: str) -> None:
        self.timeout = timeout
        self._name = name
        self._watched: set[Waiting] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, item: Waiting) -> None:
        """Watch ``item`` until ``forget(item)``."""
        self._watched.add(item)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)

    def forget(self, item: Waiting) -> None:
        self._watched.discard(item)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(MAX_TICK_SECONDS, self.timeout / 4)
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for item in list(self._watched):
                since = item.waiting_since
                if since is not None and now - since >= self.timeout:
                    item.stall()
