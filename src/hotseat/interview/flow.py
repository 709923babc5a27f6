"""The interview as a state machine: what the interviewer does next.

Pure functions of (state, pack, move) -> (new state, plan of the next turn);
no I/O, so every path is easy to test::

    opening(q0) ──answer──▶ asking(q, f)
                               │ thin answer and f < max follow-ups ──▶ followup(q), f+1
                               │ good answer, or skip, and q+1 < n  ──▶ question(q+1), f=0
                               │ good answer, or skip, on the last  ──▶ closing        [closed]
       finish, from any state but [reported] ─────────────────────────▶ report         [reported]

An answer is *thin* when it has fewer words than the pack's
``followups.min_words``; deciding from the answer alone keeps the next
question instant (the scored assessment runs alongside, not before it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from hotseat.errors import Conflict
from hotseat.interview.packs import FollowupPolicy

Phase = Literal["asking", "closed", "reported"]
TurnKind = Literal["opening", "question", "followup", "closing", "report"]

INTERVIEW_OVER = "The questions are over; finish the interview to get your report."
ALREADY_REPORTED = "This interview is finished and its report has been written."


@dataclass(frozen=True, slots=True)
class FlowState:
    phase: Phase = "asking"
    # The pack question being answered now, and how many follow-ups it has had.
    question: int = 0
    followups: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowState:
        return cls(
            phase=data.get("phase", "asking"),
            question=int(data.get("question", 0)),
            followups=int(data.get("followups", 0)),
        )


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """The next interviewer turn: its kind and the pack question it is about."""

    kind: TurnKind
    question_index: int | None


def is_thin(answer: str, policy: FollowupPolicy) -> bool:
    return len(answer.split()) < policy.min_words


def start() -> tuple[FlowState, TurnPlan]:
    """The interviewer opens: a greeting and the first question."""
    return FlowState(), TurnPlan("opening", 0)


def answer(
    state: FlowState, text: str, policy: FollowupPolicy, question_count: int
) -> tuple[FlowState, TurnPlan]:
    """The candidate answered: follow up on a thin answer, else move on."""
    _require_asking(state)
    if is_thin(text, policy) and state.followups < policy.max_per_question:
        return FlowState("asking", state.question, state.followups + 1), TurnPlan("followup", state.question)
    return _next_question(state, question_count)


def skip(state: FlowState, question_count: int) -> tuple[FlowState, TurnPlan]:
    """The candidate skips the current question: move on without a follow-up."""
    _require_asking(state)
    return _next_question(state, question_count)


def finish(state: FlowState) -> tuple[FlowState, TurnPlan]:
    """The candidate (at any time) or the closing ends the interview: write the report."""
    if state.phase == "reported":
        raise Conflict(ALREADY_REPORTED)
    return FlowState("reported", state.question, state.followups), TurnPlan("report", None)


def _next_question(state: FlowState, question_count: int) -> tuple[FlowState, TurnPlan]:
    following = state.question + 1
    if following < question_count:
        return FlowState("asking", following, 0), TurnPlan("question", following)
    return FlowState("closed", state.question, state.followups), TurnPlan("closing", None)


def _require_asking(state: FlowState) -> None:
    if state.phase == "closed":
        raise Conflict(INTERVIEW_OVER)
    if state.phase == "reported":
        raise Conflict(ALREADY_REPORTED)
