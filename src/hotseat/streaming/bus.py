"""Session announcements: tell every connection of a session that a turn started.

A WebSocket client follows a whole session, not one turn, so it must learn of
turns started elsewhere (an HTTP answer, a second tab). ``SessionBus`` is that
fan-out; ``MemorySessionBus`` serves one process, Redis pub/sub many.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnStarted:
    session_id: str
    turn_id: str
    kind: str


# Called in the publisher's task, so it must not block: a WebSocket connection starts a streamer
# task. A callback per subscriber, not a queue and a task waiting on it, because every open
# WebSocket subscribes and idle connections must stay small (S4 in docs/performance.md).
Listener = Callable[[TurnStarted], None]


class SessionBus(Protocol):
    async def publish(self, announcement: TurnStarted) -> None: ...

    def subscribe(self, session_id: str, listener: Listener) -> None:
        """Call ``listener`` with every announcement for the session until ``unsubscribe``."""

    def unsubscribe(self, session_id: str, listener: Listener) -> None: ...


class MemorySessionBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Listener]] = {}

    async def publish(self, announcement: TurnStarted) -> None:
        for listener in list(self._subscribers.get(announcement.session_id, ())):
            try:
                listener(announcement)
            except Exception:
                # One connection's failure must not keep the announcement from the others.
                logger.exception("a listener of session %s failed", announcement.session_id)

    def subscribe(self, session_id: str, listener: Listener) -> None:
        self._subscribers.setdefault(session_id, set()).add(listener)

    def unsubscribe(self, session_id: str, listener: Listener) -> None:
        subscribers = self._subscribers.get(session_id)
        if subscribers is not None:
            subscribers.discard(listener)
            if not subscribers:
                del self._subscribers[session_id]


@contextmanager
def subscription(bus: SessionBus, session_id: str, listener: Listener) -> Iterator[None]:
    bus.subscribe(session_id, listener)
    try:
        yield
    finally:
        bus.unsubscribe(session_id, listener)
