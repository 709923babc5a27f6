"""The store raises the database's failures as HotseatError, where they happen."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hotseat.errors import DatabaseBusy, DatabaseUnavailable
from hotseat.outages import outage_of
from hotseat.store.db import create_engine, migrate
from hotseat.store.models import CvRow
from hotseat.store.repo import Store


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_database_is_unavailable() -> None:
    """A database nobody listens for: a read is DatabaseUnavailable (503), caused by the driver's error."""

    async def scenario() -> None:
        url = f"postgresql+asyncpg://hotseat:x@127.0.0.1:{_closed_port()}/hotseat"
        engine = create_engine(url, pool_size=1, pool_timeout=1)
        try:
            with pytest.raises(DatabaseUnavailable) as raised:
                await Store(engine).get_session("nope")
        finally:
            await engine.dispose()
        assert raised.value.http_status == 503 and raised.value.code == "unavailable"
        assert raised.value.__cause__ is not None
        assert outage_of(raised.value) == "database"

    asyncio.run(scenario())


def test_an_exhausted_pool_is_busy(tmp_path: Path) -> None:
    """Every pooled connection in use past the pool timeout: a read is DatabaseBusy (503 busy)."""

    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}", pool_size=1, pool_timeout=0.2)
        await migrate(engine)
        store = Store(engine, pool_timeout=0.2)
        try:
            async with engine.connect():  # holds the only connection
                with pytest.raises(DatabaseBusy) as raised:
                    await store.get_cv("nope")
            assert await store.get_cv("nope") is None  # and works once it is free
            cv = CvRow(id="c", owner_id="o", filename="a.txt", content_type="text/plain", text="t", chars=1)
            await store.add_cv(cv)
            assert cv.created_at is not None, "the column's default is set on the object too"
        finally:
            await engine.dispose()
        assert raised.value.code == "busy" and outage_of(raised.value) == "database"

    asyncio.run(scenario())
