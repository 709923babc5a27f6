"""The interview state machine and the plan: follow-ups chosen from what the answer showed."""

from __future__ import annotations

import pytest

from hotseat.errors import Conflict
from hotseat.interview import flow
from hotseat.interview.analysis.model import Analysis, PointFinding, Quote
from hotseat.interview.flow import FlowState, TurnPlan
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry
from hotseat.interview.plan import Move, next_move
from hotseat.interview.script import script_for

SHOWN = PointFinding("demonstrated", (Quote("we used a lock", "t1"),))
MISSING = PointFinding("not_shown")
PARTLY = PointFinding("partial", (Quote("some testing", "t1"),))


def move(analysis: Analysis, **overrides: object) -> Move:
    options: dict[str, object] = {
        "followups_used": 0,
        "max_followups": 2,
        "probed": (),
        "redirected": False,
        "claim_pending": False,
        "last_question": False,
    }
    options.update(overrides)
    return next_move(analysis, **options)  # type: ignore[arg-type]


def test_opening_asks_the_first_question_anchored_on_a_claim() -> None:
    """The interview starts on question 0, anchored on the claim given, and remembers the anchor."""
    state, plan = flow.start("c2")
    assert plan == TurnPlan("opening", 0, claim_id="c2")
    assert state.anchor(0) == "c2" and state.last_plan == plan


def test_the_first_missing_point_is_probed() -> None:
    """A missing point is probed before a partial one; the first missing in pack order goes first."""
    analysis = Analysis("matcher", (SHOWN, PARTLY, MISSING, MISSING))
    assert move(analysis) == Move("probe_point", point_index=2)
    assert move(analysis, probed=(2,)) == Move("probe_point", point_index=3)
    assert move(analysis, probed=(2, 3)) == Move("probe_point", point_index=1)


def test_a_covered_question_moves_on_even_with_budget_left() -> None:
    """Every point shown: next question, with no follow-up spent; after the last, close."""
    analysis = Analysis("matcher", (SHOWN, SHOWN))
    assert move(analysis) == Move("next_question")
    assert move(analysis, last_question=True) == Move("close")


def test_the_budget_caps_follow_ups() -> None:
    """With the pack's follow-ups spent, the interview moves on whatever is missing."""
    assert move(Analysis("matcher", (MISSING,)), followups_used=2) == Move("next_question")


def test_an_off_topic_answer_is_redirected_once() -> None:
    """Off topic: one redirect; off topic again: the missing points are probed instead."""
    analysis = Analysis("matcher", (MISSING, MISSING), relevance="off_topic")
    assert move(analysis) == Move("redirect", reason="off_topic")
    assert move(analysis, redirected=True) == Move("probe_point", point_index=0, reason="off_topic")


def test_moving_on_from_an_off_topic_answer_is_not_a_thank_you() -> None:
    """Off topic with the follow-ups spent: the next question says why it moves on, and its words are
    the authored "let's move on" with no model bridge (no thanks for a surfing story)."""
    analysis = Analysis("matcher", (MISSING,), relevance="off_topic")
    moved = move(analysis, followups_used=2)
    assert moved == Move("next_question", reason="off_topic")
    _, plan = flow.after_answer(FlowState(), moved, question_count=3, next_anchor=None)
    assert (plan.kind, plan.reason) == ("question", "off_topic")
    pack = PackRegistry.load([BUILTIN_PACKS_DIR]).get("backend-engineer")
    script = script_for(plan, pack, {}, language="en", turn_number=3)
    assert script.bridge_task is None and script.fallback == "All right, let's move on."
    assert pack.questions[1].question in script.planned


def test_a_declined_answer_is_redirected_kindly() -> None:
    """ "I don't know" gets the how-would-you-find-out redirect."""
    assert move(Analysis("matcher", (MISSING,), declined=True)) == Move("redirect", reason="declined")


def test_the_anchored_claim_is_asked_about_when_the_points_are_covered() -> None:
    """Points covered but the CV claim not confirmed: one question about the claim."""
    assert move(Analysis("matcher", (SHOWN,)), claim_pending=True) == Move("probe_claim")


def test_a_follow_up_spends_budget_and_remembers_the_point() -> None:
    """The state counts the follow-up and the probed point; the next question starts fresh."""
    state, _ = flow.start(None)
    state, plan = flow.after_answer(state, Move("probe_point", point_index=3), 5, None)
    assert plan == TurnPlan("followup", 0, move="probe_point", point_index=3)
    assert (state.followups, state.probed) == (1, (3,))
    state, plan = flow.after_answer(state, Move("next_question"), 5, "c4")
    assert plan == TurnPlan("question", 1, claim_id="c4")
    assert (state.question, state.followups, state.probed, state.anchor(1)) == (1, 0, (), "c4")


def test_state_survives_a_round_trip_through_json() -> None:
    """What the database stores comes back equal."""
    state, _ = flow.start("c1")
    state, _ = flow.after_answer(state, Move("redirect", reason="off_topic"), 3, None)
    assert FlowState.from_dict(state.to_dict()) == state


def test_last_question_closes_and_closed_interviews_refuse_answers() -> None:
    """After the last question the interview closes; answering then is a Conflict."""
    state, plan = flow.after_answer(FlowState(question=2), Move("close"), 3, None)
    assert plan.kind == "closing" and state.phase == "closed"
    with pytest.raises(Conflict):
        flow.after_answer(state, Move("next_question"), 3, None)


def test_finish_reports_once() -> None:
    """Finish writes the report; a second finish is a Conflict."""
    state, plan = flow.finish(FlowState())
    assert plan.kind == "report"
    with pytest.raises(Conflict):
        flow.finish(state)


def test_a_thin_answer_is_asked_to_be_made_concrete_and_never_thanked() -> None:
    """An answer the matcher is unsure touches the question ("it went fine, we did some stuff"):
    once, the interviewer asks for it concretely; after that it probes or moves on with a neutral
    word, never "Thanks for walking me through that"."""
    pack = PackRegistry.load([BUILTIN_PACKS_DIR]).get("backend-engineer")
    neutral = ("Okay.", "I see.", "All right.")
    thin = Analysis("matcher", (MISSING, SHOWN), relevance="unsure", concrete=False)
    # Unsure but concrete ("I wrote a one-page comparison and we chose Postgres"): probed as usual.
    assert move(Analysis("matcher", (MISSING, SHOWN), relevance="unsure")) == Move(
        "probe_point", point_index=0
    )
    assert move(thin) == Move("redirect", reason="thin")
    _, plan = flow.after_answer(FlowState(), move(thin), question_count=3, next_anchor=None)
    script = script_for(plan, pack, {}, language="en", turn_number=4)
    assert script.planned.startswith("Can you make that concrete")
    assert script.fallback in neutral and script.bridge_task is None
    for moved in (move(thin, redirected=True), move(thin, followups_used=2)):
        assert moved.reason == "thin"
        _, plan = flow.after_answer(FlowState(), moved, question_count=3, next_anchor=None)
        for turn_number in range(5):
            script = script_for(plan, pack, {}, language="en", turn_number=turn_number)
            assert script.fallback in neutral, script.fallback
            assert script.bridge_task is not None and "without praising" in script.bridge_task


def test_a_follow_up_after_a_second_stray_answer_does_not_say_it_moves_on() -> None:
    """Off topic after the redirect: the probe that follows is introduced neutrally, not with
    "let's move on" (it does not move on) nor with thanks."""
    pack = PackRegistry.load([BUILTIN_PACKS_DIR]).get("backend-engineer")
    moved = move(Analysis("matcher", (MISSING,), relevance="off_topic"), redirected=True)
    _, plan = flow.after_answer(FlowState(), moved, question_count=3, next_anchor=None)
    script = script_for(plan, pack, {}, language="en", turn_number=1)
    assert script.fallback in ("Okay.", "I see.", "All right.")
    assert script.planned == pack.questions[0].assessment[0].probe
