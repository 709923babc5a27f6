"""The interview as a state machine: where it is, and the plan of the next interviewer turn.

Pure functions of (state, move) -> (new state, plan of the next turn); no I/O::

    opening(q0) ──answer──▶ asking(q, f)
                               │ plan.next_move says follow up and f < budget ─▶ followup(q), f+1
                               │ next question, or skip, and q+1 < n ──────────▶ question(q+1), f=0
                               │ the same on the last question ────────────────▶ closing   [closed]
       finish, from any state but [reported] ──────────────────────────────────▶ report    [reported]

What to follow up on is decided from what the answer showed (``interview.plan``), not from its
length. The state remembers which points were probed and whether the question was redirected,
so no follow-up is asked twice, and which CV claim each question was anchored on (the claim ledger).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hotseat.errors import Conflict
from hotseat.interview.plan import Move

Phase = Literal["asking", "closed", "reported"]
TurnKind = Literal["opening", "question", "followup", "closing", "report"]

INTERVIEW_OVER = "The questions are over; finish the interview to get your report."
ALREADY_REPORTED = "This interview is finished and its report has been written."


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """The next interviewer turn: its kind, the pack question it is about, and what it asks."""

    kind: TurnKind
    question_index: int | None
    # A follow-up's move: "redirect", "probe_point" or "probe_claim"; with the point probed or why.
    move: str | None = None
    point_index: int | None = None
    reason: str | None = None
    # The CV claim the question is anchored on (a question or the opening), or asked about.
    claim_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "question_index": self.question_index,
            "move": self.move,
            "point_index": self.point_index,
            "reason": self.reason,
            "claim_id": self.claim_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnPlan:
        return cls(
            kind=data["kind"],
            question_index=data.get("question_index"),
            move=data.get("move"),
            point_index=data.get("point_index"),
            reason=data.get("reason"),
            claim_id=data.get("claim_id"),
        )


@dataclass(frozen=True, slots=True)
class FlowState:
    phase: Phase = "asking"
    # The pack question being answered now, and how many follow-ups it has had.
    question: int = 0
    followups: int = 0
    # On the current question: the points already probed, and whether it was redirected.
    probed: tuple[int, ...] = ()
    redirected: bool = False
    claim_asked: bool = False
    # The CV claim each question was anchored on ("question index" -> claim id).
    anchors: dict[str, str] = field(default_factory=dict)
    # The plan of the last interviewer turn, so a retry writes the same turn again.
    last_plan: TurnPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "question": self.question,
            "followups": self.followups,
            "probed": list(self.probed),
            "redirected": self.redirected,
            "claim_asked": self.claim_asked,
            "anchors": dict(self.anchors),
            "last_plan": self.last_plan.to_dict() if self.last_plan else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowState:
        last = data.get("last_plan")
        return cls(
            phase=data.get("phase", "asking"),
            question=int(data.get("question", 0)),
            followups=int(data.get("followups", 0)),
            probed=tuple(int(i) for i in data.get("probed", ())),
            redirected=bool(data.get("redirected", False)),
            claim_asked=bool(data.get("claim_asked", False)),
            anchors={str(k): str(v) for k, v in (data.get("anchors") or {}).items()},
            last_plan=TurnPlan.from_dict(last) if isinstance(last, dict) else None,
        )

    def anchor(self, question_index: int) -> str | None:
        return self.anchors.get(str(question_index))


def start(anchor: str | None) -> tuple[FlowState, TurnPlan]:
    """The interviewer opens: a greeting and the first question (anchored on a CV claim, if any)."""
    plan = TurnPlan("opening", 0, claim_id=anchor)
    anchors = {"0": anchor} if anchor else {}
    return FlowState(anchors=anchors, last_plan=plan), plan


def after_answer(
    state: FlowState, move: Move, question_count: int, next_anchor: str | None
) -> tuple[FlowState, TurnPlan]:
    """The candidate answered and ``move`` was decided: follow up, or go on."""
    require_asking(state)
    if move.is_followup:
        plan = TurnPlan(
            "followup",
            state.question,
            move=move.kind,
            point_index=move.point_index,
            reason=move.reason,
            claim_id=state.anchor(state.question) if move.kind == "probe_claim" else None,
        )
        probed = (*state.probed, move.point_index) if move.point_index is not None else state.probed
        return (
            replace(
                state,
                followups=state.followups + 1,
                probed=probed,
                redirected=state.redirected or move.kind == "redirect",
                claim_asked=state.claim_asked or move.kind == "probe_claim",
                last_plan=plan,
            ),
            plan,
        )
    return _next_question(state, question_count, next_anchor, reason=move.reason)


def skip(state: FlowState, question_count: int, next_anchor: str | None) -> tuple[FlowState, TurnPlan]:
    """The candidate skips the current question: move on without a follow-up."""
    require_asking(state)
    return _next_question(state, question_count, next_anchor)


def finish(state: FlowState) -> tuple[FlowState, TurnPlan]:
    """The candidate (at any time) or the closing ends the interview: write the report."""
    if state.phase == "reported":
        raise Conflict(ALREADY_REPORTED)
    plan = TurnPlan("report", None)
    return replace(state, phase="reported", last_plan=plan), plan


def _next_question(
    state: FlowState, question_count: int, next_anchor: str | None, reason: str | None = None
) -> tuple[FlowState, TurnPlan]:
    following = state.question + 1
    if following < question_count:
        plan = TurnPlan("question", following, reason=reason, claim_id=next_anchor)
        anchors = {**state.anchors, str(following): next_anchor} if next_anchor else state.anchors
        fresh = FlowState("asking", following, 0, anchors=anchors, last_plan=plan)
        return fresh, plan
    plan = TurnPlan("closing", None, reason=reason)
    return replace(state, phase="closed", last_plan=plan), plan


def require_asking(state: FlowState) -> None:
    if state.phase == "closed":
        raise Conflict(INTERVIEW_OVER)
    if state.phase == "reported":
        raise Conflict(ALREADY_REPORTED)
