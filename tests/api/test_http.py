"""The HTTP API against a real server: packs, sessions, answers, errors."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from helpers import wait_quiet

from hotseat.llm.scripted import ScriptedBackend, ScriptedReply


def test_health_names_backend_and_model(client: httpx.Client) -> None:
    """/api/health is cheap and says which backend and model are live."""
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["backend"] == "scripted"
    assert body["model"] == "scripted"
    assert body["model_title"] == "scripted"
    assert body["model_advice"] is None  # advice is for the embedded 135M only


def test_packs_list_and_detail(client: httpx.Client) -> None:
    """The built-in packs are listed; a pack's detail has its questions but not its system prompt."""
    packs = client.get("/api/packs").json()
    ids = {p["id"] for p in packs}
    assert {"general-behavioural", "backend-engineer", "cv-deep-dive"} <= ids
    detail = client.get("/api/packs/backend-engineer").json()
    assert detail["questions"]
    assert "system_prompt" not in detail
    missing = client.get("/api/packs/nope")
    assert missing.status_code == 404
    assert "general-behavioural" in missing.json()["error"]["message"]


def test_session_lifecycle(client: httpx.Client, backend: ScriptedBackend) -> None:
    """Create (opening starts), answer (202, next turn), finish (report turn), report."""
    backend.enqueue("Hello, first question?", "Second question?", "Report text.")
    created = client.post("/api/sessions", json={"pack": "general-behavioural"})
    assert created.status_code == 201
    session = created.json()
    assert session["language"] == "en" and session["turn_id"]
    wait_quiet(client, session["id"])
    answered = client.post(f"/api/sessions/{session['id']}/answers", json={"text": "My answer."})
    assert answered.status_code == 202
    turns = wait_quiet(client, session["id"])
    assert [t["text"] for t in turns] == ["Hello, first question?", "My answer.", "Second question?"]
    # The 202 names both turns the answer made, and the new turn's kind.
    kinds = [t["kind"] for t in turns]
    assert answered.json() == {
        "turn_id": turns[2]["id"],
        "kind": kinds[2],
        "candidate_turn_id": turns[1]["id"],
    }
    assert turns[0]["usage"]["completion_tokens"] == 3
    finished = client.post(f"/api/sessions/{session['id']}/finish")
    assert finished.status_code == 202
    report_turn = wait_quiet(client, session["id"])[-1]
    assert finished.json() == {"turn_id": report_turn["id"], "kind": "report", "candidate_turn_id": None}
    report = client.get(f"/api/sessions/{session['id']}/report").json()
    assert report["summary"]["text"] == "Report text."
    again = client.post(f"/api/sessions/{session['id']}/finish")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"pack": "nope"}, 404, "not_found"),
        ({}, 400, "bad_request"),
        ({"pack": "general-behavioural", "surprise": 1}, 400, "bad_request"),
        ({"pack": "general-behavioural", "cv_id": "missing"}, 404, "not_found"),
        ({"pack": "general-behavioural", "language": "not a language!"}, 400, "bad_request"),
        ({"pack": 5}, 400, "bad_request"),
    ],
)
def test_create_session_validation(
    client: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    """Bad session requests get the documented status and code with a readable message."""
    response = client.post("/api/sessions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_answer_validation(client: httpx.Client, settings: Any) -> None:
    """Empty, missing, oversized and malformed answers are 400; unknown sessions 404."""
    session = client.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    wait_quiet(client, session["id"])
    url = f"/api/sessions/{session['id']}/answers"
    assert client.post(url, json={"text": ""}).status_code == 400
    assert client.post(url, json={"text": "   "}).status_code == 400
    assert client.post(url, json={}).status_code == 400
    too_long = client.post(url, json={"text": "x" * (settings.max_answer_chars + 1)})
    assert too_long.status_code == 400
    assert str(settings.max_answer_chars) in too_long.json()["error"]["message"]
    not_json = client.post(url, content=b"{oops", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert client.post("/api/sessions/nope/answers", json={"text": "hi"}).status_code == 404
    # None of the refused answers reached the transcript.
    assert len(wait_quiet(client, session["id"])) == 1


def test_cancel_over_http(client: httpx.Client, backend: ScriptedBackend) -> None:
    """POST .../cancel stops a running turn; it ends cancelled with its partial text."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(" ".join(["word"] * 500), token_delay=0.01, hold=hold))
    session = client.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    url = f"/api/sessions/{session['id']}/turns/{session['turn_id']}"
    with client.stream("GET", f"{url}/events") as response:
        hold.set()
        for line in response.iter_lines():
            if line.startswith("event: delta"):
                break
        cancelled = client.post(f"{url}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json() == {"turn_id": session["turn_id"], "cancelled": True}
    (turn,) = wait_quiet(client, session["id"])
    assert turn["status"] == "cancelled"
    assert turn["finish_reason"] == "cancelled"
    assert 0 < len(turn["text"]) < len(" ".join(["word"] * 500))
    again = client.post(f"{url}/cancel")
    assert again.json()["cancelled"] is False


def test_unknown_routes_and_methods_are_json_errors(client: httpx.Client) -> None:
    """404 and 405 use the error envelope; GET never changes state."""
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = client.get("/api/sessions/x/finish")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "bad_request"


def test_page_is_served(client: httpx.Client) -> None:
    """The page is served at / with its script from /static/."""
    page = client.get("/")
    assert page.status_code == 200
    assert "/static/app.js" in page.text


def test_timestamps_carry_their_utc_offset(client: httpx.Client) -> None:
    """On SQLite as on PostgreSQL, every timestamp the API returns is UTC with an explicit offset."""
    sid = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"]
    turns = wait_quiet(client, sid)
    session = client.get(f"/api/sessions/{sid}").json()
    listed = client.get("/api/sessions").json()
    report = client.get(f"/api/sessions/{sid}/report").json()
    stamps = [session["created_at"], report["created_at"], *(s["created_at"] for s in listed)]
    stamps += [t[key] for t in turns for key in ("created_at", "finished_at") if t.get(key)]
    assert stamps
    for stamp in stamps:
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() == timedelta(0), stamp
