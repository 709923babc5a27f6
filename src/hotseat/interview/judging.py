"""The model judge in the background: each answer's judgement, queued behind the candidates' turns.

An answer is stored with the matcher's analysis at once; when the judge is configured, its
row stays ``pending`` until the judge's analysis replaces it (or the matcher's verdicts stay,
with the reason the judge's are missing). ``InterviewService`` starts the judgements here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from hotseat.interview.analysis.claims import Claim
from hotseat.interview.analysis.judge import JudgeFailed, judge
from hotseat.interview.analysis.matcher import AnswerText
from hotseat.interview.analysis.model import Analysis
from hotseat.interview.packs import Question
from hotseat.llm.base import GenerationParams
from hotseat.outages import outage_of, retry_outages
from hotseat.store.models import AssessmentRow
from hotseat.store.repo import Store
from hotseat.streaming.runner import TurnRunner

logger = logging.getLogger(__name__)


class Judging:
    """The judge tasks of this process: started, bounded, recorded, and stopped at shutdown."""

    def __init__(
        self,
        store: Store,
        runner: TurnRunner,
        params: GenerationParams,
        concurrency: int,
        wait_seconds: float,
    ) -> None:
        self.store = store
        self.runner = runner
        self.params = params
        # How long a move may wait for the judge before the matcher's analysis decides it.
        self.wait_seconds = wait_seconds
        # Each judge task (running, or waiting for a slot) and the id of its pending row.
        self._assessing: dict[asyncio.Task[None], str] = {}
        # Judging is background work: a burst of answers must not crowd the candidates'
        # replies at the model (a local model runs one generation at a time). The rest wait here.
        self._slots = asyncio.Semaphore(concurrency)

    def start(
        self, question: Question, answers: Sequence[AnswerText], claims: Sequence[Claim], language: str
    ) -> asyncio.Task[Analysis]:
        """Ask the judge about the answers to ``question`` (waiting for a slot first)."""
        return asyncio.create_task(self._judge(question, answers, claims, language))

    @staticmethod
    def answered(judging: asyncio.Task[Analysis] | None) -> bool:
        """The judge answered, and well, while the move waited for it."""
        return (
            judging is not None and judging.done() and not judging.cancelled() and judging.exception() is None
        )

    async def in_time(self, judging: asyncio.Task[Analysis], fallback: Analysis) -> Analysis:
        """The judge's analysis if it comes within ``wait_seconds`` (> 0), else the matcher's."""
        done, _ = await asyncio.wait({judging}, timeout=self.wait_seconds)
        if judging in done and judging.exception() is None:
            return judging.result()
        return fallback

    def record_in_background(
        self, session_id: str, row: AssessmentRow, judging: asyncio.Task[Analysis]
    ) -> None:
        """Store the judge's analysis in ``row`` when it comes (the row is already stored, pending)."""
        task = asyncio.create_task(self._record(session_id, row, judging))
        self._assessing[task] = row.id
        task.add_done_callback(self._forget)

    async def shutdown(self) -> None:
        """Stop the judge tasks running or waiting here; their rows keep the matcher's verdicts.

        Now, not at the next start: with replicas nobody would, and their reports would say
        "pending" forever (queued judgements made that likely on every rolling restart).
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
            logger.warning("could not record %d stopped judgement(s): %s", len(tasks), type(exc).__name__)

    async def _judge(
        self, question: Question, answers: Sequence[AnswerText], claims: Sequence[Claim], language: str
    ) -> Analysis:
        async with self._slots:
            return await judge(self.runner.backend, self.params, question, answers, claims, language=language)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._assessing.pop(task, None)

    async def _record(self, session_id: str, row: AssessmentRow, judging: asyncio.Task[Analysis]) -> None:
        # Leased while queued or running, so that if this replica dies a survivor's sweeper
        # records it (streaming.sweeper); one process marks them at its next start.
        peers = self.runner.peers
        what = f"judging session {session_id}"
        await peers.assessment_started(row.id)
        try:
            # On a failure the matcher's verdicts stay; the report says the judge's are missing and why.
            result, reason = row.result, None
            try:
                result = (await judging).to_dict()
            except asyncio.CancelledError:
                raise
            except JudgeFailed as failed:
                reason = f"the model judge failed ({failed.reason}); these are the matcher's verdicts"
            except Exception:
                logger.exception("judging session %s question %d failed", session_id, row.question_index)
                reason = "the model judge failed unexpectedly; these are the matcher's verdicts"
            await retry_outages(
                what, lambda: self.store.finish_assessment(row.id, "complete", result, reason)
            )
        except Exception as exc:
            # Still down after the retries: the row stays pending, and the next start (or, with
            # replicas, the sweeper) marks it: it was stored with the answer.
            if outage_of(exc) is None:
                raise
            logger.warning(
                "judging session %s question %d: the database stayed unavailable (%s)",
                session_id,
                row.question_index,
                type(exc).__name__,
            )
        finally:
            if not judging.done():
                judging.cancel()
            await peers.assessment_ended(row.id)
