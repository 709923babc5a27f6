"""Orphan timers: a running turn that no client has watched for the grace period is cancelled.

Transports never cancel a turn by going away; this is how a turn nobody follows stops spending the
model. One timer per unwatched running turn (``asyncio`` ``call_later``); when it fires, the other
replicas are asked first whether a client there watches the session (``Peers.watched_elsewhere``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hotseat.streaming.peers import Peers

logger = logging.getLogger(__name__)

# How soon an orphan timer looks again when a client on another replica watches the turn.
_ORPHAN_RECHECK_SECONDS = 1.0


class OrphanTimers:
    """The timers of one runner's unwatched turns, and the checks fired timers started."""

    def __init__(self, grace: float, peers: Peers, cancel: Callable[[str], Awaitable[object]]) -> None:
        self._grace = grace
        self._peers = peers
        self._cancel = cancel
        # turn id -> (its timer, its session); a fired timer stays until its check has decided.
        self._timers: dict[str, tuple[asyncio.TimerHandle, str]] = {}
        # The checks fired timers started: held here, or the loop's weak reference is all that
        # keeps a running task alive; cancelled at close.
        self._checks: set[asyncio.Task[None]] = set()

    def arm(self, turn_id: str, session_id: str, delay: float | None = None) -> None:
        """Start (or restart) the turn's timer: nobody watches its session now."""
        self.disarm(turn_id)
        timer = asyncio.get_running_loop().call_later(
            self._grace if delay is None else delay, self._fired, turn_id
        )
        self._timers[turn_id] = (timer, session_id)

    def disarm(self, turn_id: str) -> None:
        """Stop the turn's timer: someone watches it, or it is ending."""
        armed = self._timers.pop(turn_id, None)
        if armed is not None:
            armed[0].cancel()

    async def close(self) -> None:
        """Cancel the checks still deciding (their turns have ended by now) and wait for them."""
        checks = list(self._checks)
        for check in checks:
            check.cancel()
        await asyncio.gather(*checks, return_exceptions=True)

    def _fired(self, turn_id: str) -> None:
        """A timer fired: run ``_orphaned`` as a task held until it ends."""
        check = asyncio.create_task(self._orphaned(turn_id), name=f"orphan-check:{turn_id}")
        self._checks.add(check)
        check.add_done_callback(self._check_done)

    def _check_done(self, check: asyncio.Task[None]) -> None:
        self._checks.discard(check)
        if not check.cancelled() and check.exception() is not None:
            logger.error("the orphan check of a turn failed", exc_info=check.exception())

    async def _orphaned(self, turn_id: str) -> None:
        """Nobody here has watched the turn for the grace period: cancel it, unless someone elsewhere does."""
        fired = self._timers.get(turn_id)
        if fired is None:
            return  # the turn ended meanwhile
        elsewhere = await self._peers.watched_elsewhere(fired[1])
        if self._timers.get(turn_id) is not fired:
            return  # a watcher came (or came and went) here meanwhile: disarmed or armed anew
        if elsewhere:
            self.arm(turn_id, fired[1], max(self._grace, _ORPHAN_RECHECK_SECONDS))
            return
        await self._cancel(turn_id)
