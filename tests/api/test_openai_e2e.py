"""hotseat end to end with the `openai` backend talking to a real OpenAI-format server."""

from __future__ import annotations

import json

from helpers import recv_json, recv_turn, text_of

import hx
from doubles.mock_openai import Cut, Hang, MockOpenAI, Reply
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.serving import ServerThread
from hx import ws_connect


def test_health_reports_the_openai_backend(openai_server: ServerThread) -> None:
    """Health names the openai backend and the configured model."""
    body = hx.get(f"{openai_server.base_url}/api/health").json()
    assert (body["backend"], body["model"]) == ("openai", "mock-model")


def test_cancel_closes_the_upstream_connection(openai_server: ServerThread, upstream: MockOpenAI) -> None:
    """A WS cancel mid-reply closes the upstream request before it finished; partial text is kept."""
    upstream.enqueue(Hang(after_tokens=5))
    session = hx.post(f"{openai_server.base_url}/api/sessions", json={"pack": "backend-engineer"}).json()
    with ws_connect(f"{openai_server.ws_url}/ws?session={session['id']}") as ws:
        assert recv_json(ws)["type"] == "turn"
        first = [recv_json(ws)]
        while first[-1]["seq"] < 5:  # the upstream sent 5 tokens, then went silent
            first.append(recv_json(ws))
        ws.send(json.dumps({"type": "cancel"}))
        rest, done = recv_turn(ws, after=5)
    assert done["finish_reason"] == "cancelled"
    assert upstream.wait_for_outcome(0, timeout=10) == "client_closed"
    turn = hx.get(f"{openai_server.base_url}/api/sessions/{session['id']}").json()["turns"][0]
    assert turn["status"] == "cancelled"
    assert turn["text"] == text_of(first + rest)
    # The system prompt from the pack reached the upstream, with the original idea's first line.
    system = upstream.requests[0].body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are a brilliant interviewer.")


def test_upstream_cut_ends_the_turn_with_an_error_and_keeps_text(
    openai_server: ServerThread, upstream: MockOpenAI
) -> None:
    """A cut mid-stream ends the turn with a retryable upstream_error; the partial text is stored."""
    upstream.enqueue(Reply(token_count=6, delay=0.01), Cut(after_tokens=4))
    base = openai_server.base_url
    session = hx.post(f"{base}/api/sessions", json={"pack": "backend-engineer"}).json()
    hx.get(f"{base}/api/sessions/{session['id']}/turns/{session['turn_id']}/events", timeout=10)
    turn_id = hx.post(f"{base}/api/sessions/{session['id']}/answers", json={"text": "ok"}).json()["turn_id"]
    with ws_connect(f"{openai_server.ws_url}/ws?session={session['id']}") as ws:
        # The turn may be running or already over: a resume from 0 covers both.
        ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": 0}))
        frames, error = recv_turn(ws)
    assert error["type"] == "error"
    assert error["code"] == "upstream_error"
    assert error["retryable"] is True
    turns = hx.get(f"{base}/api/sessions/{session['id']}").json()["turns"]
    assert turns[-1]["status"] == "failed"
    assert turns[-1]["text"] == text_of(frames) == " tok1 tok2 tok3 tok4"
    assert turns[-1]["error"]["code"] == "upstream_error"

    # The candidate retries: the same question is written again, and this time it completes.
    upstream.enqueue(Reply(text="Let me ask that again."))
    with ws_connect(f"{openai_server.ws_url}/ws?session={session['id']}") as ws:
        ws.send(json.dumps({"type": "retry"}))
        announced = recv_json(ws)
        frames, done = recv_turn(ws)
    assert announced["kind"] == turns[-1]["kind"]
    assert done["type"] == "done"
    assert text_of(frames) == "Let me ask that again."
    retried = hx.get(f"{base}/api/sessions/{session['id']}").json()["turns"]
    assert [t["status"] for t in retried[-2:]] == ["failed", "complete"]
    assert retried[-1]["question_index"] == turns[-1]["question_index"]
    nothing_to_retry = hx.post(f"{base}/api/sessions/{session['id']}/retry")
    assert nothing_to_retry.status_code == 409


def test_upstream_down_gives_upstream_unavailable(settings: Settings) -> None:
    """With nothing at the base URL, the opening turn fails with upstream_unavailable, not a crash."""
    configured = settings.model_copy(
        update={"backend": "openai", "openai_base_url": "http://127.0.0.1:9/v1", "upstream_max_retries": 0}
    )
    with ServerThread(create_app(configured)) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}).json()
        stream = hx.get(
            f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events", timeout=10
        )
    assert "event: error" in stream.text
    assert "upstream_unavailable" in stream.text
    assert "Traceback" not in stream.text
