"""Session announcements: tell every connection of a session that a turn started.

A WebSocket client follows a whole session, not one turn, so it must learn of
turns started elsewhere (an HTTP answer, a second tab). ``SessionBus`` is that
fan-out; ``MemorySessionBus`` serves one process, Redis pub/sub many.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TurnStarted:
    session_id: str
    turn_id: str
    kind: str


class SessionBus(Protocol):
    async def publish(self, announcement: TurnStarted) -> None: ...

    def subscribe(self, session_id: str) -> asyncio.Queue[TurnStarted]:
        """A queue of announcements for the session; pass it to ``unsubscribe`` when done."""

    def unsubscribe(self, session_id: str, queue: asyncio.Queue[TurnStarted]) -> None: ...


class MemorySessionBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[TurnStarted]]] = {}

    async def publish(self, announcement: TurnStarted) -> None:
        for queue in self._subscribers.get(announcement.session_id, ()):
            queue.put_nowait(announcement)

    def subscribe(self, session_id: str) -> asyncio.Queue[TurnStarted]:
        queue: asyncio.Queue[TurnStarted] = asyncio.Queue()
        self._subscribers.setdefault(session_id, set()).add(queue)
        return queue

    def unsubscribe(self, session_id: str, queue: asyncio.Queue[TurnStarted]) -> None:
        subscribers = self._subscribers.get(session_id)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[session_id]


@asynccontextmanager
async def subscription(bus: SessionBus, session_id: str) -> AsyncIterator[asyncio.Queue[TurnStarted]]:
    queue = bus.subscribe(session_id)
    try:
        yield queue
    finally:
        bus.unsubscribe(session_id, queue)
