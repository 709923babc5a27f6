"""Off-loop work with a bounded queue: the embedded speech models run here, never on the event loop.

A model call takes a CPU for up to seconds. Each model gets its own small
thread pool; at most ``queue_limit`` calls wait behind the running ones, and
one more is refused at once with ``busy`` (503, retryable) rather than queued
for an unbounded time, as the embedded language model does with its queue.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from hotseat.errors import Busy

T = TypeVar("T")

# What a refused caller is told to wait: one model call is about a second.
BUSY_RETRY_AFTER = 2.0


class Slots:
    """At most ``limit`` calls in flight; one more raises ``Busy`` with ``what`` in its message.

    Counted under a lock because a slot is freed from the worker thread when its call ends, which
    may be after the awaiting coroutine was cancelled (a thread cannot be stopped mid-call).
    """

    def __init__(self, limit: int, what: str) -> None:
        self._limit = limit
        self._what = what
        self._taken = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self._taken >= self._limit:
                raise Busy(
                    f"{self._what} is busy with other requests; try again in a moment.",
                    retry_after=BUSY_RETRY_AFTER,
                )
            self._taken += 1

    def give_back(self) -> None:
        with self._lock:
            self._taken -= 1

    @property
    def taken(self) -> int:
        return self._taken


class BoundedWorker:
    """``threads`` worker threads, and room for ``queue_limit`` calls waiting for them."""

    def __init__(self, name: str, what: str, *, threads: int = 1, queue_limit: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self.slots = Slots(threads + queue_limit, what)

    async def run(self, call: Callable[[], T]) -> T:
        """Run ``call`` on a worker thread; ``Busy`` when the queue is full.

        Cancelling the caller drops a call that is still queued; one already running finishes
        in its thread and its result is discarded.
        """
        self.slots.take()
        try:
            future: Future[T] = self._pool.submit(call)
        except BaseException:
            self.slots.give_back()
            raise
        future.add_done_callback(lambda _: self.slots.give_back())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Drop queued calls; a running one ends in its thread (it cannot be interrupted)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
