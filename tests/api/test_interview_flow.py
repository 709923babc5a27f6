"""A whole interview over HTTP with a scripted model: follow-up, skip, finish, report, exports."""

from __future__ import annotations

import json

import httpx
from helpers import report_when_done, wait_quiet

from hotseat.errors import UpstreamUnavailable
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply

LONG_ANSWER = (
    "At Acme I owned the orders API. I split the monolith's order endpoints into a versioned service, "
    "wrote the migration plan, and we moved forty teams over in six weeks with no downtime at all."
)


def test_full_interview(client: httpx.Client, backend: ScriptedBackend) -> None:
    """Answer (follow-up on what it missed), skip, an off-topic answer (redirected), finish: the report
    scores what the judge found and the quotes check out."""
    n_points = len(client.get("/api/packs/backend-engineer").json()["questions"][0]["assessment"])
    verdicts = [{"verdict": "not_shown", "quotes": []} for _ in range(n_points)]
    verdicts[2] = {"verdict": "demonstrated", "quotes": ["versioned service"]}
    backend.enqueue_structured(json.dumps({"points": verdicts, "claims": [], "on_topic": True}))
    session = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()
    sid = session["id"]
    wait_quiet(client, sid)
    assert client.post(f"/api/sessions/{sid}/answers", json={"text": LONG_ANSWER}).status_code == 202
    turns = wait_quiet(client, sid)
    assert turns[-1]["kind"] == "followup" and turns[-1]["question_index"] == 0
    skipped = client.post(f"/api/sessions/{sid}/skip").json()
    turns = wait_quiet(client, sid)
    assert turns[-2]["kind"] == "skip" and (turns[-1]["kind"], turns[-1]["question_index"]) == ("question", 1)
    assert skipped == {"turn_id": turns[-1]["id"], "kind": "question", "candidate_turn_id": turns[-2]["id"]}
    client.post(f"/api/sessions/{sid}/answers", json={"text": "I spent the weekend hiking in the Alps."})
    turns = wait_quiet(client, sid)
    assert (turns[-1]["kind"], turns[-1]["question_index"]) == ("followup", 1)
    assert client.post(f"/api/sessions/{sid}/finish").status_code == 202
    wait_quiet(client, sid)
    report = report_when_done(client, sid)

    assert [q["index"] for q in report["questions"]] == [0, 1]
    first, second = report["questions"]
    assert first["assessment"]["status"] == "complete" and first["assessment"]["analyser"] == "judge"
    point = first["assessment"]["points"][2]
    assert (point["verdict"], point["score"], point["evidence"]) == ("demonstrated", 4, "versioned service")
    assert point["evidence_turn_id"] == first["answers"][0]["turn_id"]
    assert first["assessment"]["average"] == round((4 + n_points - 1) / n_points, 2)
    assert first["skipped"] is True and second["skipped"] is False
    assert first["strong_answer_covers"][0].startswith("Start from the consumers")
    assert report["strengths"] and report["strengths"][0]["score"] == 4
    assert report["summary"]["status"] == "complete"

    markdown = client.get(f"/api/sessions/{sid}/export", params={"format": "md"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "attachment" in markdown.headers["content-disposition"]
    assert "# Interview report: Backend software engineer" in markdown.text
    assert "| Assessment point | Verdict | Score | Your words |" in markdown.text
    assert "“versioned service”" in markdown.text
    exported = client.get(f"/api/sessions/{sid}/export", params={"format": "json"}).json()
    assert exported == report
    assert client.get(f"/api/sessions/{sid}/export", params={"format": "pdf"}).status_code == 400


def test_report_before_finishing_is_in_progress(client: httpx.Client) -> None:
    """The report can be read at any time; before finishing it says in_progress."""
    session = client.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    wait_quiet(client, session["id"])
    report = client.get(f"/api/sessions/{session['id']}/report").json()
    assert report["status"] == "in_progress"
    assert report["questions"][0]["assessment"]["status"] == "not_answered"


def test_a_failed_judge_leaves_the_matchers_verdicts_explained(
    client: httpx.Client, backend: ScriptedBackend
) -> None:
    """A model that writes bad JSON twice: the matcher's verdicts stand, and the report says why."""
    backend.enqueue_structured("nonsense", "still nonsense")
    session = client.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    sid = session["id"]
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/answers", json={"text": LONG_ANSWER})
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/finish")
    wait_quiet(client, sid)
    report = report_when_done(client, sid)
    assessment = report["questions"][0]["assessment"]
    assert (assessment["status"], assessment["analyser"]) == ("complete", "matcher")
    assert "not valid" in assessment["note"]
    markdown = client.get(f"/api/sessions/{sid}/export").text
    assert "not valid" in markdown


def test_a_retried_report_is_asked_for_the_same_summary(
    client: httpx.Client, backend: ScriptedBackend
) -> None:
    """A report turn that failed, retried: the model is given the composed summary again, not an
    empty one to invent from."""
    session = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()
    sid = session["id"]
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/answers", json={"text": LONG_ANSWER})
    wait_quiet(client, sid)
    backend.enqueue(ScriptedReply(text="", error=UpstreamUnavailable("model down")))
    client.post(f"/api/sessions/{sid}/finish")
    assert wait_quiet(client, sid)[-1]["status"] == "failed"
    first_prompt = backend.calls[-1][0][-1].content
    assert client.post(f"/api/sessions/{sid}/retry").status_code == 202
    turns = wait_quiet(client, sid)
    assert (turns[-1]["kind"], turns[-1]["status"]) == ("report", "complete")
    retried_prompt = backend.calls[-1][0][-1].content
    assert "What you showed" in first_prompt and retried_prompt == first_prompt
