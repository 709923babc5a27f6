"""Ending connections whose client stopped reading, without a timer per send.

A send waits while the socket's buffer is full, which is how a client that
stopped reading backpressures its own stream. Bounding every send with
``asyncio.timeout`` (WebSocket) or sse-starlette's anyio scope (SSE) cost 3.6 and
5 µs per send, some 5–10% of the CPU per token. Instead each connection has a
``SendGuard``: a send marks when it began and which task waits on it, and one
``SendWatchdog`` loop for the whole app looks at the guards every second (or a
quarter of the timeout). A send blocked longer than ``HOTSEAT_SEND_TIMEOUT_SECONDS``
is cancelled; ``SendGuard.sending`` turns that cancellation into the caller's
own "client stopped reading" error. A send may overrun the timeout by one tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from starlette.requests import HTTPConnection

_TICK_SECONDS = 1.0


class SendGuard:
    """Watches one connection's sends; ``stalled`` once the watchdog has cancelled one."""

    __slots__ = ("_watchdog", "since", "stalled", "task")

    def __init__(self, watchdog: SendWatchdog) -> None:
        self._watchdog = watchdog
        self.since: float | None = None
        self.task: asyncio.Task[object] | None = None
        self.stalled = False

    @contextlib.contextmanager
    def sending(self, stalled_error: Callable[[], Exception]) -> Iterator[None]:
        """Around one send: past the timeout it is cancelled and ``stalled_error()`` is raised."""
        self.since = self._watchdog.loop.time()
        self.task = asyncio.current_task()
        try:
            yield
        except asyncio.CancelledError:
            if not self.stalled or self.task is None:
                raise
            self.task.uncancel()  # the cancellation was the watchdog's, and it is handled here
            raise stalled_error() from None
        finally:
            self.since = self.task = None

    def close(self) -> None:
        self._watchdog.forget(self)


class SendWatchdog:
    """One loop over every open connection's guard, from the first connection until ``stop()``."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._guards: set[SendGuard] = set()
        self._loop: asyncio.Task[None] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def guard(self) -> SendGuard:
        """A guard for a new connection; ``close()`` it when the connection ends."""
        guard = SendGuard(self)
        self._guards.add(guard)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._watch(), name="send-watchdog")
        return guard

    def forget(self, guard: SendGuard) -> None:
        self._guards.discard(guard)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(_TICK_SECONDS, self.timeout / 4)
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for guard in list(self._guards):
                since, task = guard.since, guard.task
                if (
                    since is not None
                    and task is not None
                    and not guard.stalled
                    and now - since >= self.timeout
                ):
                    guard.stalled = True
                    task.cancel()


def send_watchdog_of(connection: HTTPConnection) -> SendWatchdog:
    """The app's watchdog (``app.state.send_watchdog``, made in ``create_app``)."""
    watchdog: SendWatchdog = connection.app.state.send_watchdog
    return watchdog
