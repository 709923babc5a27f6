"""Transcripts survive restarts; a turn cut off by a dead process is marked interrupted."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

import hx
from datastores import single_process_only
from hotseat.app import build_services, create_app
from hotseat.config import Settings
from hotseat.errors import INTERRUPTED_MESSAGE, Conflict, Interrupted
from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread
from hotseat.store.models import AssessmentRow, SessionRow, TurnRow
from hotseat.store.repo import new_id
from hotseat.streaming.runner import TurnOutcome


def test_transcript_survives_a_restart(settings: Settings) -> None:
    """Stop the server, start it again on the same data dir: the transcript is all there."""
    backend = ScriptedBackend()
    backend.enqueue("Opening question?", "Next question?")
    with ServerThread(create_app(settings, backend=backend)) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}).json()
        url = f"{server.base_url}/api/sessions/{session['id']}"
        hx.get(f"{url}/turns/{session['turn_id']}/events", timeout=10)
        hx.post(f"{url}/answers", json={"text": "An answer worth keeping."})
        deadline = time.monotonic() + 10
        while hx.get(url).json()["turns"][-1]["status"] == "streaming":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        before = hx.get(url).json()
    with ServerThread(create_app(settings, backend=ScriptedBackend())) as server:
        after = hx.get(f"{server.base_url}/api/sessions/{session['id']}").json()
        replay = hx.get(f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events")
    assert after == before
    assert [t["text"] for t in after["turns"]] == [
        "Opening question?",
        "An answer worth keeping.",
        "Next question?",
    ]
    assert "Opening question?" in replay.text


@single_process_only  # replicas must not interrupt each other's turns when one starts: the sweeper does
def test_streaming_turn_left_by_a_dead_process_is_interrupted_on_start(settings: Settings) -> None:
    """A turn still 'streaming' in the database when the server starts is marked interrupted."""

    async def scenario() -> tuple[TurnRow, list[str]]:
        services = await build_services(settings, ScriptedBackend())
        session_id, turn_id = new_id(), new_id()
        await services.store.add_session(
            _session_row(session_id),
            TurnRow(
                id=turn_id,
                session_id=session_id,
                role="interviewer",
                kind="opening",
                text="Half a sen",
                status="streaming",
                delta_index=[[1, 4], [2, 10]],
            ),
        )
        await services.engine.dispose()
        services = await build_services(settings, ScriptedBackend())
        turn = await services.store.get_turn(session_id, turn_id)
        assert turn is not None
        session = await services.store.get_session(session_id)
        assert session is not None
        seat = services.seats.of(session.id)
        events = [e.type async for batch in seat.follow(turn_id) for e in batch]
        async with services.engine.connect() as connection:
            count = len((await connection.execute(select(TurnRow.id))).all())
        assert count == 1
        await services.engine.dispose()
        return turn, events

    turn, events = asyncio.run(scenario())
    assert turn.status == "interrupted"
    assert turn.error_code == "interrupted"
    assert turn.text == "Half a sen"
    assert events == ["delta", "error"]


def test_an_answer_and_its_pending_assessment_are_stored_together(settings: Settings) -> None:
    """add_turns with an assessment is one transaction: refused whole while a turn is generating
    (no assessment without its answer), stored whole otherwise."""

    async def scenario() -> tuple[list[str], int, list[str], str]:
        services = await build_services(settings, ScriptedBackend())
        store = services.store
        session_id = new_id()
        await store.add_session(_session_row(session_id), _turn(session_id, "interviewer", "streaming"))

        def pending_for(answer: TurnRow) -> AssessmentRow:
            return AssessmentRow(
                id=new_id(),
                session_id=session_id,
                question_index=0,
                answer_turn_id=answer.id,
                status="pending",
            )

        # The opening is still 'streaming', and this batch adds a second generating turn.
        answer = _turn(session_id, "candidate", "complete")
        with pytest.raises(Conflict):
            await store.add_turns(
                session_id,
                [answer, _turn(session_id, "interviewer", "streaming")],
                {},
                assessments=[pending_for(answer)],
            )
        after_refusal = [a.id for a in await store.list_assessments(session_id)]
        turns_after_refusal = len(await store.list_turns(session_id))
        answer = _turn(session_id, "candidate", "complete")
        await store.add_turns(session_id, [answer], {}, assessments=[pending_for(answer)])
        stored = [a.answer_turn_id for a in await store.list_assessments(session_id)]
        await services.engine.dispose()
        return after_refusal, turns_after_refusal, stored, answer.id

    after_refusal, turns_after_refusal, stored, answer_id = asyncio.run(scenario())
    assert after_refusal == []
    assert turns_after_refusal == 1  # only the opening
    assert stored == [answer_id]


def test_the_first_outcome_stored_wins(settings: Settings) -> None:
    """A replica cut off for longer than its lease finds its turn already ended as interrupted by
    another replica's sweeper, which told every reader so: its own outcome, stored late, leaves
    the row as the readers were told."""

    async def scenario() -> TurnRow | None:
        services = await build_services(settings, ScriptedBackend())
        store = services.store
        session_id = new_id()
        turn = _turn(session_id, "interviewer", "streaming")
        await store.add_session(_session_row(session_id), turn)
        interrupted = Interrupted(INTERRUPTED_MESSAGE)
        swept = TurnOutcome(turn.id, "Half", "interrupted", None, None, interrupted, [(1, 4)], 2)
        assert await store.finish_abandoned_turn(swept)
        late = TurnOutcome(turn.id, "Half a sentence.", "complete", "stop", None, None, [(1, 4), (2, 16)], 3)
        await store.finish_turn(late)
        row = await store.get_turn(session_id, turn.id)
        await services.engine.dispose()
        return row

    row = asyncio.run(scenario())
    assert row is not None
    assert (row.status, row.text, row.last_seq, row.error_code) == ("interrupted", "Half", 2, "interrupted")


def test_a_session_past_the_owners_cap_is_refused_and_leaves_nothing(settings: Settings) -> None:
    """add_session with a cap stores sessions up to it; past it, Conflict, and no row of the refused
    session or its opening turn. Other owners are not counted."""

    async def scenario() -> tuple[int, list[str], int]:
        services = await build_services(settings, ScriptedBackend())
        store = services.store
        for _ in range(2):
            session_id = new_id()
            await store.add_session(
                _session_row(session_id), _turn(session_id, "interviewer", "complete"), max_per_owner=2
            )
        refused = new_id()
        with pytest.raises(Conflict, match="2 interview sessions"):
            await store.add_session(
                _session_row(refused), _turn(refused, "interviewer", "streaming"), max_per_owner=2
            )
        other = new_id()
        await store.add_session(
            _session_row(other, owner="someone else"),
            _turn(other, "interviewer", "complete"),
            max_per_owner=2,
        )
        async with services.engine.connect() as db:
            left = len((await db.execute(select(TurnRow.id).where(TurnRow.session_id == refused))).all())
        kept = [s.id for s in await store.list_sessions("o")]
        stored_other = len(await store.list_sessions("someone else"))
        await services.engine.dispose()
        return left, kept, stored_other

    left, kept, stored_other = asyncio.run(scenario())
    assert left == 0
    assert len(kept) == 2
    assert stored_other == 1


def test_columns_a_new_row_leaves_unset_are_null(settings: Settings) -> None:
    """A new turn's unset JSON column is SQL NULL, not the JSON text null, with the cap and without."""

    async def scenario() -> list[int]:
        services = await build_services(settings, ScriptedBackend())
        store = services.store
        found = []
        for cap in (0, 5):
            session_id = new_id()
            turn = _turn(session_id, "interviewer", "streaming")
            await store.add_session(_session_row(session_id), turn, max_per_owner=cap)
            async with services.engine.connect() as db:
                unset = select(TurnRow.id).where(TurnRow.id == turn.id, TurnRow.delta_index.is_(None))
                found.append(len((await db.execute(unset)).all()))
        await services.engine.dispose()
        return found

    assert asyncio.run(scenario()) == [1, 1]


@single_process_only  # on PostgreSQL, starts at the same moment can each miss the others' rows
def test_concurrent_starts_stop_exactly_at_the_cap(settings: Settings) -> None:
    """Twelve starts of one owner at once, with a cap of five: the insert counts under SQLite's
    write lock, so exactly five are stored and seven refused."""

    async def scenario() -> tuple[int, int]:
        services = await build_services(settings, ScriptedBackend())
        store = services.store

        async def start() -> bool:
            session_id = new_id()
            try:
                await store.add_session(
                    _session_row(session_id), _turn(session_id, "interviewer", "complete"), max_per_owner=5
                )
            except Conflict:
                return False
            return True

        results = await asyncio.gather(*(start() for _ in range(12)))
        stored = len(await store.list_sessions("o"))
        await services.engine.dispose()
        return sum(results), stored

    succeeded, stored = asyncio.run(scenario())
    assert (succeeded, stored) == (5, 5)


def test_turns_are_appended_after_the_last_one_with_the_flow_saved(settings: Settings) -> None:
    """add_turns counts each turn's position in its INSERT: consecutive after the session's
    last, within one call and across calls, and another session's turns do not count; the flow
    and status are saved with them; get_session_with_turns reads the same in one query."""

    async def scenario() -> tuple[list[tuple[str, int]], list[str], SessionRow | None]:
        services = await build_services(settings, ScriptedBackend())
        store = services.store
        mine, other = new_id(), new_id()
        await store.add_session(_session_row(other), _turn(other, "interviewer", "complete"))
        await store.add_turns(other, [_turn(other, "candidate", "complete")], {})
        await store.add_session(_session_row(mine), _turn(mine, "interviewer", "complete"))
        first = [_turn(mine, "candidate", "complete"), _turn(mine, "interviewer", "complete")]
        await store.add_turns(mine, first, {"question": 1})
        last = _turn(mine, "interviewer", "complete")
        await store.add_turns(mine, [last], {"question": 2}, status="finished")
        turns = await store.list_turns(mine)
        session = await store.get_session(mine)
        together = await store.get_session_with_turns(mine)
        assert together is not None
        assert together[0].flow == session.flow if session else False
        assert [t.id for t in together[1]] == [t.id for t in turns]  # one query, the same answer
        assert await store.get_session_with_turns(new_id()) is None
        await services.engine.dispose()
        return [(t.id, t.position) for t in turns], [first[0].id, first[1].id, last.id], session

    stored, appended, session = asyncio.run(scenario())
    assert [position for _, position in stored] == [0, 1, 2, 3]
    assert [turn_id for turn_id, _ in stored[1:]] == appended
    assert session is not None and session.flow == {"question": 2} and session.status == "finished"


def _turn(session_id: str, role: str, status: str) -> TurnRow:
    kind = "answer" if role == "candidate" else "question"
    return TurnRow(id=new_id(), session_id=session_id, role=role, kind=kind, text="", status=status)


def _session_row(session_id: str, owner: str = "o") -> SessionRow:
    return SessionRow(
        id=session_id, owner_id=owner, pack_id="backend-engineer", language="en", status="active", flow={}
    )
