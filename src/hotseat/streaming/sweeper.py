"""Ending the turns of a replica that died, so that no client waits for them forever.

Every replica sweeps every ``HOTSEAT_TURN_LEASE_SECONDS / 2`` seconds. A turn
the database says is ``streaming`` whose lease is gone is a *suspect*; if its
lease is still gone at the next sweep, its replica is dead. (One missing look
is not enough: after a Redis restart every lease is gone until the live
replicas' heartbeats, every third of a lease, put them back.) The sweeper then
rebuilds the outcome from the turn's log in Redis, so the text generated so far
is kept, stores it as ``interrupted`` (only if the turn is still streaming, so
one replica wins when several sweep at once), and then, like the runner,
appends the terminal ``error``/``interrupted`` event that readers on every
replica are waiting for.

Assessments get the same two looks: an assessment still ``pending`` in the
database, older than one lease, whose lease is gone twice in a row, belonged to
a replica that died while it was queued or running there. It is recorded as not
assessed (only if still pending), so the candidate's report does not say
"pending" for ever.

Detection time. A replica that dies at *t* last renewed its leases after
*t - lease/3*, so they expire before *t + lease*. The next sweep marks the turn
suspect, the one after confirms it: the turn ends before *t + 2 × lease* (plus
one database update and one Redis write). With the default 10 s lease: 20 s.
Turns younger than one lease are never suspects, which covers the moment
between a turn's row being stored and its lease being taken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import timedelta

from redis.asyncio import Redis

from hotseat.errors import INTERRUPTED_MESSAGE, Interrupted, error_for_code
from hotseat.store.models import utcnow
from hotseat.store.repo import Store
from hotseat.streaming.events import Event
from hotseat.streaming.redis_client import lease_key
from hotseat.streaming.redis_log import RedisStreamLog
from hotseat.streaming.turns import TurnOutcome, TurnStatus

logger = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self,
        store: Store,
        log: RedisStreamLog,
        redis: Redis,
        lease_seconds: float,
        running_here: Callable[[], Collection[str]],
    ) -> None:
        self._store = store
        self._log = log
        self._redis = redis
        self._lease = timedelta(seconds=lease_seconds)
        self.interval_seconds = lease_seconds / 2
        self._running_here = running_here
        self._suspects: set[str] = set()
        self._assessment_suspects: set[str] = set()

    async def sweep(self) -> list[str]:
        """One pass over turns; returns the ids of the turns it ended."""
        dead, self._suspects = await self._dead(
            await self._store.streaming_turns(utcnow() - self._lease), self._suspects
        )
        ended = [turn_id for turn_id in sorted(dead) if await self._end(turn_id)]
        if ended:
            logger.warning("ended %d turn(s) of a replica that stopped: %s", len(ended), ", ".join(ended))
        return ended

    async def sweep_assessments(self) -> list[str]:
        """One pass over assessments; returns the ids found dead (the pending ones are now not assessed)."""
        dead, self._assessment_suspects = await self._dead(
            await self._store.pending_assessments(utcnow() - self._lease), self._assessment_suspects
        )
        if not dead or not await self._store.abandon_pending_assessments(dead):
            return []
        logger.warning("recorded %d assessment(s) of a replica that stopped as not assessed", len(dead))
        return sorted(dead)

    async def sweep_all(self) -> None:
        await self.sweep()
        await self.sweep_assessments()

    async def _dead(self, ids: Collection[str], suspects: set[str]) -> tuple[set[str], set[str]]:
        """Of ``ids``, those not held here whose lease is gone now and was at the last look
        (``suspects``); and the new suspects, whose lease is gone for the first time."""
        here = self._running_here()
        candidates = [item for item in ids if item not in here]
        if not candidates:
            return set(), set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in candidates:
                pipe.exists(lease_key(item))
            leases = await pipe.execute()
        leaseless = {item for item, held in zip(candidates, leases, strict=True) if not held}
        return leaseless & suspects, leaseless - suspects

    async def _end(self, turn_id: str) -> bool:
        events = await self._log.events(turn_id) or []
        outcome = outcome_from_log(turn_id, events)
        if not await self._store.finish_abandoned_turn(outcome):
            return False
        if outcome.error is not None and not (events and events[-1].terminal):
            await self._log.close_abandoned(turn_id, outcome.terminal_seq, "error", outcome.error.to_dict())
        return True


def outcome_from_log(turn_id: str, events: Sequence[Event]) -> TurnOutcome:
    """What to store for a turn whose writer died, from the events it had logged.

    The text is the deltas so far. A log that already has its terminal event
    (its writer died after logging it but before the database had the outcome)
    keeps that ending; any other turn is ``interrupted``.
    """
    parts: list[str] = []
    length = 0
    delta_index: list[tuple[int, int]] = []
    last_seq = 0
    for event in events:
        if event.terminal:
            break
        last_seq = event.seq
        if event.type == "delta":
            parts.append(event.payload["text"])
            length += len(parts[-1])
            delta_index.append((event.seq, length))
    text = "".join(parts)
    end = events[-1] if events and events[-1].terminal else None
    status: TurnStatus
    if end is None:
        interrupted = Interrupted(INTERRUPTED_MESSAGE)
        return TurnOutcome(turn_id, text, "interrupted", None, None, interrupted, delta_index, last_seq + 1)
    if end.type == "error":
        error = error_for_code(end.payload["code"], end.payload.get("message", ""))
        status = "interrupted" if error.code == "interrupted" else "failed"
        return TurnOutcome(turn_id, text, status, None, None, error, delta_index, end.seq)
    reason = end.payload.get("finish_reason")
    status = "cancelled" if reason == "cancelled" else "complete"
    return TurnOutcome(turn_id, text, status, reason, None, None, delta_index, end.seq)
