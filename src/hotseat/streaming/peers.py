"""What a replica's turn runner tells, and asks, the other replicas.

With several replicas a turn runs on one of them while its clients may be
connected to any other. The runner stays the same; it reports what it does to
its ``Peers`` and asks them what it cannot see itself:

- ``turn_started`` / ``turn_ended``: hold a lease on each running turn, so a
  surviving replica can tell when this one died (``RedisPeers``);
- ``assessment_started`` / ``assessment_ended``: the same for each assessment
  running or queued here, so a survivor can record a dead replica's as not assessed;
- ``cancel_remote``: cancel a turn that is not running here, wherever it runs;
- ``watch`` / ``unwatch`` / ``watched_elsewhere``: whether a client on another
  replica follows a session, so the orphan timer spares a turn watched there.

``Standalone`` is the single-process default: there is nobody to tell.
"""

from __future__ import annotations

from typing import Protocol


class Peers(Protocol):
    async def turn_started(self, turn_id: str) -> None:
        """A turn started running here (it may not raise: the turn runs regardless)."""

    async def turn_ended(self, turn_id: str) -> None:
        """A turn running here ended, its outcome stored and its terminal event logged."""

    async def assessment_started(self, assessment_id: str) -> None:
        """An assessment is queued or running here (it may not raise)."""

    async def assessment_ended(self, assessment_id: str) -> None:
        """An assessment here has its outcome stored, or was given up."""

    async def cancel_remote(self, turn_id: str) -> bool:
        """Cancel a turn running on another replica and wait until it ended; False if it runs nowhere."""

    def watch(self, session_id: str) -> None:
        """A first client here follows the session."""

    def unwatch(self, session_id: str) -> None:
        """The last client here that followed the session left."""

    async def watched_elsewhere(self, session_id: str) -> bool:
        """Whether a client on another replica follows the session."""


class Standalone:
    """One process: every turn and every client is local."""

    async def turn_started(self, turn_id: str) -> None:
        return None

    async def turn_ended(self, turn_id: str) -> None:
        return None

    async def assessment_started(self, assessment_id: str) -> None:
        return None

    async def assessment_ended(self, assessment_id: str) -> None:
        return None

    async def cancel_remote(self, turn_id: str) -> bool:
        return False

    def watch(self, session_id: str) -> None:
        return None

    def unwatch(self, session_id: str) -> None:
        return None

    async def watched_elsewhere(self, session_id: str) -> bool:
        return False
