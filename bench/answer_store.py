"""The store's part of an answer, without a server: CPU and wall time per call, on SQLite.

An answer (issue #25) reads the transcript (``get_session`` + ``list_turns``), writes the answer,
the next turn, its assessment and the flow (``add_turns``), later the turn's outcome
(``finish_turn``) and the assessment's (``finish_assessment``), and the page reads the
transcript again after the turn (``get_session_with_turns`` where the store has it). Each step
runs ``--calls`` times one after another (process CPU per call: the hand-offs and SQLAlchemy),
then the writes again with ``--concurrency`` at once on different sessions (wall time per call:
how writers queue for SQLite's one lock). Run it on two exports to compare them:

    .venv/bin/python -m bench.answer_store --hotseat-src /tmp/a/src
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


async def _measure(label: str, calls: list[Callable[[], Awaitable[Any]]], at_once: int) -> None:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(calls), at_once):
        await asyncio.gather(*(call() for call in calls[start : start + at_once]))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        f"{label:<44} {len(calls):>5} calls, {at_once:>3} at once: "
        f"CPU {cpu / len(calls) * 1e6:7.0f} us/call, wall {wall / len(calls) * 1e6:7.0f} us/call"
    )


async def _run(calls: int, concurrency: int) -> None:
    from hotseat.store.db import create_engine, migrate
    from hotseat.store.models import AssessmentRow, SessionRow, TurnRow
    from hotseat.store.repo import Store, new_id
    from hotseat.streaming.runner import TurnOutcome

    def turn(sid: str, role: str, status: str = "complete") -> TurnRow:
        kind = "answer" if role == "candidate" else "question"
        return TurnRow(id=new_id(), session_id=sid, role=role, kind=kind, text="words " * 40, status=status)

    with tempfile.TemporaryDirectory() as data:
        engine = create_engine(f"sqlite+aiosqlite:///{data}/bench.db")
        await migrate(engine)
        store = Store(engine)
        sessions = [new_id() for _ in range(calls)]
        for sid in sessions:
            row = SessionRow(id=sid, owner_id="o", pack_id="p", language="en", status="active", flow={"q": 0})
            await store.add_session(row, turn(sid, "interviewer"))
        streaming: dict[str, str] = {}
        assessments: dict[str, str] = {}

        async def answer(sid: str) -> None:
            reply, next_turn = turn(sid, "candidate"), turn(sid, "interviewer", "streaming")
            pending = AssessmentRow(
                id=new_id(), session_id=sid, question_index=0, answer_turn_id=reply.id, status="pending"
            )
            await store.add_turns(sid, [reply, next_turn], {"q": 1}, assessments=[pending])
            streaming[sid], assessments[sid] = next_turn.id, pending.id

        async def finish(sid: str) -> None:
            await store.finish_turn(_outcome(TurnOutcome, streaming[sid], 200))

        async def transcript(sid: str) -> None:
            await store.get_session(sid)
            await store.list_turns(sid)

        async def page_transcript(sid: str) -> None:
            together = getattr(store, "get_session_with_turns", None)
            await (together(sid) if together is not None else transcript(sid))

        async def assessed(sid: str) -> None:
            await store.finish_assessment(assessments[sid], "complete", {"points": []}, None)

        for label, step in (
            ("answer: transcript (get_session + list_turns)", transcript),
            ("answer: add_turns (answer, turn, assessment)", answer),
            ("turn end: finish_turn", finish),
            ("assessment: finish_assessment", assessed),
            ("page: GET transcript", page_transcript),
        ):
            await _measure(label, [lambda sid=sid, step=step: step(sid) for sid in sessions], 1)
        # The writes again, as a burst: new sessions' answers at once.
        for sid in sessions:
            await store.finish_turn(_outcome(TurnOutcome, streaming[sid], 0))
        await _measure("burst: add_turns", [lambda sid=sid: answer(sid) for sid in sessions], concurrency)
        await _measure("burst: finish_turn", [lambda sid=sid: finish(sid) for sid in sessions], concurrency)
        await _measure(
            "burst: finish_assessment", [lambda sid=sid: assessed(sid) for sid in sessions], concurrency
        )
        await engine.dispose()


def _outcome(kind: Any, turn_id: str, tokens: int) -> Any:
    """A finished turn of ``tokens`` one-word deltas, as the runner reports it."""
    index = [(seq, 5 * seq) for seq in range(1, tokens + 1)]
    return kind(turn_id, " tok" * tokens, "complete", "stop", None, None, index, tokens + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answer_store", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="sessions, and calls of each step")
    parser.add_argument("--concurrency", type=int, default=100, help="writes at once in the burst")
    parser.add_argument(
        "--hotseat-src", type=Path, help="import hotseat from this directory (an export's src/)"
    )
    args = parser.parse_args(argv)
    if args.hotseat_src is not None:
        sys.path.insert(0, str(args.hotseat_src.resolve()))
    import uvloop

    uvloop.run(_run(args.calls, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
