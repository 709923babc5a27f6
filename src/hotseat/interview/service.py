"""The interview service: what the API calls. It joins the flow, the prompts,
the store and the turn runner; it knows nothing of HTTP or WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hotseat.errors import BadRequest, NotFound
from hotseat.interview import flow
from hotseat.interview.flow import FlowState, TurnPlan
from hotseat.interview.packs import PackRegistry
from hotseat.interview.prompts import PastTurn, build_messages
from hotseat.llm.base import GenerationParams
from hotseat.store.models import SessionRow, TurnRow
from hotseat.store.repo import Store, new_id
from hotseat.streaming.events import Event
from hotseat.streaming.log import LogMissing, StreamLog
from hotseat.streaming.replay import replay_finished_turn
from hotseat.streaming.runner import TurnOutcome, TurnRequest, TurnRunner

# How long a reader waits for the log of a turn the database says is streaming
# (covers the moment between saving a new turn and opening its log).
_LOG_APPEAR_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class StartedTurn:
    session_id: str
    turn_id: str
    kind: str


class InterviewService:
    def __init__(
        self, store: Store, packs: PackRegistry, runner: TurnRunner, log: StreamLog, params: GenerationParams
    ) -> None:
        self.store = store
        self.packs = packs
        self.runner = runner
        self.log = log
        self.params = params

    # -- sessions -------------------------------------------------------------

    async def create_session(
        self,
        pack_id: str,
        *,
        cv_id: str | None = None,
        job_description: str | None = None,
        language: str | None = None,
    ) -> StartedTurn:
        pack = self.packs.get(pack_id)
        if cv_id is not None and await self.store.get_cv(cv_id) is None:
            raise NotFound(f"No CV with id {cv_id!r}; upload it again with POST /api/cvs.")
        state, plan = flow.start()
        session = SessionRow(
            id=new_id(),
            pack_id=pack.id,
            cv_id=cv_id,
            job_description=job_description or None,
            language=language or pack.language,
            status="active",
            flow=state.to_dict(),
        )
        turn = _interviewer_turn(session.id, plan)
        await self.store.add_session(session, turn)
        await self._start_turn(session, turn, plan)
        return StartedTurn(session.id, turn.id, plan.kind)

    async def get_session(self, session_id: str) -> SessionRow:
        session = await self.store.get_session(session_id)
        if session is None:
            raise NotFound(f"No interview session {session_id!r}; it may have been deleted.")
        return session

    async def transcript(self, session_id: str) -> tuple[SessionRow, list[TurnRow]]:
        session = await self.get_session(session_id)
        return session, list(await self.store.list_turns(session_id))

    # -- the candidate's moves -----------------------------------------------------

    async def answer(self, session_id: str, text: str) -> StartedTurn:
        if not text.strip():
            raise BadRequest("The answer is empty; type an answer before sending it.")
        session = await self.get_session(session_id)
        pack = self.packs.get(session.pack_id)
        state, plan = flow.after_answer(FlowState.from_dict(session.flow), len(pack.questions))
        answer = TurnRow(
            id=new_id(),
            session_id=session_id,
            role="candidate",
            kind="answer",
            question_index=FlowState.from_dict(session.flow).question,
            text=text,
            status="complete",
        )
        turn = _interviewer_turn(session_id, plan)
        await self.store.add_turns(session_id, [answer, turn], state.to_dict())
        await self._start_turn(session, turn, plan)
        return StartedTurn(session_id, turn.id, plan.kind)

    async def finish(self, session_id: str) -> StartedTurn:
        session = await self.get_session(session_id)
        state, plan = flow.finish(FlowState.from_dict(session.flow))
        turn = _interviewer_turn(session_id, plan)
        await self.store.add_turns(session_id, [turn], state.to_dict())
        await self.store.set_session_status(session_id, "finished")
        await self._start_turn(session, turn, plan)
        return StartedTurn(session_id, turn.id, plan.kind)

    async def cancel(self, session_id: str, turn_id: str | None = None) -> str | None:
        """Cancel the session's running turn (or the given one); returns the turn id cancelled."""
        await self.get_session(session_id)
        if turn_id is None:
            turn_id = self.runner.running_turn(session_id)
            if turn_id is None:
                return None
        elif await self.store.get_turn(session_id, turn_id) is None:
            raise NotFound(f"No turn {turn_id!r} in this session.")
        return turn_id if await self.runner.cancel(turn_id) else None

    # -- reading a turn's events -------------------------------------------------

    async def turn_events(self, session_id: str, turn_id: str, after: int = 0) -> AsyncIterator[list[Event]]:
        """Batches of the turn's events after ``after``, live; from the database once the log is gone."""
        deadline = asyncio.get_running_loop().time() + _LOG_APPEAR_SECONDS
        while True:
            try:
                async for batch in self.log.read(turn_id, after):
                    yield batch
                return
            except LogMissing:
                pass
            row = await self.store.get_turn(session_id, turn_id)
            if row is None:
                raise NotFound(f"No turn {turn_id!r} in this session.")
            if row.role != "interviewer":
                raise BadRequest("That turn is the candidate's answer; only interviewer turns stream.")
            if row.status != "streaming" or asyncio.get_running_loop().time() >= deadline:
                batch = replay_finished_turn(row, after)
                if batch:
                    yield batch
                return
            await asyncio.sleep(0.05)

    # -- internals ----------------------------------------------------------------------

    async def _start_turn(self, session: SessionRow, turn: TurnRow, plan: TurnPlan) -> None:
        pack = self.packs.get(session.pack_id)
        history = [
            PastTurn(row.role, row.text)
            for row in await self.store.list_turns(session.id)
            if row.id != turn.id and row.kind != "report"
        ]
        cv = await self.store.get_cv(session.cv_id) if session.cv_id else None
        messages = build_messages(
            pack,
            plan,
            history,
            cv_text=cv.text if cv is not None else None,
            job_description=session.job_description,
        )
        request = TurnRequest(session.id, turn.id, plan.kind, messages, self.params)
        await self.runner.start(request, self._persist)

    async def _persist(self, outcome: TurnOutcome) -> None:
        await self.store.finish_turn(outcome)


def _interviewer_turn(session_id: str, plan: TurnPlan) -> TurnRow:
    return TurnRow(
        id=new_id(),
        session_id=session_id,
        role="interviewer",
        kind=plan.kind,
        question_index=plan.question_index,
        text="",
        status="streaming",
    )
