"""The interview service: what the API calls. It joins the flow, the analysis, the prompts, the
store, the turn runner and the judge; it knows nothing of HTTP or WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from hotseat.errors import BadRequest, Conflict, NotFound, session_not_found
from hotseat.interview import flow
from hotseat.interview.analysis import matcher
from hotseat.interview.analysis.claims import Claim, anchor_for, claims_of, confirmed, cv_deletions
from hotseat.interview.analysis.matcher import AnswerText
from hotseat.interview.analysis.model import Analysis
from hotseat.interview.bridge import bridge_messages, guided_stream
from hotseat.interview.flow import FlowState, TurnKind, TurnPlan
from hotseat.interview.judging import Judging
from hotseat.interview.packs import PackRegistry
from hotseat.interview.plan import next_move
from hotseat.interview.progress import build_progress, earlier_reports
from hotseat.interview.prompts import PastTurn, build_messages
from hotseat.interview.records import new_candidate_turn, new_interviewer_turn
from hotseat.interview.report import build_report
from hotseat.interview.script import TurnScript, script_for
from hotseat.interview.summary import compose_summary
from hotseat.llm.base import GenerationParams, StreamItem
from hotseat.store.models import AssessmentRow, CvRow, SessionRow, TurnRow
from hotseat.store.repo import Store, new_id
from hotseat.streaming.log import StreamLog
from hotseat.streaming.runner import TurnRequest, TurnRunner

SKIPPED_TEXT = "(skipped)"
RETRYABLE_STATUSES = frozenset({"failed", "interrupted", "cancelled"})


@dataclass(frozen=True, slots=True)
class InterviewOptions:
    """How the interviewer speaks and listens (docs/interview.md)."""

    style: Literal["guided", "free"] = "free"
    analysis: Literal["matcher", "judge"] = "matcher"
    # How long a move may wait for the judge before the matcher's analysis decides it.
    judge_wait_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Known:
    """What a new turn is built from, read before the turn is stored."""

    history: list[PastTurn]
    cv_text: str | None
    claims: list[Claim]


@dataclass(frozen=True, slots=True)
class StartedTurn:
    session_id: str
    turn_id: str
    kind: str
    # The candidate's turn the move stored (an answer or a skip), so that a client can name its own
    # turn without reading the transcript again.
    candidate_turn_id: str | None = None


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
        options: InterviewOptions | None = None,
    ) -> None:
        self.store = store
        self.packs = packs
        self.runner = runner
        self.log = log
        self.params = params
        self.options = options or InterviewOptions()
        self.judging = Judging(
            store, runner, assessment_params, assessment_concurrency, self.options.judge_wait_seconds
        )

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
        cv_deletions_before_read: int | None = None,
    ) -> CreatedSession:
        """Start an interview for ``owner`` (the caller has checked that the CV is theirs).

        ``cv_deletions_before_read`` is ``cv_deletions()`` as it was before the caller read ``cv``:
        its claims are not kept if a CV was deleted meanwhile (``claims_of``).
        ``Conflict`` if ``max_sessions`` is set and the owner keeps that many already.
        """
        pack = self.packs.get(pack_id)
        cv_text = cv.text if cv is not None else None
        claims = claims_of(cv_text, deletions_before_read=cv_deletions_before_read)
        state, plan = flow.start(anchor_for(pack, 0, claims, used=()))
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
        turn = new_interviewer_turn(session.id, plan.kind, plan.question_index)
        await self.store.add_session(session, turn, max_per_owner=max_sessions)
        # Nothing is read back: the opening turn has no history, and the CV is already at hand.
        await self._start_turn(session, turn, plan, _Known([], cv_text, claims))
        return CreatedSession(session, StartedTurn(session.id, turn.id, plan.kind))

    async def get_session(self, session_id: str) -> SessionRow:
        session = await self.store.get_session(session_id)
        if session is None:
            raise session_not_found(session_id)
        return session

    async def transcript(self, session_id: str, owner: str | None = None) -> tuple[SessionRow, list[TurnRow]]:
        """The session and its turns, in one query: every move starts with it (bench/stages showed
        each round trip waiting 15–30 ms under load). With ``owner``, it must be theirs: a move
        over HTTP is checked in this same read rather than in one of its own."""
        found = await self.store.get_session_with_turns(session_id)
        if found is None or (owner is not None and found[0].owner_id != owner):
            raise session_not_found(session_id)
        return found

    # -- the candidate's moves -----------------------------------------------------

    async def answer(self, session_id: str, text: str, *, owner: str | None) -> StartedTurn:
        """Store the answer with its analysis, and start the move the analysis calls for."""
        if not text.strip():
            raise BadRequest("The answer is empty; type an answer before sending it.")
        session, turns = await self.transcript(session_id, owner)
        pack = self.packs.get(session.pack_id)
        current = FlowState.from_dict(session.flow)
        flow.require_asking(current)
        reply = new_candidate_turn(session_id, "answer", current.question, text)
        known = await self._known(session, [*turns, reply])
        question = pack.questions[current.question]
        answers = [
            AnswerText(t.id, t.text)
            for t in (*turns, reply)
            if t.role == "candidate" and t.kind == "answer" and t.question_index == current.question
        ]
        anchored = [c for c in known.claims if c.id == current.anchor(current.question)]
        matched = matcher.analyse(question, answers, known.claims)
        analysis = matched
        judging: asyncio.Task[Analysis] | None = None
        judged = self.options.analysis == "judge"
        if judged and self.judging.wait_seconds > 0:
            judging = self.judging.start(question, answers, known.claims, session.language)
            # The judge has no "I don't know" verdict: the matcher's reading of that stands.
            analysis = replace(await self.judging.in_time(judging, matched), declined=matched.declined)
        move = next_move(
            analysis,
            followups_used=current.followups,
            max_followups=pack.followups.max_per_question,
            probed=current.probed,
            redirected=current.redirected,
            claim_pending=bool(anchored) and not current.claim_asked and not confirmed(analysis, anchored),
            last_question=current.question + 1 >= len(pack.questions),
        )
        used = list(current.anchors.values())
        next_anchor = anchor_for(pack, current.question + 1, known.claims, used=used)
        state, plan = flow.after_answer(current, move, len(pack.questions), next_anchor)
        row = AssessmentRow(
            id=new_id(),
            session_id=session_id,
            question_index=current.question,
            answer_turn_id=reply.id,
            # Pending until the judge's verdicts are recorded: also when it already failed, so that
            # the failure's note is recorded (Judging._record) rather than lost.
            status="pending" if judged and not Judging.answered(judging) else "complete",
            result=analysis.to_dict(),
        )
        turn = new_interviewer_turn(session_id, plan.kind, plan.question_index)
        try:
            await self.store.add_turns(session_id, [reply, turn], state.to_dict(), assessments=[row])
        except BaseException:
            if judging is not None:
                judging.cancel()
            raise
        await self._start_turn(session, turn, plan, known)
        if row.status == "pending":
            # Started after the turn, so a model shared with it serves the candidate first.
            judging = judging or self.judging.start(question, answers, known.claims, session.language)
            self.judging.record_in_background(session_id, row, judging)
        return StartedTurn(session_id, turn.id, plan.kind, reply.id)

    async def skip(self, session_id: str, *, owner: str | None) -> StartedTurn:
        session, turns = await self.transcript(session_id, owner)
        pack = self.packs.get(session.pack_id)
        current = FlowState.from_dict(session.flow)
        reply = new_candidate_turn(session_id, "skip", current.question, SKIPPED_TEXT)
        known = await self._known(session, [*turns, reply])
        used = list(current.anchors.values())
        next_anchor = anchor_for(pack, current.question + 1, known.claims, used=used)
        state, plan = flow.skip(current, len(pack.questions), next_anchor)
        turn = new_interviewer_turn(session_id, plan.kind, plan.question_index)
        await self.store.add_turns(session_id, [reply, turn], state.to_dict())
        await self._start_turn(session, turn, plan, known)
        return StartedTurn(session_id, turn.id, plan.kind, reply.id)

    async def finish(self, session_id: str, *, owner: str | None) -> StartedTurn:
        session, turns = await self.transcript(session_id, owner)
        state, plan = flow.finish(FlowState.from_dict(session.flow))
        turn = new_interviewer_turn(session_id, plan.kind, plan.question_index)
        known = await self._known(session, turns)
        summary = await self._summary(session, turns, plan, known)
        await self.store.add_turns(session_id, [turn], state.to_dict(), status="finished")
        await self._start_turn(session, turn, plan, known, summary=summary)
        return StartedTurn(session_id, turn.id, plan.kind)

    async def retry(self, session_id: str, *, owner: str | None) -> StartedTurn:
        """Write the last interviewer turn again, if it failed, was interrupted or was stopped.

        The flow does not move: the new turn has the same plan. The failed turn stays in the
        transcript, as it happened.
        """
        session, turns = await self.transcript(session_id, owner)
        last = next((t for t in reversed(turns) if t.role == "interviewer"), None)
        if last is None or last.status not in RETRYABLE_STATUSES:
            raise Conflict(
                "There is nothing to retry: the interviewer's last reply is complete or still running."
            )
        state = FlowState.from_dict(session.flow)
        plan = state.last_plan or TurnPlan(cast(TurnKind, last.kind), last.question_index)
        turn = new_interviewer_turn(session_id, plan.kind, plan.question_index)
        known = await self._known(session, turns)
        summary = await self._summary(session, turns, plan, known)  # a retried report says it again
        await self.store.add_turns(session_id, [turn], session.flow)
        await self._start_turn(session, turn, plan, known, summary=summary)
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

    async def report(self, session_id: str) -> dict[str, Any]:
        session, turns = await self.transcript(session_id)
        report = await self._report(session, turns)
        report["progress"] = build_progress(report, await earlier_reports(self.store, self.packs, session))
        return report

    async def delete(self, session_id: str) -> None:
        """Stop the session's running turn, then delete everything stored about it."""
        running = await self._generating_turn(session_id)
        if running is not None:
            await self.runner.cancel(running)
        await self.store.delete_session(session_id)

    async def shutdown(self) -> None:
        """Stop the judge tasks running or waiting here (``Judging.shutdown``)."""
        await self.judging.shutdown()

    # -- internals ----------------------------------------------------------------------

    async def _report(
        self, session: SessionRow, turns: Sequence[TurnRow], claims: Sequence[Claim] | None = None
    ) -> dict[str, Any]:
        """The report; ``claims``: the CV's, when the caller has read them already."""
        assessments = await self.store.list_assessments(session.id)
        if claims is None:
            claims = (await self._cv(session))[1]
        return build_report(
            session_id=session.id,
            session_status=session.status,
            language=session.language,
            created_at=session.created_at.isoformat(),
            pack=self.packs.get(session.pack_id),
            turns=turns,
            assessments=assessments,
            claims=claims,
            anchors=FlowState.from_dict(session.flow).anchors,
        )

    async def _summary(
        self, session: SessionRow, turns: Sequence[TurnRow], plan: TurnPlan, known: _Known
    ) -> str:
        """The closing summary a ``report`` turn says ("" for any other turn), composed from the report."""
        if plan.kind != "report":
            return ""
        report = await self._report(session, turns, known.claims)
        return compose_summary(report, self.packs.get(session.pack_id), session.language)

    async def _generating_turn(self, session_id: str) -> str | None:
        """The session's turn being generated: here, or (with replicas) wherever the database says."""
        return self.runner.running_turn(session_id) or await self.store.streaming_turn_id(session_id)

    async def _known(self, session: SessionRow, turns: Sequence[TurnRow]) -> _Known:
        """The history, CV text and claims a new turn is built from.

        Read before the new turn is stored: a read that fails after the write (database busy)
        would leave a turn marked generating that nothing generates, blocking every move.
        """
        history = [PastTurn(row.role, row.kind, row.text) for row in turns if row.kind != "report"]
        cv_text, claims = await self._cv(session)
        return _Known(history, cv_text, claims)

    async def _start_turn(
        self, session: SessionRow, turn: TurnRow, plan: TurnPlan, known: _Known, *, summary: str = ""
    ) -> None:
        """Start generating ``turn`` from its plan, in the configured style."""
        pack = self.packs.get(session.pack_id)
        script = script_for(
            plan,
            pack,
            {claim.id: claim for claim in known.claims},
            language=session.language,
            turn_number=len(known.history),
            summary=summary,
        )
        source = self._guided_source(session, script, known) if self.options.style == "guided" else None
        # The whole-turn prompt only where the model writes the whole turn (free style).
        messages = (
            build_messages(
                pack,
                plan,
                known.history,
                script,
                language=session.language,
                cv_text=known.cv_text,
                job_description=session.job_description,
            )
            if source is None
            else []
        )
        request = TurnRequest(
            session.id, turn.id, plan.kind, messages, self.params, owner=session.owner_id, source=source
        )
        await self.runner.start(request, self.store.finish_turn)

    def _guided_source(
        self, session: SessionRow, script: TurnScript, known: _Known
    ) -> Callable[[], AsyncIterator[StreamItem]]:
        last_answer = next((t.text for t in reversed(known.history) if t.role == "candidate"), None)
        bridge = (
            bridge_messages(script.bridge_task, session.language, last_answer)
            if script.bridge_task is not None
            else None
        )
        backend = self.runner.backend

        def source() -> AsyncIterator[StreamItem]:
            return guided_stream(
                backend,
                bridge,
                fallback=script.fallback,
                planned=script.planned,
                language=session.language,
                answer=last_answer,
            )

        return source

    async def _cv(self, session: SessionRow) -> tuple[str | None, list[Claim]]:
        """The session's CV text and its claims (kept per CV text, ``claims_of``)."""
        deletions = cv_deletions()
        cv_text = await self._cv_text(session)
        return cv_text, claims_of(cv_text, deletions_before_read=deletions)

    async def _cv_text(self, session: SessionRow) -> str | None:
        cv = await self.store.get_cv(session.cv_id) if session.cv_id else None
        return cv.text if cv is not None else None
