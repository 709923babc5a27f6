"""The interview as a state machine: what the interviewer does next.

Pure functions of (pack, state, event) -> (new state, plan of the next turn);
no I/O, so every path is easy to test. States::

    opening ──answer──▶ asking(q) ──answer──▶ asking(q+1) ... ──answer──▶ closing ──▶ closed
       │                   │                                                 │
       └──────────── finish (any time) ───────────────────────────▶ report ◀─┘
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from hotseat.errors import Conflict

Phase = Literal["asking", "closed", "reported"]
TurnKind = Literal["opening", "question", "closing", "report"]


@dataclass(frozen=True, slots=True)
class FlowState:
    phase: Phase = "asking"
    # Index of the pack question the candidate is answering now.
    question: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowState:
        return cls(phase=data.get("phase", "asking"), question=int(data.get("question", 0)))


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """The next interviewer turn: its kind and the pack question it is about."""

    kind: TurnKind
    question_index: int | None


def start() -> tuple[FlowState, TurnPlan]:
    """The interviewer opens: a greeting and the first question."""
    return FlowState(), TurnPlan("opening", 0)


def after_answer(state: FlowState, question_count: int) -> tuple[FlowState, TurnPlan]:
    """The candidate answered the current question: ask the next one, or close."""
    if state.phase != "asking":
        raise Conflict("This interview is over; finish it to get the report, or start a new one.")
    following = state.question + 1
    if following < question_count:
        return FlowState("asking", following), TurnPlan("question", following)
    return FlowState("closed", state.question), TurnPlan("closing", None)


def finish(state: FlowState) -> tuple[FlowState, TurnPlan]:
    """The candidate (or the closing) ends the interview: write the report."""
    if state.phase == "reported":
        raise Conflict("The report for this interview has already been written.")
    return FlowState("reported", state.question), TurnPlan("report", None)
