"""With HOTSEAT_JUDGE_WAIT_SECONDS set, a move waits for the judge: what it keeps from the matcher,
and a judge that fails within the wait still leaves its note in the report."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers import report_when_done, wait_quiet

from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"analysis": "judge", "judge_wait_seconds": 10.0})


def start(client: httpx.Client) -> str:
    sid: str = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"]
    wait_quiet(client, sid)
    return sid


def test_i_dont_know_is_still_declined_when_the_judge_answers_in_time(
    client: httpx.Client, backend: ScriptedBackend
) -> None:
    """The judge has no "declined" verdict: the matcher's stands, so "I don't know" gets the kind
    how-would-you-find-out follow-up, not a redirect to the question."""
    points = len(client.get("/api/packs/backend-engineer").json()["questions"][0]["assessment"])
    verdicts = [{"verdict": "not_shown", "quotes": []} for _ in range(points)]
    backend.enqueue_structured(json.dumps({"points": verdicts, "claims": [], "on_topic": True}))
    sid = start(client)
    client.post(f"/api/sessions/{sid}/answers", json={"text": "I don't know."})
    followup = wait_quiet(client, sid)[-1]
    assert (followup["kind"], followup["question_index"]) == ("followup", 0)
    # The free style (a server model): the planned words are the model's brief for the turn.
    assert "How would you go about finding out" in backend.calls[-1][0][-1].content


def test_a_judge_that_fails_within_the_wait_is_explained(
    client: httpx.Client, backend: ScriptedBackend
) -> None:
    """Bad JSON twice, fast: the move goes on with the matcher's verdicts, and the report says why."""
    backend.enqueue_structured("nonsense", "still nonsense")
    sid = start(client)
    client.post(
        f"/api/sessions/{sid}/answers",
        json={"text": "I split the orders API into a versioned service and moved forty teams over."},
    )
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/finish")
    wait_quiet(client, sid)
    assessment = report_when_done(client, sid)["questions"][0]["assessment"]
    assert (assessment["status"], assessment["analyser"]) == ("complete", "matcher")
    assert "not valid" in assessment["note"]
