"""``Seats``: the one boundary the transports (WebSocket, SSE, speech) consume.

A transport never reaches past it into the store, the turn log or the runner. It asks for
an owner's ``Seat`` in a session (the ownership check, answered without a database read
when the session's turn is generating here), then follows turns from a seq and makes the
candidate's moves through it. Reading falls back from the live log to the database, and
only ``HotseatError`` comes out: an outage as ``unavailable``/``busy`` (raised where it
happens), anything unexpected logged here and raised as ``internal``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager

from hotseat.errors import HotseatError, Internal
from hotseat.interview.records import Records
from hotseat.interview.service import InterviewService, StartedTurn
from hotseat.interview.turn_reading import read_turn
from hotseat.streaming.bus import Listener, TurnStarted, subscription
from hotseat.streaming.events import Event

__all__ = ["Listener", "Seat", "Seats", "StartedTurn", "TurnStarted"]

logger = logging.getLogger(__name__)


class Seats:
    """Where a transport gets an owner's seat in a session."""

    __slots__ = ("_interview", "_records")

    def __init__(self, interview: InterviewService, records: Records) -> None:
        self._interview = interview
        self._records = records

    async def seat(self, owner: str, session_id: str) -> Seat:
        """``owner``'s seat in the session; ``NotFound`` if it does not exist or is someone else's."""
        # A client usually connects while its session's turn is generating here, which proves
        # the session is theirs without a database read.
        if self._interview.runner.running_owner(session_id) != owner:
            await self._records.owned_session(owner, session_id)
        return Seat(self._interview, self._records, session_id)

    async def turn(self, owner: str, session_id: str, turn_id: str) -> Seat:
        """As ``seat``, and the turn must be in the session: one read for both, none if it runs here."""
        runner = self._interview.runner
        if runner.running_turn(session_id) != turn_id or runner.running_owner(session_id) != owner:
            await self._records.owned_turn(owner, session_id, turn_id)
        return Seat(self._interview, self._records, session_id)

    def of(self, session_id: str) -> Seat:
        """The seat in a session the caller has checked is its owner's: read it as theirs
        (``api.deps.OwnedSession``), started it, or made a move in it as them."""
        return Seat(self._interview, self._records, session_id)


class Seat:
    """One owner's place in one session: follow its turns, make its moves."""

    __slots__ = ("_interview", "_records", "session_id")

    def __init__(self, interview: InterviewService, records: Records, session_id: str) -> None:
        self._interview = interview
        self._records = records
        self.session_id = session_id

    # -- following ---------------------------------------------------------------------

    async def follow(self, turn_id: str, after: int = 0) -> AsyncGenerator[list[Event], None]:
        """Batches of the turn's events after ``after``: live, or replayed once its log is gone.

        ``NotFound`` for a turn not in this session, ``BadRequest`` for a candidate's turn.
        """
        batches = read_turn(self._interview.log, self._records, self.session_id, turn_id, after)
        try:
            async for batch in batches:
                yield batch
        except HotseatError:
            raise
        except Exception as exc:
            logger.exception("reading turn %s failed", turn_id)
            raise Internal("Streaming this reply failed; resume it.") from exc
        finally:
            await batches.aclose()

    async def current(self) -> tuple[str, str] | None:
        """The turn in progress and its kind: generating here, or (replicas) the database's newest."""
        runner = self._interview.runner
        turn_id = runner.running_turn(self.session_id)
        kind = runner.running_kind(turn_id) if turn_id is not None else None
        if turn_id is not None and kind is not None:
            return turn_id, kind  # the runner knows its kind: the database is not asked
        turn = await self._records.streaming_turn(self.session_id)
        return (turn.id, turn.kind) if turn is not None else None

    async def resume(self, turn_id: str) -> str:
        """The kind of a turn that can be followed; ``NotFound``, or ``BadRequest`` for a candidate's."""
        runner = self._interview.runner
        kind = runner.running_kind(turn_id) if runner.running_turn(self.session_id) == turn_id else None
        if kind is not None:
            return kind  # generating here: an interviewer turn of this session, no database read
        return (await self._records.interviewer_turn(self.session_id, turn_id)).kind

    @contextmanager
    def watch(self, on_started: Listener | None = None) -> Iterator[None]:
        """Count as watching the session (no orphan timer), and hear of each turn that starts on it."""
        runner = self._interview.runner
        with runner.watching(self.session_id):
            if on_started is None:
                yield
                return
            with subscription(runner.bus, self.session_id, on_started):
                yield

    # -- the candidate's moves ----------------------------------------------------------

    async def answer(self, text: str) -> StartedTurn:
        return await self._interview.answer(self.session_id, text, owner=None)  # checked at the seat

    async def skip(self) -> StartedTurn:
        return await self._interview.skip(self.session_id, owner=None)

    async def retry(self) -> StartedTurn:
        return await self._interview.retry(self.session_id, owner=None)

    async def finish(self) -> StartedTurn:
        return await self._interview.finish(self.session_id, owner=None)

    async def cancel(self, turn_id: str | None = None) -> str | None:
        """Stop the turn (or the one generating); returns its id once its outcome is stored, if it ran."""
        return await self._interview.cancel(self.session_id, turn_id)
