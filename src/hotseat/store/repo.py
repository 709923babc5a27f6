"""Queries: the only module that speaks SQL. Each method is one short transaction."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from hotseat.errors import INTERRUPTED_MESSAGE, Conflict
from hotseat.store.db import sessionmaker
from hotseat.store.models import AssessmentRow, CvRow, SessionRow, TurnRow, utcnow
from hotseat.store.sqlite import LeanConnection
from hotseat.streaming.runner import TurnOutcome

BUSY_MESSAGE = "The interviewer is still replying; wait for the reply to finish or stop it first."


def new_id() -> str:
    """An unguessable id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class WriterTimeout(PoolTimeout):
    """SQLite's one writer was busy for longer than the pool timeout (answered as ``busy``, like the pool)."""


class Store:
    def __init__(self, engine: AsyncEngine, *, pool_timeout: float = 5.0) -> None:
        self.engine = engine
        self._session = sessionmaker(engine)
        self._pool_timeout = pool_timeout
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time, and a transaction whose writes run statement by statement
        # holds its lock across several turns of a busy event loop. Such writers queue here, on the
        # loop, and not in pooled connections blocked on that lock, whose busy handler polls for it
        # in sleeps of up to 100 ms while readers wait for the connections. PostgreSQL writes concurrently.
        self._writer = asyncio.Lock()

    @asynccontextmanager
    async def _write(self, *, blind: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed at the end of the block, or rolled back whole.

        ``blind``: the block reads no row count of its writes. On SQLite they then run with the
        commit, in one hand-off (``LeanConnection.hold_writes``), which holds SQLite's lock only
        for that moment on the connection's thread, so the block does not queue for the writer
        here; errors of its writes, such as an IntegrityError, are raised when the block ends.
        """
        async with contextlib.AsyncExitStack() as stack:
            if self._sqlite and not blind:
                try:
                    async with asyncio.timeout(self._pool_timeout):
                        await stack.enter_async_context(self._writer)
                except TimeoutError:
                    raise WriterTimeout(f"SQLite's writer stayed busy for {self._pool_timeout} s") from None
            async with self._session.begin() as db:
                if blind and self._sqlite:
                    raw = await (await db.connection()).get_raw_connection()
                    if isinstance(raw.driver_connection, LeanConnection):
                        raw.driver_connection.hold_writes()
                yield db

    async def add_session(self, session: SessionRow, first_turn: TurnRow) -> None:
        async with self._write(blind=True) as db:
            db.add(session)
            await db.flush()
            first_turn.position = 0
            db.add(first_turn)

    async def get_session(self, session_id: str) -> SessionRow | None:
        async with self._session() as db:
            return await db.get(SessionRow, session_id)

    async def list_sessions(self, owner_id: str, limit: int = 200) -> Sequence[SessionRow]:
        async with self._session() as db:
            rows = await db.scalars(
                select(SessionRow)
                .where(SessionRow.owner_id == owner_id)
                .order_by(SessionRow.created_at.desc())
                .limit(limit)
            )
            return rows.all()

    async def count_sessions(self, owner_id: str) -> int:
        async with self._session() as db:
            count = await db.scalar(
                select(func.count()).select_from(SessionRow).where(SessionRow.owner_id == owner_id)
            )
            return int(count or 0)

    async def delete_session(self, session_id: str) -> None:
        """Delete a session with its turns and assessments (one transaction)."""
        async with self._write() as db:
            await db.execute(delete(AssessmentRow).where(AssessmentRow.session_id == session_id))
            await db.execute(delete(TurnRow).where(TurnRow.session_id == session_id))
            await db.execute(delete(SessionRow).where(SessionRow.id == session_id))

    async def list_turns(self, session_id: str) -> Sequence[TurnRow]:
        async with self._session() as db:
            rows = await db.scalars(
                select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.position)
            )
            return rows.all()

    async def get_turn(self, session_id: str, turn_id: str) -> TurnRow | None:
        async with self._session() as db:
            row = await db.get(TurnRow, turn_id)
            return row if row is not None and row.session_id == session_id else None

    async def get_session_and_turn(
        self, session_id: str, turn_id: str
    ) -> tuple[SessionRow, TurnRow | None] | None:
        """The session and one of its turns, in one query: None if no session, (session, None) if no turn."""
        async with self._session() as db:
            found = (
                await db.execute(
                    select(SessionRow, TurnRow)
                    .outerjoin(TurnRow, and_(TurnRow.id == turn_id, TurnRow.session_id == SessionRow.id))
                    .where(SessionRow.id == session_id)
                )
            ).first()
            return None if found is None else (found[0], found[1])

    async def add_turns(
        self,
        session_id: str,
        turns: Sequence[TurnRow],
        flow: dict[str, Any],
        *,
        status: str | None = None,
        assessments: Sequence[AssessmentRow] = (),
    ) -> None:
        """Append turns to a session and save its flow state (and ``status``), all or nothing.

        ``assessments`` (pending rows for an answer among ``turns``) are stored in the same
        transaction, so an answer never exists without the record that it awaits assessment.

        Raises ``Conflict`` if the session already has a turn generating.
        """
        changes: dict[str, Any] = {"flow": flow, "updated_at": utcnow()}
        if status is not None:
            changes["status"] = status
        try:
            async with self._write(blind=True) as db:
                last = await db.scalar(
                    select(func.max(TurnRow.position)).where(TurnRow.session_id == session_id)
                )
                position = -1 if last is None else last
                for turn in turns:
                    position += 1
                    turn.position = position
                    db.add(turn)
                db.add_all(assessments)
                await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(**changes))
        except IntegrityError as exc:
            raise Conflict(BUSY_MESSAGE) from exc

    async def has_streaming_turn(self, session_id: str) -> bool:
        async with self._session() as db:
            found = await db.scalar(
                select(TurnRow.id).where(TurnRow.session_id == session_id, TurnRow.status == "streaming")
            )
            return found is not None

    async def finish_turn(self, outcome: TurnOutcome) -> None:
        """Store a turn's outcome (the runner retries it through a busy pool or a short outage)."""
        async with self._write(blind=True) as db:
            await db.execute(_FINISH_TURN, {"finished_turn_id": outcome.turn_id, **_outcome_values(outcome)})

    async def finish_abandoned_turn(self, outcome: TurnOutcome) -> bool:
        """Store the outcome of a turn whose replica died, unless it has ended meanwhile.

        Only a turn still 'streaming' is updated, so of several replicas sweeping
        at once exactly one wins (True) and logs the terminal event.
        """
        async with self._write() as db:
            result = await db.execute(
                update(TurnRow)
                .where(TurnRow.id == outcome.turn_id, TurnRow.status == "streaming")
                .values(**_outcome_values(outcome))
            )
            return int(getattr(result, "rowcount", 0) or 0) == 1

    async def streaming_turns(self, started_before: datetime) -> list[str]:
        """Ids of the turns generating since before ``started_before`` (on any replica)."""
        async with self._session() as db:
            rows = await db.scalars(
                select(TurnRow.id).where(TurnRow.status == "streaming", TurnRow.created_at < started_before)
            )
            return list(rows.all())

    async def streaming_turn(self, session_id: str) -> TurnRow | None:
        """The session's turn that is generating, on whichever replica (at most one: see TurnRow)."""
        async with self._session() as db:
            found: TurnRow | None = await db.scalar(
                select(TurnRow).where(TurnRow.session_id == session_id, TurnRow.status == "streaming")
            )
            return found

    async def streaming_turn_id(self, session_id: str) -> str | None:
        """The session's turn that is generating, on whichever replica."""
        async with self._session() as db:
            found: str | None = await db.scalar(
                select(TurnRow.id).where(TurnRow.session_id == session_id, TurnRow.status == "streaming")
            )
            return found

    async def ping(self) -> None:
        """One round trip to the database (readiness)."""
        async with self.engine.connect() as connection:
            await connection.execute(select(1))

    async def interrupt_streaming_turns(self) -> int:
        """Mark turns left 'streaming' by a process that died as interrupted; returns how many."""
        async with self._write() as db:
            result = await db.execute(
                update(TurnRow)
                .where(TurnRow.status == "streaming")
                .values(
                    status="interrupted",
                    error_code="interrupted",
                    error_message=INTERRUPTED_MESSAGE,
                    finished_at=utcnow(),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def add_cv(self, cv: CvRow) -> None:
        async with self._write() as db:
            db.add(cv)

    async def get_cv(self, cv_id: str) -> CvRow | None:
        async with self._session() as db:
            return await db.get(CvRow, cv_id)

    async def delete_cv(self, cv_id: str) -> None:
        """Delete a CV; sessions that used it keep their transcript but lose the link."""
        async with self._write() as db:
            await db.execute(update(SessionRow).where(SessionRow.cv_id == cv_id).values(cv_id=None))
            await db.execute(delete(CvRow).where(CvRow.id == cv_id))

    async def finish_assessment(
        self, assessment_id: str, status: str, result: dict[str, Any] | None, reason: str | None
    ) -> None:
        async with self._write() as db:
            await db.execute(
                update(AssessmentRow)
                .where(AssessmentRow.id == assessment_id)
                .values(status=status, result=result, reason=reason, finished_at=utcnow())
            )

    async def list_assessments(self, session_id: str) -> Sequence[AssessmentRow]:
        async with self._session() as db:
            rows = await db.scalars(
                select(AssessmentRow)
                .where(AssessmentRow.session_id == session_id)
                .order_by(AssessmentRow.created_at)
            )
            return rows.all()

    async def abandon_pending_assessments(self, ids: Collection[str] | None = None) -> int:
        """Pending assessments nobody will score are recorded as not assessed: all of them when
        one process starts (a previous run left them), or ``ids``, the ones a server stopping
        now had running or queued. Returns how many were pending."""
        statement = update(AssessmentRow).where(AssessmentRow.status == "pending")
        if ids is not None:
            if not ids:
                return 0
            statement = statement.where(AssessmentRow.id.in_(ids))
        async with self._write() as db:
            result = await db.execute(
                statement.values(
                    status="not_assessed",
                    reason="the server stopped before this answer was assessed",
                    finished_at=utcnow(),
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)


# Every turn ends with this statement, so it is built once: building an ORM update per turn
# (and the ORM's bulk-update bookkeeping) was about 5% of a turn's CPU. A Core UPDATE without
# ``values()`` sets the columns named by the parameters it is executed with.
_FINISH_TURN = update(TurnRow.__table__).where(  # type: ignore[arg-type]
    TurnRow.__table__.c.id == bindparam("finished_turn_id")
)


def _outcome_values(outcome: TurnOutcome) -> dict[str, Any]:
    """The columns a turn's outcome sets, by name."""
    usage, error = outcome.usage, outcome.error
    return {
        "text": outcome.text,
        "status": outcome.status,
        "finish_reason": outcome.finish_reason,
        "delta_index": [list(pair) for pair in outcome.delta_index],
        "last_seq": outcome.terminal_seq,
        "finished_at": utcnow(),
        "prompt_tokens": usage.prompt_tokens if usage is not None else None,
        "completion_tokens": usage.completion_tokens if usage is not None else None,
        "error_code": error.code if error is not None else None,
        "error_message": error.message if error is not None else None,
    }
