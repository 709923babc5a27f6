"""The turn log: numbered events of one turn, readable live from any seq.

``StreamLog`` is the interface; ``MemoryStreamLog`` keeps logs in this process
(the single-machine default). A Redis Streams implementation shares them
between replicas. The runner is the only writer of a turn's log; any number
of readers follow it, each at its own pace, without slowing the writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

from hotseat.streaming.events import Event, EventType


class LogMissing(LookupError):
    """The turn has no log here (never started, or dropped after retention)."""


class StreamLog(Protocol):
    async def create(self, turn_id: str) -> None:
        """Open an empty log for a new turn."""

    async def append(self, turn_id: str, type: EventType, payload: dict[str, Any]) -> Event:
        """Append an event with the next seq; a terminal event closes the log."""

    def read(self, turn_id: str, after: int = 0) -> AsyncIterator[list[Event]]:
        """Yield batches of events with seq > ``after``, live, ending after the terminal one.

        Raises ``LogMissing`` (on first iteration) if the turn has no log.
        """

    async def drop(self, turn_id: str) -> None:
        """Forget a turn's log (after it ended and was persisted)."""

    async def aclose(self) -> None: ...


class _TurnLog:
    __slots__ = ("_loop", "_waiters", "closed", "events")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False
        self._loop = asyncio.get_running_loop()
        # A bare future per waiting reader, not an asyncio.Event: an Event per wait also made a
        # deque and a coroutine, and its wait a lookup of the loop (bench S3, docs/performance.md).
        # Not one future shared by the readers: cancelling one reader would cancel it for all.
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for waiter in waiters:
                if not waiter.done():  # a reader cancelled while waiting
                    waiter.set_result(None)

    def wait(self) -> asyncio.Future[None]:
        """A future done at the next append (or when the log is dropped)."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter


class MemoryStreamLog:
    """Turn logs held in this process; each dropped ``retention`` seconds after it closes."""

    def __init__(self, retention_seconds: float = 300.0) -> None:
        self._logs: dict[str, _TurnLog] = {}
        self._retention = retention_seconds
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._logs)

    async def create(self, turn_id: str) -> None:
        self._logs[turn_id] = _TurnLog()

    async def append(self, turn_id: str, type: EventType, payload: dict[str, Any]) -> Event:
        log = self._logs.get(turn_id)
        if log is None or log.closed:
            raise LogMissing(turn_id)
        event = Event(turn_id, len(log.events) + 1, type, payload)
        log.events.append(event)
        if event.terminal:
            log.closed = True
            self._timers[turn_id] = asyncio.get_running_loop().call_later(
                self._retention, self._expire, turn_id
            )
        log.notify()
        return event

    async def read(self, turn_id: str, after: int = 0) -> AsyncIterator[list[Event]]:
        log = self._logs.get(turn_id)
        if log is None:
            raise LogMissing(turn_id)
        position = max(after, 0)
        while True:
            events = log.events
            if len(events) > position:
                batch = events[position:]
                position = len(events)
                yield batch
                if batch[-1].terminal:
                    return
            elif log.closed:
                return
            else:
                await log.wait()

    async def drop(self, turn_id: str) -> None:
        self._expire(turn_id)

    def _expire(self, turn_id: str) -> None:
        timer = self._timers.pop(turn_id, None)
        if timer is not None:
            timer.cancel()
        log = self._logs.pop(turn_id, None)
        if log is not None:
            log.notify()

    async def aclose(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._logs.clear()
