"""New rows as Core INSERTs (the ORM's unit of work cost more than the statements, docs/performance.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, inspect, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Insert

from hotseat.store.models import Base
from hotseat.store.statements import SESSIONS


async def insert_rows(db: AsyncConnection, *rows: Base) -> None:
    """INSERT new row objects, in order, as the ORM's flush would.

    Only the columns set on a row are given; SQLAlchemy Core adds the Python-side defaults of
    the others, and those are then set on the object too (as a flush does), so the object
    matches what is stored. A column with neither is left out of the INSERT, so it is NULL
    (a JSON column given None would store the JSON text ``null`` instead).
    """
    for row in rows:
        table = cast(Table, type(row).__table__)
        statement = _INSERTS.get(table)
        if statement is None:
            statement = _INSERTS[table] = insert(table)
        result = await db.execute(statement, set_values(row))
        take_defaults(row, result)


def set_values(row: Base) -> dict[str, Any]:
    """The column values set on a new row object (its other columns are left to their defaults)."""
    columns = cast(Table, type(row).__table__).columns
    return {key: value for key, value in inspect(row).dict.items() if key in columns}


def take_defaults(row: Base, result: CursorResult[Any]) -> None:
    """Set on ``row`` the defaults SQLAlchemy inserted (``result``, one row) for the columns it lacked."""
    given = inspect(row).dict
    inserted = cast(Mapping[str, Any], result.last_inserted_params())
    for key, value in inserted.items():
        if key not in given and hasattr(row, key):
            setattr(row, key, value)


# One INSERT per table, built on first use: building it per row was a visible part of creating a
# session, the costliest step of a start (docs/performance.md).
_INSERTS: dict[Table, Insert] = {}


_CAPPED_SESSION_INSERTS: dict[tuple[str, ...], Insert] = {}


def capped_session_insert(keys: tuple[str, ...]) -> Insert:
    """INSERT INTO sessions (...) SELECT :id, ... WHERE (SELECT count(*) FROM sessions WHERE
    owner_id = :owner_id) < :max_per_owner -- a new session, unless its owner keeps enough already.

    ``keys`` are the columns given; Core renders the other columns' Python-side defaults into
    the SELECT (``from_select``'s ``include_defaults``). One statement per set of keys, built once.
    """
    statement = _CAPPED_SESSION_INSERTS.get(keys)
    if statement is None:
        given = select(*(bindparam(key, type_=SESSIONS.c[key].type) for key in keys))
        count = select(func.count()).select_from(SESSIONS).where(SESSIONS.c.owner_id == bindparam("owner_id"))
        statement = insert(SESSIONS).from_select(
            list(keys), given.where(count.scalar_subquery() < bindparam("max_per_owner"))
        )
        _CAPPED_SESSION_INSERTS[keys] = statement
    return statement
