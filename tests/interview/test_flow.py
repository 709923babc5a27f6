"""The interview state machine: opening, follow-ups, skip, closing, report."""

from __future__ import annotations

import pytest

from hotseat.errors import Conflict
from hotseat.interview import flow
from hotseat.interview.flow import FlowState, TurnPlan
from hotseat.interview.packs import FollowupPolicy

POLICY = FollowupPolicy(max_per_question=2, min_words=5)
GOOD = "I led the migration of our billing system to a new database with zero downtime."


def test_opening_asks_the_first_question() -> None:
    """The interview starts asking question 0 with no follow-ups used."""
    assert flow.start() == (FlowState("asking", 0, 0), TurnPlan("opening", 0))


def test_good_answer_moves_to_the_next_question() -> None:
    """An answer with enough words moves on and resets the follow-up count."""
    state, plan = flow.answer(FlowState("asking", 0, 1), GOOD, POLICY, 3)
    assert (state, plan) == (FlowState("asking", 1, 0), TurnPlan("question", 1))


def test_thin_answers_get_follow_ups_up_to_the_limit() -> None:
    """Thin answers earn follow-ups, at most max_per_question, then the interview moves on."""
    state = FlowState()
    state, plan = flow.answer(state, "Not sure.", POLICY, 3)
    assert plan == TurnPlan("followup", 0)
    state, plan = flow.answer(state, "Maybe.", POLICY, 3)
    assert plan == TurnPlan("followup", 0)
    state, plan = flow.answer(state, "No idea.", POLICY, 3)
    assert plan == TurnPlan("question", 1)
    assert state == FlowState("asking", 1, 0)


def test_no_follow_ups_when_the_pack_allows_none() -> None:
    """With max_per_question 0 a thin answer still moves on."""
    _, plan = flow.answer(FlowState(), "Hm.", FollowupPolicy(max_per_question=0), 3)
    assert plan == TurnPlan("question", 1)


def test_last_answer_closes_and_then_answers_are_refused() -> None:
    """After the last question the interviewer closes; further answers are a conflict."""
    state, plan = flow.answer(FlowState("asking", 2, 0), GOOD, POLICY, 3)
    assert plan == TurnPlan("closing", None)
    assert state.phase == "closed"
    with pytest.raises(Conflict, match="finish"):
        flow.answer(state, GOOD, POLICY, 3)
    with pytest.raises(Conflict):
        flow.skip(state, 3)


def test_skip_moves_on_without_follow_up() -> None:
    """Skipping moves to the next question, or closes on the last one."""
    assert flow.skip(FlowState("asking", 0, 1), 3) == (FlowState("asking", 1, 0), TurnPlan("question", 1))
    assert flow.skip(FlowState("asking", 2, 0), 3)[1] == TurnPlan("closing", None)


def test_finish_writes_the_report_once() -> None:
    """Finish is allowed at any time before the report; a second finish is a conflict."""
    state, plan = flow.finish(FlowState("asking", 1, 0))
    assert plan == TurnPlan("report", None)
    with pytest.raises(Conflict):
        flow.finish(state)
    with pytest.raises(Conflict):
        flow.answer(state, GOOD, POLICY, 3)


def test_state_round_trips_through_json() -> None:
    """The state stored with the session reads back the same."""
    state = FlowState("asking", 4, 2)
    assert FlowState.from_dict(state.to_dict()) == state
