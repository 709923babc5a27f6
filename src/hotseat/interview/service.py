"""The interview service: what the API calls. It joins the flow, the prompts,
the store, the turn runner and the assessor; it knows nothing of HTTP or WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from hotseat.errors import BadRequest, Conflict, NotFound, session_not_found
from hotseat.interview import flow
from hotseat.interview.assessment import Answer, assess
from hotseat.interview.flow import FlowState, TurnKind, TurnPlan
from hotseat.interview.packs import Pack, PackRegistry
from hotseat.interview.prompts import PastTurn, build_messages
from hotseat.interview.report import build_report
from hotseat.llm.base import GenerationParams
from hotseat.outages import outage_of, retry_outages
from hotseat.store.models import AssessmentRow, CvRow, SessionRow, TurnRow
from hotseat.store.repo import Store, new_id
from hotseat.streaming.events import Event
from hotseat.streaming.log import LogMissing, StreamLog
from hotseat.streaming.replay import replay_finished_turn
from hotseat.streaming.runner import TurnRequest, TurnRunner

logger = logging.getLogger(__name__)

# How long a reader waits for the log of a turn the database says is streaming
# (covers the moment between saving a new turn and opening its log).
_LOG_APPEAR_SECONDS = 1.0
SKIPPED_TEXT = "(skipped)"
RETRYABLE_STATUSES = frozenset({"failed", "interrupted", "cancelled"})


@dataclass(frozen=True, slots=True)
class StartedTurn:
    session_id: str
    turn_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class CreatedSession:
    """A new session as stored, and its opening turn (already generating)."""

    session: SessionRow
    turn: StartedTurn


class InterviewService:
    def __init__(
        self,
        store: Store,
        packs: PackRegistry,
        runner: TurnRunner,
        log: StreamLog,
        params: GenerationParams,
        assessment_params: GenerationParams,
        assessment_concurrency: int,
    ) -> None:
        self.store = store
        self.packs = packs
        self.runner = runner
        self.log = log
        self.params = params
        self.assessment_params = assessment_params
        # Each assessment task (running, or waiting for a slot) and the id of its pending row.
        self._assessing: dict[asyncio.Task[None], str] = {}
        # Assessments are background work: a burst of answers must not crowd the candidates'
        # replies at the model (a local model runs one generation at a time). The rest wait here.
        self._assessment_slots = asyncio.Semaphore(assessment_concurrency)

    # -- sessions -------------------------------------------------------------

    async def create_session(
        self,
        owner: str,
        pack_id: str,
        *,
        cv: CvRow | None = None,
        job_description: str | None = None,
        language: str | None = None,
        max_sessions: int = 0,
    ) -> CreatedSession:
        """Start an interview for ``owner`` (the caller has checked that the CV is theirs).

        ``Conflict`` if ``max_sessions`` is set and the owner keeps that many already.
        """
        pack = self.packs.get(pack_id)
        state, plan = flow.start()
        session = SessionRow(
            id=new_id(),
            owner_id=owner,
            pack_id=pack.id,
            cv_id=cv.id if cv is not None else None,
            job_description=job_description or None,
            language=language or pack.language,
            status="active",
            flow=state.to_dict(),
        )
        turn = _interviewer_turn(session.id, plan)
        await self.store.add_session(session, turn, max_per_owner=max_sessions)
        # Nothing is read back: the opening turn has no history, and the CV is already at hand.
        await self._start_turn(session, turn, plan, known=([], cv.text if cv is not None else None))
        return CreatedSession(session, StartedTurn(session.id, turn.id, plan.kind))

    async def get_session(self, session_id: str) -> SessionRow:
        session = await self.store.get_session(session_id)
        if session is None:
            raise session_not_found(session_id)
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
        current = FlowState.from_dict(session.flow)
        state, plan = flow.answer(current, text, pack.followups, len(pack.questions))
        reply = _candidate_turn(session_id, "answer", current.question, text)
        pending = AssessmentRow(
            id=new_id(),
            session_id=session_id,
            question_index=current.question,
            answer_turn_id=reply.id,
            status="pending",
        )
        started = await self._advance(session, reply, state, plan, pending)
        self._assess_in_background(session, pack, pending)
        return started

    async def skip(self, session_id: str) -> StartedTurn:
        session = await self.get_session(session_id)
        pack = self.packs.get(session.pack_id)
        current = FlowState.from_dict(session.flow)
        state, plan = flow.skip(current, len(pack.questions))
        return await self._advance(
            session, _candidate_turn(session_id, "skip", current.question, SKIPPED_TEXT), state, plan
        )

    async def finish(self, session_id: str) -> StartedTurn:
        session = await self.get_session(session_id)
        state, plan = flow.finish(FlowState.from_dict(session.flow))
        turn = _interviewer_turn(session_id, plan)
        known = await self._prompt_inputs(session)
        await self.store.add_turns(session_id, [turn], state.to_dict(), status="finished")
        await self._start_turn(session, turn, plan, known)
        return StartedTurn(session_id, turn.id, plan.kind)

    async def retry(self, session_id: str) -> StartedTurn:
        """Write the last interviewer turn again, if it failed, was interrupted or was stopped.

        The flow does not move: the new turn has the same kind and question. The
        failed turn stays in the transcript, as it happened.
        """
        session, turns = await self.transcript(session_id)
        last = next((t for t in reversed(turns) if t.role == "interviewer"), None)
        if last is None or last.status not in RETRYABLE_STATUSES:
            raise Conflict(
                "There is nothing to retry: the interviewer's last reply is complete or still running."
            )
        plan = TurnPlan(cast(TurnKind, last.kind), last.question_index)
        turn = _interviewer_turn(session_id, plan)
        known = await self._prompt_inputs(session, turns)
        await self.store.add_turns(session_id, [turn], session.flow)
        await self._start_turn(session, turn, plan, known)
        return StartedTurn(session_id, turn.id, plan.kind)

    async def cancel(self, session_id: str, turn_id: str | None = None) -> str | None:
        """Cancel the session's running turn (or the given one); returns the turn id cancelled."""
        await self.get_session(session_id)
        if turn_id is None:
            turn_id = await self._generating_turn(session_id)
            if turn_id is None:
                return None
        elif await self.store.get_turn(session_id, turn_id) is None:
            raise NotFound(f"No turn {turn_id!r} in this session.")
        return turn_id if await self.runner.cancel(turn_id) else None

    # -- reading ----------------------------------------------------------------------

    async def turn_events(self, session_id: str, turn_id: str, after: int = 0) -> AsyncIterator[list[Event]]:
        """Batches of the turn's events after ``after``, live; from the database once the log is gone."""
        deadline = asyncio.get_running_loop().time() + _LOG_APPEAR_SECONDS
        while True:
            try:
                async for batch in self.log.read(turn_id, after):
                    yield batch
                    # A shared log can vanish mid-read (Redis restarted): go on from the database.
                    after = batch[-1].seq
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

    async def report(self, session_id: str) -> dict[str, Any]:
        session, turns = await self.transcript(session_id)
        assessments = await self.store.list_assessments(session_id)
        return build_report(
            session_id=session.id,
            session_status=session.status,
            language=session.language,
            created_at=session.created_at.isoformat(),
            pack=self.packs.get(session.pack_id),
            turns=turns,
            assessments=assessments,
        )

    async def delete(self, session_id: str) -> None:
        """Stop the session's running turn, then delete everything stored about it."""
        running = await self._generating_turn(session_id)
        if running is not None:
            await self.runner.cancel(running)
        await self.store.delete_session(session_id)

    async def shutdown(self) -> None:
        """Stop the assessments running or waiting here, and record them as not assessed.

        Now, not at the next start: with replicas nobody would, and their reports would say
        "pending" forever (queued assessments made that likely on every rolling restart).
        """
        tasks = dict(self._assessing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.store.abandon_pending_assessments(list(tasks.values()))
        except Exception as exc:
            if outage_of(exc) is None:
                raise
            # One process marks them at its next start; with replicas, the sweeper (leases released).
            logger.warning("could not record %d stopped assessment(s): %s", len(tasks), type(exc).__name__)

    # -- internals ----------------------------------------------------------------------

    async def _generating_turn(self, session_id: str) -> str | None:
        """The session's turn being generated: here, or (with replicas) wherever the database says."""
        return self.runner.running_turn(session_id) or await self.store.streaming_turn_id(session_id)

    async def _advance(
        self,
        session: SessionRow,
        reply: TurnRow,
        state: FlowState,
        plan: TurnPlan,
        assessment: AssessmentRow | None = None,
    ) -> StartedTurn:
        turn = _interviewer_turn(session.id, plan)
        history, cv_text = await self._prompt_inputs(session)
        known = ([*history, PastTurn(reply.role, reply.kind, reply.text)], cv_text)
        pending = [assessment] if assessment is not None else []
        await self.store.add_turns(session.id, [reply, turn], state.to_dict(), assessments=pending)
        await self._start_turn(session, turn, plan, known)
        return StartedTurn(session.id, turn.id, plan.kind)

    async def _prompt_inputs(
        self, session: SessionRow, turns: Sequence[TurnRow] | None = None
    ) -> tuple[list[PastTurn], str | None]:
        """The history (from ``turns`` when the caller has read them) and CV text a new turn's
        prompt is built from.

        Read before the new turn is stored: a read that fails after the write (database busy)
        would leave a turn marked generating that nothing generates, blocking every move.
        """
        if turns is None:
            turns = await self.store.list_turns(session.id)
        history = [PastTurn(row.role, row.kind, row.text) for row in turns if row.kind != "report"]
        return history, await self._cv_text(session)

    async def _start_turn(
        self,
        session: SessionRow,
        turn: TurnRow,
        plan: TurnPlan,
        known: tuple[list[PastTurn], str | None],
    ) -> None:
        """Build the prompt from ``known`` (the history and CV text, read before ``turn`` was
        stored) and start generating."""
        pack = self.packs.get(session.pack_id)
        history, cv_text = known
        messages = build_messages(
            pack,
            plan,
            history,
            language=session.language,
            cv_text=cv_text,
            job_description=session.job_description,
        )
        request = TurnRequest(session.id, turn.id, plan.kind, messages, self.params, owner=session.owner_id)
        await self.runner.start(request, self.store.finish_turn)

    async def _cv_text(self, session: SessionRow) -> str | None:
        cv = await self.store.get_cv(session.cv_id) if session.cv_id else None
        return cv.text if cv is not None else None

    def _assess_in_background(self, session: SessionRow, pack: Pack, row: AssessmentRow) -> None:
        # Started after the next turn, so a shared local model serves the candidate first.
        task = asyncio.create_task(self._assess_logged(session, pack, row))
        self._assessing[task] = row.id
        task.add_done_callback(self._forget_assessment)

    def _forget_assessment(self, task: asyncio.Task[None]) -> None:
        self._assessing.pop(task, None)

    async def _assess_logged(self, session: SessionRow, pack: Pack, row: AssessmentRow) -> None:
        # Leased while queued or running, so that if this replica dies a survivor's sweeper
        # records it as not assessed (streaming.sweeper); one process marks them at its next start.
        peers = self.runner.peers
        await peers.assessment_started(row.id)
        try:
            async with self._assessment_slots:
                await self._assess(session, pack, row)
        except Exception as exc:
            # Still down after the retries: the row stays pending, and the next start (or, with
            # replicas, the sweeper) marks it not assessed: it was stored with the answer.
            if outage_of(exc) is None:
                raise
            logger.warning(
                "assessing session %s question %d: the database stayed unavailable (%s)",
                session.id,
                row.question_index,
                type(exc).__name__,
            )
        finally:
            await peers.assessment_ended(row.id)

    async def _assess(self, session: SessionRow, pack: Pack, row: AssessmentRow) -> None:
        """Score the answers to ``row``'s question (its pending row was stored with the answer)."""
        store, question_index = self.store, row.question_index
        what = f"assessing session {session.id}"
        turns = await retry_outages(what, lambda: store.list_turns(session.id))
        answers = [
            Answer(t.id, t.text)
            for t in turns
            if t.role == "candidate" and t.kind == "answer" and t.question_index == question_index
        ]
        cv_text = await retry_outages(what, lambda: self._cv_text(session))
        try:
            result = await assess(
                self.runner.backend,
                self.assessment_params,
                pack,
                question_index,
                answers,
                language=session.language,
                cv_text=cv_text,
                job_description=session.job_description,
            )
        except Exception:
            logger.exception("assessing session %s question %d failed", session.id, question_index)
            await retry_outages(
                what,
                lambda: store.finish_assessment(
                    row.id, "not_assessed", None, "the assessment failed unexpectedly"
                ),
            )
            return
        await retry_outages(
            what, lambda: store.finish_assessment(row.id, result.status, result.result, result.reason)
        )


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


def _candidate_turn(session_id: str, kind: str, question_index: int, text: str) -> TurnRow:
    return TurnRow(
        id=new_id(),
        session_id=session_id,
        role="candidate",
        kind=kind,
        question_index=question_index,
        text=text,
        status="complete",
    )
