"""The store's prepared statements and the rows they read back, built once at import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Column, RowMapping, Table, and_, bindparam, func, insert, select, update

from hotseat.store.models import CvRow, SessionRow, TurnRow

SESSIONS = cast(Table, SessionRow.__table__)
TURNS = cast(Table, TurnRow.__table__)
SESSION_BY_ID = select(SESSIONS).where(SESSIONS.c.id == bindparam("id"))
TURN_BY_ID = select(TURNS).where(TURNS.c.id == bindparam("id"), TURNS.c.session_id == bindparam("session_id"))
TURNS_OF_SESSION = (
    select(TURNS).where(TURNS.c.session_id == bindparam("session_id")).order_by(TURNS.c.position)
)
# A turn appended after its session's last, in one statement; and a session's flow (and status)
# saved by a Core UPDATE that sets the columns named by its parameters (see FINISH_TURN).
TURN_AT_END = insert(TURNS).values(
    position=select(func.coalesce(func.max(TURNS.c.position) + 1, 0))
    .where(TURNS.c.session_id == bindparam("end_of"))
    .scalar_subquery()
)
SAVE_SESSION = update(SESSIONS).where(SESSIONS.c.id == bindparam("saved_session_id"))
STREAMING_TURN = select(TURNS).where(
    TURNS.c.session_id == bindparam("session_id"), TURNS.c.status == "streaming"
)
CV_BY_ID = select(CvRow.__table__).where(CvRow.__table__.c.id == bindparam("id"))
# Columns of both tables share names (id, status...): the row is read by column object, not name.
SESSION_AND_TURN = (
    select(SESSIONS, TURNS)
    .select_from(
        SESSIONS.outerjoin(
            TURNS, and_(TURNS.c.id == bindparam("turn_id"), TURNS.c.session_id == SESSIONS.c.id)
        )
    )
    .where(SESSIONS.c.id == bindparam("session_id"))
)

# A transcript's turns leave out ``delta_index``, every delta's seq and offset: JSON that nothing
# reading a transcript needs (a replay reads its one turn by TURN_BY_ID), and that was decoded for
# every turn of every transcript read, as every move and every page (re)connect reads one.
TRANSCRIPT_TURN_COLUMNS = tuple(c for c in TURNS.columns if c.key != "delta_index")
SESSION_WITH_TURNS = (
    select(SESSIONS, *TRANSCRIPT_TURN_COLUMNS)
    .select_from(SESSIONS.outerjoin(TURNS, TURNS.c.session_id == SESSIONS.c.id))
    .where(SESSIONS.c.id == bindparam("session_id"))
    .order_by(TURNS.c.position)
)

# Every turn ends with this statement, so it is built once: building an ORM update per turn
# (and the ORM's bulk-update bookkeeping) was CPU on every turn (T1 in docs/performance.md).
# A Core UPDATE without ``values()`` sets the columns named by the parameters it is executed with.
FINISH_TURN = update(TURNS).where(TURNS.c.id == bindparam("finished_turn_id"), TURNS.c.status == "streaming")


def joined_session(values: RowMapping) -> SessionRow:
    """The session's columns of a sessions-outer-join-turns row."""
    return SessionRow(**{c.key: values[c] for c in SESSIONS.columns})


def joined_turn(values: RowMapping, columns: Sequence[Column[Any]] = tuple(TURNS.columns)) -> TurnRow | None:
    """The turn's ``columns`` of such a row; None where the session has no (such) turn."""
    if values[TURNS.c.id] is None:
        return None
    return TurnRow(**{c.key: values[c] for c in columns})
