"""aiosqlite with one thread hand-off per statement instead of three or four, and none for a read.

aiosqlite runs each call on its connection's thread: SQLAlchemy's adapter makes a
cursor, executes, fetches and closes the cursor, four hand-offs (and four wake-ups
of the event loop) for one SELECT. It also rolls back on every return to the pool,
which in SQLite is a no-op when no transaction is open, but still a hand-off.

Here a statement is executed, fetched and its cursor closed in one call on a worker
thread, and ``commit``/``rollback`` are skipped when SQLite has no transaction open
(``sqlite3`` itself does nothing then). A SELECT outside a transaction runs inline, on the
event loop (``LeanConnection.idle_raw``). On request (``hold_writes``), a transaction's
writes run together with its commit. Results, errors and transactions are exactly
those of ``sqlite3``.

aiosqlite has no public way to run a function on its thread, so each connection has a
second thread of its own (``_Worker``, the same hand-off as aiosqlite's: a queue in, a
``call_soon_threadsafe`` out; ``loop.run_in_executor`` costs more per call, see
docs/performance.md), on
the ``sqlite3`` connection that ``connector`` opened (``check_same_thread=False``). That
is safe because one task at a time uses a pooled connection (SQLAlchemy's pool, and its
adapter's lock around each call), and aiosqlite's thread only opens and closes it.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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
        return await self._run(_Statement(sql, () if parameters is None else parameters, many=False))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> LeanCursor:
        return await self._run(_Statement(sql, list(parameters), many=True))

    async def _run(self, statement: _Statement) -> LeanCursor:
        connection = self._connection
        held = connection.held
        if held is not None and statement.is_plain_write():
            held.append(statement)  # runs with the commit; its row count is not known before
            self._take(([], None, -1, None))
        elif not held and statement.is_read() and (raw := connection.idle_raw()) is not None:
            self._take(_run_all(raw, [], statement))
        else:
            self._take(await connection.on_thread(_run_all, connection.release_held(), statement))
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
    """An aiosqlite connection whose statements run on its own ``_Worker``, on the ``sqlite3`` connection."""

    # Writes held back until the commit (``hold_writes``), or None.
    held: list[_Statement] | None = None

    def __init__(self, opener: _Opener) -> None:
        super().__init__(opener.open, iter_chunk_size=64)
        self.opener = opener
        self.worker = _Worker()

    def cursor(self) -> LeanCursor:  # type: ignore[override]
        # No hand-off: the sqlite3 cursor is made, used and closed inside ``execute``.
        return LeanCursor(self)

    def hold_writes(self) -> None:
        """Until the transaction ends, run INSERT, UPDATE and DELETE statements with the commit.

        A whole write transaction is then one hand-off, so SQLite's write lock is held for
        microseconds on the thread, not across several turns of a busy event loop. A read
        first runs the writes held before it, so it sees them. The catch: a held write's
        row count is unknown (-1), and its error is raised by the commit. Use it only
        around writes whose row counts nobody reads.
        """
        self.held = []

    def release_held(self) -> list[_Statement]:
        """The writes held so far, to run now (before a read); holding goes on."""
        if not self.held:
            return []
        held, self.held = self.held, []
        return held

    def idle_raw(self) -> sqlite3.Connection | None:
        """The ``sqlite3`` connection when it has no transaction open: a read on it may run inline.

        A SELECT outside a transaction, in WAL mode, waits for no lock (readers never wait for
        the writer), and takes tenths of a millisecond, less than the hand-off to a thread and
        back. Under load the hand-off costs far more: the worker must win the GIL from a busy
        event loop once per row stepped, and its result then waits behind the loop's whole
        ready queue; a transcript read took 160 ms at its median in A3 (docs/performance.md).
        Inside a transaction a read stays on the thread, in order with the transaction's writes.
        """
        raw = self.opener.raw
        return raw if raw is not None and not raw.in_transaction else None

    async def on_thread(self, fn: Callable[..., _Result], *args: Any) -> _Result:
        """``fn(sqlite3_connection, *args)`` on a worker thread."""
        raw = self.opener.raw
        if raw is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return await self.worker.run(fn, raw, *args)

    async def commit(self) -> None:
        held, self.held = self.held or [], None
        if held:
            raw = self.idle_raw()
            if raw is None or not _commit_inline(raw, held, self.opener):
                await self.on_thread(_commit_all, held, self.opener.commits)
        elif self.in_transaction:
            await self.on_thread(_commit)

    async def rollback(self) -> None:
        self.held = None  # never run, so nothing to undo
        if self.in_transaction:
            await self.on_thread(_rollback)

    async def close(self) -> None:
        self.opener.raw = None
        self.worker.stop()
        await super().close()


class _Worker:
    """One thread that runs its connection's calls in order, as aiosqlite's own thread does."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._started = False  # on the first call: a connection that never opens has no thread

    async def run(self, fn: Callable[..., _Result], *args: Any) -> _Result:
        if not self._started:
            self._started = True
            # A daemon: a connection left open does not keep the process alive (as SQLAlchemy
            # arranges for aiosqlite's thread).
            threading.Thread(target=self._serve, name="hotseat-sqlite", daemon=True).start()
        future: asyncio.Future[_Result] = asyncio.get_running_loop().create_future()
        self._calls.put((future, fn, args))
        return await future

    def stop(self) -> None:
        if self._started:
            self._calls.put(None)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            future, fn, args = call
            try:
                result = fn(*args)
            except BaseException as exc:
                future.get_loop().call_soon_threadsafe(_fail, future, exc)
            else:
                future.get_loop().call_soon_threadsafe(_succeed, future, result)


_Call = tuple["asyncio.Future[_Result]", Callable[..., "_Result"], tuple[Any, ...]]


def _succeed(future: asyncio.Future[_Result], result: _Result) -> None:
    if not future.done():  # its caller may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[_Result], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    parameters: Any
    many: bool

    def is_read(self) -> bool:
        return not self.many and self.sql.lstrip()[:6].upper() == "SELECT"

    def is_plain_write(self) -> bool:
        head = self.sql.lstrip()[:6].upper()
        return head in ("INSERT", "UPDATE", "DELETE") and "RETURNING" not in self.sql.upper()

    def run(self, cursor: sqlite3.Cursor) -> None:
        if self.many:
            cursor.executemany(self.sql, self.parameters)
        else:
            cursor.execute(self.sql, self.parameters)


def _run_all(connection: sqlite3.Connection, held: list[_Statement], statement: _Statement) -> _Result:
    cursor = connection.cursor()
    try:
        for earlier in held:
            earlier.run(cursor)
        statement.run(cursor)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _commit_all(connection: sqlite3.Connection, held: list[_Statement], commits: threading.Lock) -> _Result:
    # One held transaction at a time per database: the others wait on this lock, which wakes
    # the next one as soon as the lock is free, and not in SQLite's busy handler, which sleeps
    # 1, 2, 5 ... 100 ms between tries. A burst of answers, each with its writes, had the
    # pool's 15 connections all sleeping there, and requests waiting for a connection got
    # ``busy`` after 5 s (docs/performance.md, A2).
    with commits:
        _run_and_commit(connection, held)
    return [], None, -1, None


def _run_and_commit(connection: sqlite3.Connection, held: list[_Statement]) -> None:
    """The held statements and the commit, or a rollback of them all."""
    cursor = connection.cursor()
    try:
        for statement in held:
            statement.run(cursor)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()


def _commit_inline(connection: sqlite3.Connection, held: list[_Statement], opener: _Opener) -> bool:
    """Run a held transaction and commit it here, on the event loop, if that needs no waiting.

    Like a read, a short write costs less than its hand-off (``LeanConnection.idle_raw``). It
    must never wait on the loop: another connection's transaction may hold SQLite's lock
    across awaits (``Store._write`` without ``blind``), or another thread may be committing.
    So the commits lock is only tried, SQLite's busy timeout is 0 meanwhile, and a write
    that finds the lock taken is rolled back, untouched, and False tells the caller to run
    it on the thread, where it waits as before.
    """
    if not opener.commits.acquire(blocking=False):
        return False
    try:
        connection.execute("PRAGMA busy_timeout=0")
        try:
            _run_and_commit(connection, held)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            raise
        finally:
            connection.execute(f"PRAGMA busy_timeout={opener.busy_timeout_ms}")
        return True
    finally:
        opener.commits.release()


def _commit(connection: sqlite3.Connection) -> _Result:
    connection.commit()
    return [], None, -1, None


def _rollback(connection: sqlite3.Connection) -> _Result:
    connection.rollback()
    return [], None, -1, None


class _Opener:
    """Opens one ``sqlite3`` connection (on aiosqlite's thread) and keeps it for ``LeanConnection``."""

    def __init__(self, database: str, kwargs: dict[str, Any], commits: threading.Lock) -> None:
        self.database = database
        self.kwargs = kwargs
        self.raw: sqlite3.Connection | None = None
        self.commits = commits  # shared by the engine's connections: see ``_commit_all``
        # ``timeout`` as sqlite3.connect reads it (seconds, 5 by default), for ``_commit_inline``.
        self.busy_timeout_ms = int(float(kwargs.get("timeout", 5.0)) * 1000)

    def open(self) -> sqlite3.Connection:
        self.raw = sqlite3.connect(self.database, **self.kwargs, check_same_thread=False)
        return self.raw


def connector(database: str, **kwargs: Any) -> Callable[[], LeanConnection]:
    """An ``async_creator`` for SQLAlchemy: ``sqlite3.connect(database, **kwargs)`` with fewer hand-offs."""
    kwargs.pop("check_same_thread", None)
    commits = threading.Lock()

    def connect() -> LeanConnection:
        return LeanConnection(_Opener(database, kwargs, commits))

    return connect
