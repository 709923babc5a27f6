"""aiosqlite with one thread hand-off per statement instead of three or four.

aiosqlite runs each call on its connection's thread: SQLAlchemy's adapter makes a
cursor, executes, fetches and closes the cursor, four hand-offs (and four wake-ups
of the event loop) for one SELECT. It also rolls back on every return to the pool,
which in SQLite is a no-op when no transaction is open, but still a hand-off.

Here a statement is executed, fetched and its cursor closed in one call on the
connection's thread, and ``commit``/``rollback`` are skipped when SQLite has no
transaction open (``sqlite3`` itself does nothing then). Results, errors and
transactions are exactly those of ``sqlite3``. This uses ``Connection._execute``,
aiosqlite's own way to run a call on its thread, which its cursors use too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite

_Result = tuple[list[Any], Any, int, int | None]


class LeanCursor:
    """The part of ``aiosqlite.Cursor`` SQLAlchemy's adapter uses, with the rows fetched in ``execute``."""

    arraysize = 1

    def __init__(self, connection: LeanConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> LeanCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> LeanCursor:
        self._take(await self._connection.on_thread(_execute, sql, () if parameters is None else parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> LeanCursor:
        self._take(await self._connection.on_thread(_executemany, sql, parameters))
        return self

    def _take(self, result: _Result) -> None:
        self._rows, self.description, self.rowcount, self.lastrowid = result

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        """Nothing to do: the ``sqlite3`` cursor was closed on the connection's thread."""
        self._rows = []


class LeanConnection(aiosqlite.Connection):
    def cursor(self) -> LeanCursor:  # type: ignore[override]
        # No hand-off: the sqlite3 cursor is made, used and closed inside ``execute``.
        return LeanCursor(self)

    async def on_thread(self, fn: Callable[..., _Result], *args: Any) -> _Result:
        """``fn(sqlite3_connection, *args)`` on this connection's thread."""
        result: _Result = await self._execute(fn, self._conn, *args)  # type: ignore[no-untyped-call]
        return result

    async def commit(self) -> None:
        if self.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self.in_transaction:
            await super().rollback()


def _execute(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any]) -> _Result:
    cursor = connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _executemany(connection: sqlite3.Connection, sql: str, parameters: Iterable[Sequence[Any]]) -> _Result:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, parameters)
        return [], cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def connector(database: str, **kwargs: Any) -> Callable[[], LeanConnection]:
    """An ``async_creator`` for SQLAlchemy: ``sqlite3.connect(database, **kwargs)`` on its own thread."""

    def connect() -> LeanConnection:
        connection = LeanConnection(lambda: sqlite3.connect(database, **kwargs), iter_chunk_size=64)
        # As SQLAlchemy does for aiosqlite: a connection left open does not keep the process alive.
        connection._thread.daemon = True
        return connection

    return connect
