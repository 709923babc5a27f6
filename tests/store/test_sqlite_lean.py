"""The SQLite engine's aiosqlite connection: one hand-off per statement or none, sqlite3's results."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotseat.store.db import create_engine, migrate
from hotseat.store.models import SessionRow, TurnRow
from hotseat.store.repo import Store, new_id
from hotseat.store.sqlite import LeanConnection


def test_results_errors_and_transactions_are_sqlite3s(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lean.db'}", pool_size=1)
        try:
            async with engine.begin() as db:
                raw = await db.get_raw_connection()
                assert isinstance(raw.driver_connection, LeanConnection)
                await db.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
                inserted = await db.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "a"})
                assert inserted.lastrowid == 1
                many = await db.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
                assert many.rowcount == 2
                updated = await db.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
                assert updated.rowcount == 2
                rows = await db.execute(text("SELECT id, v FROM t ORDER BY id"))
                assert rows.all() == [(1, "a"), (2, "b!"), (3, "c!")]
            # A failed write is rolled back whole, and the connection is usable afterwards.
            with pytest.raises(IntegrityError):
                await _insert_d_then_a_again(engine)
            async with engine.connect() as db:
                assert await db.scalar(text("SELECT count(*) FROM t")) == 3
                assert (await db.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None
        finally:
            await engine.dispose()

    asyncio.run(scenario())


async def _insert_d_then_a_again(engine: AsyncEngine) -> None:
    async with engine.begin() as db:
        await db.execute(text("INSERT INTO t (v) VALUES ('d')"))
        await db.execute(text("INSERT INTO t (v) VALUES ('a')"))


def test_held_writes_run_with_the_commit_all_or_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'held.db'}", pool_size=1)
        try:
            async with engine.begin() as db:
                await db.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            async with engine.begin() as db:
                await _hold(db)
                await db.execute(text("INSERT INTO t (v) VALUES ('a')"))
                # A read runs the writes held before it, so it sees them.
                assert await db.scalar(text("SELECT count(*) FROM t")) == 1
                await db.execute(text("INSERT INTO t (v) VALUES ('b')"))
            with pytest.raises(IntegrityError):
                await _held_insert_d_then_a_again(engine)
            async with engine.connect() as db:
                assert (await db.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == ["a", "b"]
        finally:
            await engine.dispose()

    asyncio.run(scenario())


async def _hold(db: AsyncConnection) -> None:
    raw = await db.get_raw_connection()
    assert isinstance(raw.driver_connection, LeanConnection)
    raw.driver_connection.hold_writes()


async def _held_insert_d_then_a_again(engine: AsyncEngine) -> None:
    async with engine.begin() as db:
        await _hold(db)
        await db.execute(text("INSERT INTO t (v) VALUES ('d')"))
        await db.execute(text("INSERT INTO t (v) VALUES ('a')"))  # fails only at the commit


def _trace_threads(raw: LeanConnection, seen: list[tuple[str, bool]]) -> None:
    """Record each statement sqlite3 runs, and whether it ran on the event loop's thread."""
    loop_thread = threading.get_ident()
    assert raw.opener.raw is not None
    raw.opener.raw.set_trace_callback(
        lambda sql: seen.append((sql.split()[0], threading.get_ident() == loop_thread))
    )


def test_reads_and_held_commits_run_inline_and_transactions_on_the_thread(tmp_path: Path) -> None:
    """No hand-off for a read outside a transaction or a held commit; a transaction stays on the thread."""

    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", pool_size=1)
        seen: list[tuple[str, bool]] = []
        try:
            async with engine.begin() as db:
                await db.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
                raw = (await db.get_raw_connection()).driver_connection
                assert isinstance(raw, LeanConnection)
                _trace_threads(raw, seen)
            async with engine.connect() as db:
                assert await db.scalar(text("SELECT count(*) FROM t")) == 0
            assert seen == [("SELECT", True)]
            seen.clear()
            async with engine.begin() as db:
                await _hold(db)
                await db.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert ("INSERT", True) in seen and ("COMMIT", True) in seen
            seen.clear()
            async with engine.begin() as db:
                await db.execute(text("INSERT INTO t (v) VALUES ('b')"))
                assert await db.scalar(text("SELECT count(*) FROM t")) == 2
            assert [s for s in seen if s[0] in ("INSERT", "SELECT", "COMMIT")] == [
                ("INSERT", False),
                ("SELECT", False),
                ("COMMIT", False),
            ]
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_held_commit_that_finds_the_lock_taken_waits_on_the_thread(tmp_path: Path) -> None:
    """While another transaction holds SQLite's write lock, a held commit waits off the loop, then lands."""

    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}", pool_size=2)
        try:
            async with engine.begin() as db:
                await db.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            async with engine.begin() as holder:
                await holder.execute(text("INSERT INTO t (v) VALUES ('first')"))  # takes the write lock

                async def held_write() -> None:
                    async with engine.begin() as db:
                        await _hold(db)
                        await db.execute(text("INSERT INTO t (v) VALUES ('second')"))

                writing = asyncio.create_task(held_write())
                # Had the commit waited on the loop (in SQLite's busy handler, for up to 30 s), these
                # sleeps could not end, nor the holder commit: the loop must stay free meanwhile.
                started = time.monotonic()
                for _ in range(20):
                    await asyncio.sleep(0.01)
                assert time.monotonic() - started < 2
                assert not writing.done()
            await asyncio.wait_for(writing, 10)
            async with engine.connect() as db:
                values = (await db.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
            assert values == ["first", "second"]
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_store_writes_and_reads_take_no_turn_of_the_event_loop(tmp_path: Path) -> None:
    """On SQLite a new session and reads of it never give the event loop away (a busy loop made each wait)."""

    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", pool_size=2)
        await migrate(engine)
        store = Store(engine)
        turns = 0
        running = True

        async def count_turns() -> None:
            nonlocal turns
            while running:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        try:
            session = SessionRow(id=new_id(), owner_id="o", pack_id="p", language="en", flow={})
            opening = TurnRow(
                id=new_id(), session_id=session.id, role="interviewer", kind="opening", status="streaming"
            )
            before = turns
            await store.add_session(session, opening)
            assert await store.get_session(session.id) is not None
            found = await store.get_session_with_turns(session.id)
            assert found is not None and len(found[1]) == 1
            assert turns == before
        finally:
            running = False
            await counter
            await engine.dispose()

    asyncio.run(scenario())
