"""A whole interview over HTTP with a scripted model: follow-up, skip, finish, report, exports."""

from __future__ import annotations

import json

import httpx
from helpers import report_when_done, wait_quiet

from hotseat.llm.scripted import ScriptedBackend

LONG_ANSWER = (
    "At Acme I owned the orders API. I split the monolith's order endpoints into a versioned service, "
    "wrote the migration plan, and we moved forty teams over in six weeks with no downtime at all."
)


def test_full_interview(client: httpx.Client, backend: ScriptedBackend) -> None:
    """Answer, thin answer (follow-up), skip, finish: the report covers every question asked."""
    n_points = len(client.get("/api/packs/backend-engineer").json()["questions"][0]["assessment"])
    backend.enqueue_structured(
        json.dumps(
            {
                "points": [
                    {"score": 4, "justification": "clear", "evidence": "versioned service", "cv_line": ""}
                ]
                * n_points,
                "suggestion": "Say what you measured.",
            }
        )
    )
    session = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()
    sid = session["id"]
    wait_quiet(client, sid)
    follow = client.post(f"/api/sessions/{sid}/answers", json={"text": LONG_ANSWER})
    assert follow.status_code == 202
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/answers", json={"text": "Not much to say."})
    turns = wait_quiet(client, sid)
    assert turns[-1]["kind"] == "followup" and turns[-1]["question_index"] == 1
    client.post(f"/api/sessions/{sid}/skip")
    turns = wait_quiet(client, sid)
    assert (
        turns[-2]["kind"] == "skip" and turns[-1]["kind"] == "question" and turns[-1]["question_index"] == 2
    )
    assert client.post(f"/api/sessions/{sid}/finish").status_code == 202
    wait_quiet(client, sid)
    report = report_when_done(client, sid)

    assert [q["index"] for q in report["questions"]] == [0, 1, 2]
    first, second, third = report["questions"]
    assert first["assessment"]["status"] == "complete"
    assert first["assessment"]["average"] == 4
    point = first["assessment"]["points"][0]
    assert point["evidence"] == "versioned service"
    assert point["evidence_turn_id"] == first["answers"][0]["turn_id"]
    assert second["skipped"] is True
    assert [a["text"] for a in second["answers"]] == ["Not much to say."]
    assert second["assessment"]["status"] == "complete"  # the thin answer was still assessed
    assert third["assessment"]["status"] == "not_answered"
    assert report["strengths"] and report["strengths"][0]["score"] == 4
    assert report["summary"]["status"] == "complete"

    markdown = client.get(f"/api/sessions/{sid}/export", params={"format": "md"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "attachment" in markdown.headers["content-disposition"]
    assert "# Interview report: Backend software engineer" in markdown.text
    assert "| Assessment point | Score | Why |" in markdown.text
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


def test_not_assessed_is_explained_in_the_report(client: httpx.Client, backend: ScriptedBackend) -> None:
    """A model that writes bad JSON twice leaves an explained `not_assessed`, and the interview goes on."""
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
    assert assessment["status"] == "not_assessed"
    assert "not valid" in assessment["reason"]
    markdown = client.get(f"/api/sessions/{sid}/export").text
    assert "not valid" in markdown
