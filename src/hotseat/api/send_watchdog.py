"""Ending connections whose client stopped reading, without a timer per send.

A send waits while the socket's buffer is full, which is how a client that
stopped reading backpressures its own stream. Bounding every send with
``asyncio.timeout`` (WebSocket) or sse-starlette's anyio scope (SSE) cost 3.6 and
5 µs per send, some 5–10% of the CPU per token. Instead each connection has a
``SendGuard``: a send marks when it began and which task waits on it, and one
``SendWatchdog`` loop for the whole app looks at the guards every second (or a
quarter of the timeout). A send blocked longer than ``HOTSEAT_SEND_TIMEOUT_SECONDS``
is cancelled, and its ``SendGuard`` turns that cancellation into the caller's
own "client stopped reading" error. A send may overrun the timeout by one tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import HTTPConnection

_TICK_SECONDS = 1.0


class SendGuard:
    """Watches one connection's sends: ``with guard: await send(...)``.

    Past the timeout the watchdog cancels the send, and the ``with`` raises
    ``stalled_error()`` instead of the cancellation. A plain class and not a
    ``contextlib.contextmanager``, which would cost a generator per send.
    """

    __slots__ = ("_loop", "_stalled_error", "_watchdog", "since", "stalled", "task")

    def __init__(self, watchdog: SendWatchdog, stalled_error: Callable[[], BaseException]) -> None:
        self._watchdog = watchdog
        self._loop = asyncio.get_running_loop()
        self._stalled_error = stalled_error
        self.since: float | None = None
        self.task: asyncio.Task[object] | None = None
        self.stalled = False

    def __enter__(self) -> None:
        self.since = self._loop.time()
        self.task = asyncio.current_task()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        task, self.since, self.task = self.task, None, None
        if kind is asyncio.CancelledError and self.stalled and task is not None:
            task.uncancel()  # the cancellation was the watchdog's, and it is handled here
            raise self._stalled_error() from None

    def close(self) -> None:
        self._watchdog.forget(self)


class SendWatchdog:
    """One loop over every open connection's guard, from the first connection until ``stop()``."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._guards: set[SendGuard] = set()
        self._task: asyncio.Task[None] | None = None

    def guard(self, stalled_error: Callable[[], BaseException]) -> SendGuard:
        """A guard for a new connection; ``close()`` it when the connection ends."""
        guard = SendGuard(self, stalled_error)
        self._guards.add(guard)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="send-watchdog")
        return guard

    def forget(self, guard: SendGuard) -> None:
        self._guards.discard(guard)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

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
