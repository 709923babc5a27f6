"""``Records``: what the transports read and keep outside a turn, without reaching into the store.

The routes list sessions and turns, check that a session or CV belongs to its caller, and
keep or delete CVs. They do it through this small facade of the interview layer, so that
``hotseat.api`` imports neither ``hotseat.store`` nor ``hotseat.llm`` (the import-linter
contracts in pyproject.toml). The rows it returns are the store's own row objects, read
only: ``SessionRow``, ``TurnRow`` and ``CvRow`` are re-exported here as this layer's
vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

from hotseat.errors import BadRequest, NotFound, session_not_found
from hotseat.interview.analysis.claims import forget_kept_claims
from hotseat.interview.cv import ExtractedCv
from hotseat.store.models import CvRow, SessionRow, TurnRow
from hotseat.store.repo import Store, new_id

__all__ = ["CvRow", "Records", "SessionRow", "TurnRow"]


class Records:
    """Sessions, turns and CVs as the transports need them; every failure is a ``HotseatError``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def owned_session(self, owner: str, session_id: str) -> SessionRow:
        """The session, if it exists and belongs to ``owner``; otherwise the same 404 either way."""
        session = await self._store.get_session(session_id)
        if session is None or session.owner_id != owner:
            raise session_not_found(session_id)
        return session

    async def owned_transcript(self, owner: str, session_id: str) -> tuple[SessionRow, Sequence[TurnRow]]:
        """The session with its turns in order (one query), if it belongs to ``owner``; else 404."""
        found = await self._store.get_session_with_turns(session_id)
        if found is None or found[0].owner_id != owner:
            raise session_not_found(session_id)
        return found

    async def owned_turn(self, owner: str, session_id: str, turn_id: str) -> TurnRow:
        """The turn of ``owner``'s session (one query for both); 404 for either missing."""
        found = await self._store.get_session_and_turn(session_id, turn_id)
        if found is None or found[0].owner_id != owner:
            raise session_not_found(session_id)
        if found[1] is None:
            raise NotFound(f"No turn {turn_id!r} in session {session_id!r}.")
        return found[1]

    async def sessions(self, owner: str) -> Sequence[SessionRow]:
        """``owner``'s sessions, newest first."""
        return await self._store.list_sessions(owner)

    async def interviewer_turn(self, session_id: str, turn_id: str) -> TurnRow:
        """The session's interviewer turn ``turn_id``: ``NotFound``, or ``BadRequest`` for a candidate's."""
        turn = await self._store.get_turn(session_id, turn_id)
        if turn is None:
            raise NotFound(f"No turn {turn_id!r} in this session.")
        if turn.role != "interviewer":
            raise BadRequest("That turn is the candidate's answer; only interviewer turns stream.")
        return turn

    async def streaming_turn(self, session_id: str) -> TurnRow | None:
        """The session's turn that is generating, on whichever replica."""
        return await self._store.streaming_turn(session_id)

    async def session_cv(self, session: SessionRow) -> CvRow | None:
        """The CV the session was started with, unless it has been deleted since."""
        return await self._store.get_cv(session.cv_id) if session.cv_id else None

    async def owned_cv(self, owner: str, cv_id: str) -> CvRow:
        cv = await self._store.get_cv(cv_id)
        if cv is None or cv.owner_id != owner:
            raise NotFound(f"No CV {cv_id!r}; upload it again with POST /api/cvs.")
        return cv

    async def add_cv(self, owner: str, filename: str, extracted: ExtractedCv) -> CvRow:
        """Keep an uploaded CV's text; returns its row (with its new id)."""
        row = CvRow(
            id=new_id(),
            owner_id=owner,
            filename=filename,
            content_type=extracted.kind,
            text=extracted.text,
            chars=extracted.chars,
            pages=extracted.pages,
        )
        await self._store.add_cv(row)
        return row

    async def delete_cv(self, cv_id: str) -> None:
        """Delete a CV; sessions that used it keep their transcript but lose the link.

        The claims this process keeps (``claims_of``) go too, so that no copy of its text stays.
        """
        await self._store.delete_cv(cv_id)
        forget_kept_claims()

    async def ping_database(self) -> None:
        """One round trip to the database (readiness); raises if it does not answer."""
        await self._store.ping()


def new_interviewer_turn(session_id: str, kind: str, question_index: int | None) -> TurnRow:
    """An interviewer turn about to be generated (status ``streaming``, no text yet)."""
    return TurnRow(
        id=new_id(),
        session_id=session_id,
        role="interviewer",
        kind=kind,
        question_index=question_index,
        text="",
        status="streaming",
    )


def new_candidate_turn(session_id: str, kind: str, question_index: int, text: str) -> TurnRow:
    """The candidate's move (an answer, or a skip), complete as it is stored."""
    return TurnRow(
        id=new_id(),
        session_id=session_id,
        role="candidate",
        kind=kind,
        question_index=question_index,
        text=text,
        status="complete",
    )
