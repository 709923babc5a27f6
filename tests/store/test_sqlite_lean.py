"""The SQLite engine's aiosqlite connection: one hand-off per statement, sqlite3's results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotseat.store.db import create_engine
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
