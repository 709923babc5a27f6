"""The Alembic migrations give PostgreSQL the schema SQLite gets, constraints and types included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

import datastores
from hotseat.errors import Conflict
from hotseat.store.db import create_engine, migrate
from hotseat.store.models import SessionRow, TurnRow, utcnow
from hotseat.store.repo import Store, new_id
from hotseat.streaming.runner import TurnOutcome


@pytest.fixture
async def store(stores: datastores.Stores) -> AsyncIterator[Store]:
    engine = create_engine(stores.new_database())
    await migrate(engine)  # already at head (cloned from the migrated template): a no-op
    yield Store(engine)
    await engine.dispose()


def streaming_turn(session_id: str) -> TurnRow:
    return TurnRow(
        id=new_id(), session_id=session_id, role="interviewer", kind="question", status="streaming"
    )


async def test_schema_is_at_head_with_the_partial_unique_index(store: Store) -> None:
    """Revision 0003 is applied, and the one-streaming-turn index is partial (WHERE status = 'streaming')."""
    async with store.engine.connect() as db:
        assert await db.scalar(text("SELECT version_num FROM alembic_version")) == "0003"
        index = await db.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ux_turns_one_streaming'")
        )
        owner_type = await db.scalar(
            text(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = 'sessions' AND column_name = 'owner_id'"
            )
        )
    assert "UNIQUE" in index and "WHERE" in index and "streaming" in index
    assert owner_type == "character varying"


async def test_two_streaming_turns_in_one_session_conflict(store: Store) -> None:
    """Two answers racing (as on two replicas) cannot both start a turn: the database refuses one."""
    session = SessionRow(id=new_id(), owner_id="o", pack_id="p", language="en", status="active", flow={})
    opening = streaming_turn(session.id)
    opening.status = "complete"
    await store.add_session(session, opening)
    results = await asyncio.gather(
        store.add_turns(session.id, [streaming_turn(session.id)], {}),
        store.add_turns(session.id, [streaming_turn(session.id)], {}),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["Conflict", "NoneType"]
    assert isinstance(next(r for r in results if r is not None), Conflict)


async def test_json_and_timestamps_round_trip(store: Store) -> None:
    """JSON columns come back as they went in; timestamps are timezone-aware UTC."""
    session = SessionRow(
        id=new_id(), owner_id="o", pack_id="p", language="en", status="active", flow={"q": 2, "f": [0, 1]}
    )
    turn = streaming_turn(session.id)
    await store.add_session(session, turn)
    outcome = TurnOutcome(turn.id, "Hello there", "complete", "stop", None, None, [(1, 5), (2, 11)], 3)
    await store.finish_turn(outcome)
    stored_session = await store.get_session(session.id)
    stored_turn = await store.get_turn(session.id, turn.id)
    assert stored_session is not None and stored_turn is not None
    assert stored_session.flow == {"q": 2, "f": [0, 1]}
    assert stored_turn.delta_index == [[1, 5], [2, 11]] and stored_turn.last_seq == 3
    assert stored_turn.created_at.utcoffset() == timedelta(0)
    assert stored_turn.finished_at is not None and stored_turn.finished_at >= stored_turn.created_at
    # The sweeper's query compares them with an aware "now".
    assert await store.streaming_turns(utcnow()) == []


async def test_replicas_starting_together_migrate_one_at_a_time(stores: datastores.Stores) -> None:
    """Three replicas migrating an empty database at once all start; the schema is built once."""
    url = stores.new_database(migrated=False)
    engines = [create_engine(url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        async with engines[0].connect() as db:
            assert await db.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
