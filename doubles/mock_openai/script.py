"""The behaviours queued for a mock's next chat requests, and the record of the requests it served."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Callable

from doubles.mock_openai.behaviours import Behaviour, Outcome, Reply, RequestRecord


class RequestScript:
    """A FIFO of behaviours (then :attr:`default`) and a record per chat request.

    Every method is safe to call from any thread: the mock serves on its own loop while a test
    scripts and observes it from another.
    """

    def __init__(self, default: Behaviour | None, *, keep_records: bool) -> None:
        self.default: Behaviour = default if default is not None else Reply()
        self.keep_records = keep_records
        self.outcome_counts: collections.Counter[str] = collections.Counter()
        self.tokens_sent_total = 0
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._records: list[RequestRecord] = []
        self._request_count = 0
        # One condition guards the queue and the records and wakes every waiter.
        self._cond = threading.Condition()
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    # ----------------------------------------------------------------- scripting

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Append behaviours; each chat request consumes the oldest one."""
        with self._cond:
            self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """How many enqueued behaviours have not been consumed yet."""
        with self._cond:
            return len(self._queue)

    def reset(self) -> None:
        """Forget the queue, the records and the default; for reuse between tests with no
        request in flight."""
        with self._cond:
            self._queue.clear()
            self._records.clear()
            self._request_count = 0
            self.default = Reply()
            self.outcome_counts.clear()
            self.tokens_sent_total = 0

    def _take_behaviour(self) -> Behaviour:
        with self._cond:
            return self._queue.popleft() if self._queue else self.default

    # ----------------------------------------------------------------- observing

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot list of the chat requests so far; the records themselves are live."""
        with self._cond:
            return list(self._records)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` is true; it is re-checked whenever a request
        arrives, sends tokens or ends. Raises ``TimeoutError`` after ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"mock upstream: condition not met within {timeout} s")

    async def wait_until_async(self, predicate: Callable[[], bool]) -> None:
        """:meth:`wait_until` for async code, without blocking its loop or a thread.

        Bound it with ``asyncio.timeout``.
        """
        loop = asyncio.get_running_loop()
        while True:
            waker = (loop, asyncio.Event())
            with self._cond:
                if predicate():
                    return
                self._async_waiters.add(waker)
            try:
                await waker[1].wait()
            finally:
                with self._cond:
                    self._async_waiters.discard(waker)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        """Block until at least ``count`` chat requests have arrived; return them all."""
        self.wait_until(lambda: len(self._records) >= count, timeout)
        return self.requests

    def wait_for_outcome(self, index: int, timeout: float = 5.0) -> Outcome:
        """Block until chat request number ``index`` (0-based) has arrived and ended."""

        def decided() -> bool:
            return len(self._records) > index and self._records[index].outcome is not None

        try:
            self.wait_until(decided, timeout)
        except TimeoutError:
            with self._cond:
                state = repr(self._records[index]) if len(self._records) > index else "not arrived"
            raise TimeoutError(
                f"mock upstream: request {index} undecided after {timeout} s ({state})"
            ) from None
        outcome = self._records[index].outcome
        assert outcome is not None
        return outcome

    async def wait_for_outcome_async(self, index: int) -> Outcome:
        """:meth:`wait_for_outcome` for async code; bound it with ``asyncio.timeout``."""

        def decided() -> bool:
            return len(self._records) > index and self._records[index].outcome is not None

        await self.wait_until_async(decided)
        outcome = self._records[index].outcome
        assert outcome is not None
        return outcome

    def _notify(self) -> None:
        """Wake every waiter; call with ``self._cond`` held."""
        self._cond.notify_all()
        for loop, event in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed
                loop.call_soon_threadsafe(event.set)

    def _new_record(self, headers: dict[str, str]) -> RequestRecord:
        with self._cond:
            record = RequestRecord(index=self._request_count, headers=headers)
            self._request_count += 1
            if self.keep_records:
                self._records.append(record)
            self._notify()
        return record

    def _add_tokens(self, record: RequestRecord, count: int) -> None:
        with self._cond:
            record.tokens_sent += count
            self.tokens_sent_total += count
            self._notify()

    def _decide(self, record: RequestRecord, outcome: Outcome) -> None:
        with self._cond:
            if record.outcome is None:
                record.outcome = outcome
                self.outcome_counts[outcome] += 1
            self._notify()
