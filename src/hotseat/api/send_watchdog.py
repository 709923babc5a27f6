"""Ending connections whose client stopped reading, without a timer per send.

A send waits while the socket's buffer is full, which is how a client that
stopped reading backpressures its own stream. Bounding every send with
``asyncio.timeout`` (WebSocket) or an anyio scope (SSE) arms and cancels a timer on
every send, a cost paid per token (docs/performance.md). Instead each connection has a
``SendGuard``: a send marks when it began and which task waits on it, and the
app's ``SendWatchdog`` watches every guard with one ``StallWatch`` task
(``hotseat.stall_watch``). A send blocked longer than ``HOTSEAT_SEND_TIMEOUT_SECONDS``
is cancelled, and its ``SendGuard`` turns that cancellation into the caller's
own "client stopped reading" error. A send may overrun the timeout by one tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import HTTPConnection

from hotseat.stall_watch import StallWatch


class SendGuard:
    """Watches one connection's sends: ``with guard: await send(...)``.

    Past the timeout the watchdog cancels the send, and the ``with`` raises
    ``stalled_error()`` instead of the cancellation. A plain class and not a
    ``contextlib.contextmanager``, which would cost a generator per send.
    """

    __slots__ = ("_loop", "_stalled_error", "_watchdog", "stalled", "task", "waiting_since")

    def __init__(self, watchdog: SendWatchdog, stalled_error: Callable[[], BaseException]) -> None:
        self._watchdog = watchdog
        self._loop = asyncio.get_running_loop()
        self._stalled_error = stalled_error
        self.waiting_since: float | None = None  # while a send waits: when it began
        self.task: asyncio.Task[object] | None = None
        self.stalled = False

    def __enter__(self) -> None:
        self.waiting_since = self._loop.time()
        # Given the loop, current_task skips looking up the running loop: 0.18 µs, not 0.46 µs,
        # paid on every token.
        self.task = asyncio.current_task(self._loop)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        task, self.waiting_since, self.task = self.task, None, None
        if kind is asyncio.CancelledError and self.stalled and task is not None:
            task.uncancel()  # the cancellation was the watchdog's, and it is handled here
            raise self._stalled_error() from None

    def stall(self) -> None:
        """Past the timeout (``StallWatch``): cancel the send; ``__exit__`` raises ``stalled_error()``."""
        self.waiting_since = None
        if self.task is not None:
            self.stalled = True
            self.task.cancel()

    def close(self) -> None:
        self._watchdog.forget(self)


class SendWatchdog:
    """The guards of every open connection, watched by one task until ``stop()``."""

    def __init__(self, timeout: float) -> None:
        self._stalls = StallWatch(timeout, "send-watchdog")

    def guard(self, stalled_error: Callable[[], BaseException]) -> SendGuard:
        """A guard for a new connection; ``close()`` it when the connection ends."""
        guard = SendGuard(self, stalled_error)
        self._stalls.watch(guard)
        return guard

    def forget(self, guard: SendGuard) -> None:
        self._stalls.forget(guard)

    def stop(self) -> None:
        self._stalls.stop()


def send_watchdog_of(connection: HTTPConnection) -> SendWatchdog:
    """The app's watchdog (``app.state.send_watchdog``, made in ``create_app``)."""
    watchdog: SendWatchdog = connection.app.state.send_watchdog
    return watchdog
