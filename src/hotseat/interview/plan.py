"""What the interviewer does after an answer, decided from what the answer showed.

A pure function of the flow state, the question and the analysis of its answers so far::

    off topic, declined or thin, not yet redirected ▶ redirect (once per question)
    a point not shown (worst, then first) ────▶ probe it with its authored follow-up
    a point only partly shown ────────────────▶ probe it
    the anchored CV claim not confirmed ──────▶ ask about the claim
    nothing left, or the follow-up budget spent ▶ next question (or close after the last)

Each follow-up (a redirect, a probe) spends one of the pack's ``followups.max_per_question``;
no point is probed twice on one question. A *thin* answer touches the question only faintly ("it
went fine, we did some stuff with databases"): its redirect asks to make it concrete, and no
later move thanks the candidate for it as if it had said something.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hotseat.interview.analysis.model import Analysis
from hotseat.interview.analysis.rubric import effective_verdict

MoveKind = Literal["redirect", "probe_point", "probe_claim", "next_question", "close"]


@dataclass(frozen=True, slots=True)
class Move:
    kind: MoveKind
    point_index: int | None = None
    # What was wrong with the latest answer, if anything: "off_topic", "declined" or "thin".
    reason: str | None = None

    @property
    def is_followup(self) -> bool:
        return self.kind in ("redirect", "probe_point", "probe_claim")


def next_move(
    analysis: Analysis,
    *,
    followups_used: int,
    max_followups: int,
    probed: Sequence[int],
    redirected: bool,
    claim_pending: bool,
    last_question: bool,
) -> Move:
    """The next move after an answer to the current question."""
    astray = "declined" if analysis.declined else "off_topic" if analysis.relevance == "off_topic" else None
    # Thin: the matcher is unsure the answer touched the question, and it names nothing concrete.
    reason = astray or ("thin" if analysis.relevance == "unsure" and not analysis.concrete else None)
    if followups_used < max_followups:
        if not redirected and reason is not None:
            return Move("redirect", reason=reason)
        verdicts = [effective_verdict(finding) for finding in analysis.points]
        for wanted in (("not_shown", "contradicted"), ("partial",)):
            for index, verdict in enumerate(verdicts):
                if verdict in wanted and index not in probed:
                    return Move("probe_point", point_index=index, reason=reason)
        if claim_pending:
            return Move("probe_claim", reason=reason)
    # Moving on from an answer that was off topic, declined or thin: the turn does not thank the
    # candidate for it.
    return Move("close" if last_question else "next_question", reason=reason)
