"""Queries: the only module that speaks SQL. Each method is one short transaction.

Only ``HotseatError`` leaves it for a failure of the database (``store.failures``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Select

from hotseat.errors import INTERRUPTED_MESSAGE, Conflict
from hotseat.store import statements as q
from hotseat.store.db import sessionmaker
from hotseat.store.failures import database_errors
from hotseat.store.inserts import capped_session_insert, insert_rows, set_values, take_defaults
from hotseat.store.models import AssessmentRow, Base, CvRow, SessionRow, TurnRow, utcnow
from hotseat.store.outcomes import FinishedTurn, outcome_values
from hotseat.store.sqlite import LeanConnection

Row = TypeVar("Row", bound=Base)

BUSY_MESSAGE = "The interviewer is still replying; wait for the reply to finish or stop it first."


def new_id() -> str:
    """An unguessable id: 128 random bits, URL-safe, never starting with "-".

    A command line would take an id that starts with "-" for an option (``hotseat export ID``).
    """
    value = secrets.token_urlsafe(16)
    while value.startswith("-"):
        value = secrets.token_urlsafe(16)
    return value


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
    async def _write(self, *, blind: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed at the end of the block, or rolled back whole.

        Writes are Core statements on a connection, new rows included (``_insert``): the ORM's
        unit of work cost more than the statements themselves (docs/performance.md).

        ``blind``: the block reads no row count of its writes. On SQLite they then run with the
        commit, in one hand-off (``LeanConnection.hold_writes``), which holds SQLite's lock only
        for that moment on the connection's thread, so the block does not queue for the writer
        here; errors of its writes, such as an IntegrityError, are raised when the block ends.

        Database outages and an exhausted pool are raised as ``DatabaseUnavailable`` and
        ``DatabaseBusy`` (``store.failures``); constraint violations stay SQLAlchemy's.
        """
        with database_errors():
            async with contextlib.AsyncExitStack() as stack:
                if self._sqlite and not blind:
                    try:
                        async with asyncio.timeout(self._pool_timeout):
                            await stack.enter_async_context(self._writer)
                    except TimeoutError:
                        message = f"SQLite's writer stayed busy for {self._pool_timeout} s"
                        raise WriterTimeout(message) from None
                db = await stack.enter_async_context(self._connect())
                async with db.begin():
                    if blind and self._sqlite:
                        raw = await db.get_raw_connection()
                        if isinstance(raw.driver_connection, LeanConnection):
                            raw.driver_connection.hold_writes()
                    yield db

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (Core); database failures raised as ``HotseatError``."""
        with database_errors():
            async with self._connect() as db:
                yield db

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, given back at the end of the block.

        ``AsyncConnection``'s own ``async with`` closes it in a task of its own, so that a
        cancellation cannot cut the close short. That task waits its turn on the event loop while
        the connection stays checked out: under a burst of answers each query held its
        connection for a whole turn of a busy loop, and the pool ran dry (docs/performance.md,
        A3). On SQLite a connection whose ``sqlite3`` connection has no transaction open closes
        without waiting (``LeanConnection.idle_raw``), so nothing can cut it short and it is
        closed here directly; one that still has a transaction (a block that failed) is closed
        under ``asyncio.shield``, which lets the close finish even if the caller is cancelled.
        """
        if not self._sqlite:
            async with self.engine.connect() as db:
                yield db
            return
        db = await self.engine.connect()
        try:
            yield db
        finally:
            lean = (await db.get_raw_connection()).driver_connection
            if isinstance(lean, LeanConnection) and lean.idle_raw() is not None:
                await db.close()
            else:
                await asyncio.shield(db.close())

    @asynccontextmanager
    async def _orm(self) -> AsyncIterator[AsyncSession]:
        """An ORM session for reads; database failures raised as ``HotseatError``."""
        with database_errors():
            async with self._session() as db:
                yield db

    async def _one(self, model: type[Row], statement: Select[Any], **params: Any) -> Row | None:
        """The first row ``statement`` (a select of ``model``'s table) finds, as a ``model`` object.

        A Core read: the ORM session's identity map and loading cost about as much as the query
        (docs/performance.md), and rows here are read once and not changed through the ORM.
        """
        async with self._read() as db:
            found = (await db.execute(statement, params)).first()
        return None if found is None else model(**found._mapping)

    async def add_session(self, session: SessionRow, first_turn: TurnRow, *, max_per_owner: int = 0) -> None:
        """Store a new session with its opening turn, all or nothing.

        With ``max_per_owner``, the session is stored only while its owner keeps fewer, and
        ``Conflict`` is raised otherwise. The INSERT counts them itself (``_CAPPED_SESSION_INSERT``):
        a count of its own would cost a round trip to the database, which was the costliest
        step of a start under load (docs/performance.md), and two starts could both count
        under the cap. On SQLite the count is exact, as writers take turns; on PostgreSQL, starts
        by one owner at the same moment can each see the others' rows uncommitted, as before.
        """
        first_turn.position = 0
        try:
            async with self._write(blind=True) as db:
                if max_per_owner:
                    # Inserts no row at the cap; the turn's foreign key then fails (below).
                    values = set_values(session)
                    statement = capped_session_insert(tuple(values))
                    result = await db.execute(statement, {**values, "max_per_owner": max_per_owner})
                    take_defaults(session, result)
                else:
                    await insert_rows(db, session)
                await insert_rows(db, first_turn)
        except IntegrityError as exc:
            if max_per_owner and _is_foreign_key_violation(exc):
                raise Conflict(
                    f"You have {max_per_owner} interview sessions, the most one person may keep here; "
                    "delete old ones (DELETE /api/sessions/ID) to start another."
                ) from exc
            raise

    async def get_session(self, session_id: str) -> SessionRow | None:
        return await self._one(SessionRow, q.SESSION_BY_ID, id=session_id)

    async def list_sessions(self, owner_id: str, limit: int = 200) -> Sequence[SessionRow]:
        async with self._orm() as db:
            rows = await db.scalars(
                select(SessionRow)
                .where(SessionRow.owner_id == owner_id)
                .order_by(SessionRow.created_at.desc())
                .limit(limit)
            )
            return rows.all()

    async def delete_session(self, session_id: str) -> None:
        """Delete a session with its turns and assessments (one transaction)."""
        async with self._write() as db:
            await db.execute(delete(AssessmentRow).where(AssessmentRow.session_id == session_id))
            await db.execute(delete(TurnRow).where(TurnRow.session_id == session_id))
            await db.execute(delete(SessionRow).where(SessionRow.id == session_id))

    async def list_turns(self, session_id: str) -> Sequence[TurnRow]:
        # A Core read, like ``_one``: the ORM's loading cost more than the query (docs/performance.md).
        async with self._read() as db:
            found = (await db.execute(q.TURNS_OF_SESSION, {"session_id": session_id})).all()
        return [TurnRow(**row._mapping) for row in found]

    async def get_session_with_turns(self, session_id: str) -> tuple[SessionRow, list[TurnRow]] | None:
        """The session and its turns in order, in one query; None if there is no such session.

        The turns come without their ``delta_index`` (None): a transcript has no use for it, and
        a replay reads its turn with ``get_turn``."""
        async with self._read() as db:
            found = (await db.execute(q.SESSION_WITH_TURNS, {"session_id": session_id})).all()
        if not found:
            return None
        columns = q.TRANSCRIPT_TURN_COLUMNS
        turns = [turn for row in found if (turn := q.joined_turn(row._mapping, columns)) is not None]
        return q.joined_session(found[0]._mapping), turns  # no turns: the outer join's one row

    async def get_turn(self, session_id: str, turn_id: str) -> TurnRow | None:
        return await self._one(TurnRow, q.TURN_BY_ID, id=turn_id, session_id=session_id)

    async def get_session_and_turn(
        self, session_id: str, turn_id: str
    ) -> tuple[SessionRow, TurnRow | None] | None:
        """The session and one of its turns, in one query: None if no session, (session, None) if no turn."""
        async with self._read() as db:
            found = (
                await db.execute(q.SESSION_AND_TURN, {"session_id": session_id, "turn_id": turn_id})
            ).first()
        if found is None:
            return None
        return q.joined_session(found._mapping), q.joined_turn(found._mapping)

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

        Each turn goes after the session's last; its ``position`` is set by the database and
        not read back (nothing reads it from the object).

        ``assessments`` (pending rows for an answer among ``turns``) are stored in the same
        transaction, so an answer never exists without the record that it awaits assessment.

        Raises ``Conflict`` if the session already has a turn generating.
        """
        changes: dict[str, Any] = {"flow": flow, "updated_at": utcnow()}
        if status is not None:
            changes["status"] = status
        try:
            # Blind, so on SQLite the whole answer (its turns, its assessment and the flow) is
            # written in one hand-off with the commit: each turn's position is counted by its
            # INSERT (``q.TURN_AT_END``), not read beforehand, which took a hand-off of its own.
            async with self._write(blind=True) as db:
                for turn in turns:
                    values = set_values(turn)
                    values.pop("position", None)
                    result = await db.execute(q.TURN_AT_END, {**values, "end_of": session_id})
                    take_defaults(turn, result)
                await insert_rows(db, *assessments)
                await db.execute(q.SAVE_SESSION, {"saved_session_id": session_id, **changes})
        except IntegrityError as exc:
            raise Conflict(BUSY_MESSAGE) from exc

    async def has_streaming_turn(self, session_id: str) -> bool:
        async with self._orm() as db:
            found = await db.scalar(
                select(TurnRow.id).where(TurnRow.session_id == session_id, TurnRow.status == "streaming")
            )
            return found is not None

    async def finish_turn(self, outcome: FinishedTurn) -> None:
        """Store a turn's outcome (the runner retries it through a busy pool or a short outage).

        Only a turn still 'streaming' is updated: the first outcome stored wins. A replica cut
        off for longer than its lease may find that another replica's sweeper has already ended
        its turn as interrupted and told every reader so; its own outcome must not overwrite
        what the clients were told. A retried write that had in fact landed changes nothing.
        """
        async with self._write(blind=True) as db:
            await db.execute(q.FINISH_TURN, {"finished_turn_id": outcome.turn_id, **outcome_values(outcome)})

    async def finish_abandoned_turn(self, outcome: FinishedTurn) -> bool:
        """Store the outcome of a turn whose replica died, unless it has ended meanwhile.

        Only a turn still 'streaming' is updated, so of several replicas sweeping
        at once exactly one wins (True) and logs the terminal event.
        """
        async with self._write() as db:
            result = await db.execute(
                update(TurnRow)
                .where(TurnRow.id == outcome.turn_id, TurnRow.status == "streaming")
                .values(**outcome_values(outcome))
            )
            return int(getattr(result, "rowcount", 0) or 0) == 1

    async def streaming_turns(self, started_before: datetime) -> list[str]:
        """Ids of the turns generating since before ``started_before`` (on any replica)."""
        async with self._orm() as db:
            rows = await db.scalars(
                select(TurnRow.id).where(TurnRow.status == "streaming", TurnRow.created_at < started_before)
            )
            return list(rows.all())

    async def streaming_turn(self, session_id: str) -> TurnRow | None:
        """The session's turn that is generating, on whichever replica (at most one: see TurnRow)."""
        return await self._one(TurnRow, q.STREAMING_TURN, session_id=session_id)

    async def streaming_turn_id(self, session_id: str) -> str | None:
        """The session's turn that is generating, on whichever replica."""
        async with self._orm() as db:
            found: str | None = await db.scalar(
                select(TurnRow.id).where(TurnRow.session_id == session_id, TurnRow.status == "streaming")
            )
            return found

    async def ping(self) -> None:
        """One round trip to the database (readiness)."""
        async with self._read() as connection:
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
            await insert_rows(db, cv)

    async def get_cv(self, cv_id: str) -> CvRow | None:
        return await self._one(CvRow, q.CV_BY_ID, id=cv_id)

    async def delete_cv(self, cv_id: str) -> None:
        """Delete a CV; sessions that used it keep their transcript but lose the link."""
        async with self._write() as db:
            await db.execute(update(SessionRow).where(SessionRow.cv_id == cv_id).values(cv_id=None))
            await db.execute(delete(CvRow).where(CvRow.id == cv_id))

    async def finish_assessment(
        self, assessment_id: str, status: str, result: dict[str, Any] | None, reason: str | None
    ) -> None:
        # Blind: on SQLite the UPDATE runs with its commit, so SQLite's lock is not held across
        # turns of a busy event loop while the turns' own writes wait for it.
        async with self._write(blind=True) as db:
            await db.execute(
                update(AssessmentRow)
                .where(AssessmentRow.id == assessment_id)
                .values(status=status, result=result, reason=reason, finished_at=utcnow())
            )

    async def list_assessments(self, session_id: str) -> Sequence[AssessmentRow]:
        return (await self.assessments_of([session_id])).get(session_id, [])

    async def assessments_of(self, session_ids: Collection[str]) -> dict[str, list[AssessmentRow]]:
        """The sessions' assessments, each session's in the order they were made (one query)."""
        async with self._orm() as db:
            rows = await db.scalars(
                select(AssessmentRow)
                .where(AssessmentRow.session_id.in_(session_ids))
                .order_by(AssessmentRow.created_at)
            )
            found: dict[str, list[AssessmentRow]] = {}
            for row in rows:
                found.setdefault(row.session_id, []).append(row)
            return found

    async def turns_of(self, session_ids: Collection[str]) -> dict[str, list[TurnRow]]:
        """The sessions' turns in order, without their ``delta_index`` as in a transcript (one query)."""
        columns = q.TRANSCRIPT_TURN_COLUMNS
        statement = select(*columns).where(q.TURNS.c.session_id.in_(session_ids)).order_by(q.TURNS.c.position)
        async with self._read() as db:
            rows = (await db.execute(statement)).all()
        found: dict[str, list[TurnRow]] = {}
        for row in rows:
            found.setdefault(row.session_id, []).append(TurnRow(**{c.key: row._mapping[c] for c in columns}))
        return found

    async def finished_sessions(
        self, owner_id: str, pack_id: str, before: datetime, limit: int
    ) -> Sequence[SessionRow]:
        """``owner_id``'s finished sessions of ``pack_id`` started before ``before``, newest first."""
        async with self._orm() as db:
            rows = await db.scalars(
                select(SessionRow)
                .where(
                    SessionRow.owner_id == owner_id,
                    SessionRow.pack_id == pack_id,
                    SessionRow.status == "finished",
                    SessionRow.created_at < before,
                )
                .order_by(SessionRow.created_at.desc())
                .limit(limit)
            )
            return rows.all()

    async def pending_assessments(self, created_before: datetime) -> list[str]:
        """Ids of the assessments pending since before ``created_before`` (on any replica)."""
        async with self._read() as db:
            rows = await db.scalars(
                select(AssessmentRow.id).where(
                    AssessmentRow.status == "pending", AssessmentRow.created_at < created_before
                )
            )
            return list(rows.all())

    async def abandon_pending_assessments(self, ids: Collection[str] | None = None) -> int:
        """Pending assessments nobody will score are recorded as not assessed: all of them when
        one process starts (a previous run left them), or ``ids``: the ones a server stopping
        now had running or queued, or those of a replica that died (the sweeper). Returns how
        many were pending."""
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


def _is_foreign_key_violation(exc: IntegrityError) -> bool:
    """SQLite says so in its message; PostgreSQL with its SQLSTATE."""
    return getattr(exc.orig, "sqlstate", None) == "23503" or "FOREIGN KEY" in str(exc.orig)
