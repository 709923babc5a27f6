"""``Outbox``: the frames waiting for a WebSocket's one sender task, in the order they were put.

Two kinds of producer feed it. The answers to the client's own frames (``accepted``, errors)
are ``put`` and never wait, so they go out as soon as they happen. A turn's events are
``put_batch``-ed by the follower, which waits while frames are still waiting: a client that
stops reading backpressures only its own follower, and what piles up in the turn's log
meanwhile is read (and merged) in one batch once it reads again.

Not an ``asyncio.Queue``: one costs about 3 KB (four deques and an ``Event``), and an idle
WebSocket's whole budget is 50 KB (S4 in docs/performance.md). This is a list and at most
one waiting future each way, which is all one sender and one follower need.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Goodbye:
    """Put after the last frames to send: the sender ends the connection with this close code."""

    code: int
    reason: str


# Text frames, and binary ones (the interviewer's speech, api.ws_audio).
Item = str | bytes | Goodbye


class Outbox:
    """Frames for one sender; ``take`` waits for some, ``put_batch`` waits for room."""

    __slots__ = ("_items", "_room", "_taker")

    def __init__(self) -> None:
        self._items: list[Item] = []
        self._taker: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None

    def put(self, item: Item) -> None:
        """Add a frame now, ahead of any batch still to come."""
        self._items.append(item)
        _wake(self._taker)

    async def put_batch(self, items: list[Item]) -> None:
        """Add a turn's frames once the sender has taken everything before them."""
        while self._items:
            self._room = asyncio.get_running_loop().create_future()
            await self._room
        self._items.extend(items)
        _wake(self._taker)

    async def take(self) -> list[Item]:
        """Everything waiting, in order (at least one frame)."""
        while not self._items:
            self._taker = asyncio.get_running_loop().create_future()
            await self._taker
        items, self._items = self._items, []
        _wake(self._room)
        return items


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
