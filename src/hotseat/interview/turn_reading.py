"""A turn's events for a reader: live from its log, from the database once the log is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from hotseat.interview.records import Records
from hotseat.streaming.events import Event
from hotseat.streaming.log import LogMissing, StreamLog
from hotseat.streaming.replay import replay_finished_turn

# How long a reader waits for the log of a turn the database says is streaming
# (covers the moment between saving a new turn and opening its log).
_LOG_APPEAR_SECONDS = 1.0


async def read_turn(
    log: StreamLog, records: Records, session_id: str, turn_id: str, after: int = 0
) -> AsyncGenerator[list[Event], None]:
    """Batches of the turn's events after ``after``, live; from the database once the log is gone.

    ``NotFound`` for a turn not in the session, ``BadRequest`` for a candidate's turn.
    """
    deadline = asyncio.get_running_loop().time() + _LOG_APPEAR_SECONDS
    while True:
        try:
            async for batch in log.read(turn_id, after):
                yield batch
                # A shared log can vanish mid-read (Redis restarted): go on from the database.
                after = batch[-1].seq
            return
        except LogMissing:
            pass
        row = await records.interviewer_turn(session_id, turn_id)
        if row.status != "streaming" or asyncio.get_running_loop().time() >= deadline:
            batch = replay_finished_turn(row, after)
            if batch:
                yield batch
            return
        await asyncio.sleep(0.05)
