"""The SSE endpoint against a real server: framing, resume, keep-alive, errors."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from helpers import sse_events

import hx
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread

TEXT = " ".join(f"tok{i}" for i in range(40))


def start_session(server: ServerThread) -> tuple[str, str]:
    body = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"}).json()
    return body["id"], body["turn_id"]


def posted_stream(url: str, status: int, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A POST asking for text/event-stream: its status and content type checked, then its events."""
    with hx.stream("POST", url, json=body, headers={"Accept": "text/event-stream"}, timeout=10) as response:
        response.read()
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response)


def events_url(server: ServerThread, session_id: str, turn_id: str) -> str:
    return f"{server.base_url}/api/sessions/{session_id}/turns/{turn_id}/events"


def test_stream_is_one_sse_event_per_log_event(server: ServerThread, backend: ScriptedBackend) -> None:
    """Each event has id=seq, its type as the event name, JSON data; the response ends after done.

    A delta's data is only its text (seq, type and turn are in the id, event and URL); the
    terminal event's data is the whole frame.
    """
    hold = threading.Event()
    backend.enqueue(ScriptedReply(TEXT, token_delay=0.005, hold=hold))
    session_id, turn_id = start_session(server)
    with hx.stream("GET", events_url(server, session_id, turn_id), timeout=10) as response:
        hold.set()
        response.read()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-store"
    events = sse_events(response)
    assert events[-1]["event"] == "done"
    assert all(e["event"] == "delta" for e in events[:-1])
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert all(list(e["data"]) == ["text"] for e in events[:-1])
    assert "".join(e["data"]["text"] for e in events[:-1]) == TEXT
    done = events[-1]["data"]
    assert (done["type"], done["turn_id"], done["seq"]) == ("done", turn_id, len(events))


def test_last_event_id_and_after_resume_exactly(server: ServerThread, backend: ScriptedBackend) -> None:
    """Last-Event-ID and ?after= each give exactly the events after that seq."""
    backend.enqueue(TEXT)
    session_id, turn_id = start_session(server)
    url = events_url(server, session_id, turn_id)
    full = sse_events(hx.get(url, timeout=10))
    tokens = TEXT.split(" ")
    for k in (1, 10, 39):
        by_header = sse_events(hx.get(url, headers={"Last-Event-ID": str(k)}, timeout=10))
        by_query = sse_events(hx.get(url, params={"after": k}, timeout=10))
        assert by_header == by_query
        rest = "".join(e["data"]["text"] for e in by_header if e["event"] == "delta")
        assert rest == " " + " ".join(tokens[k:])
        assert by_header[-1] == full[-1]


def test_resume_mid_stream_has_no_gap_and_no_duplicate(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """Reading part of a live turn, dropping, and resuming with Last-Event-ID reassembles the text."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(TEXT, token_delay=0.01, hold=hold))
    session_id, turn_id = start_session(server)
    url = events_url(server, session_id, turn_id)
    first: list[str] = []
    last_id = "0"
    with hx.stream("GET", url, timeout=10) as response:
        hold.set()
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("id: "):
                last_id = line[4:]
            if line == "event: delta":
                first.append(next(lines))
            if len(first) == 5:
                break
    rest = sse_events(hx.get(url, headers={"Last-Event-ID": last_id}, timeout=10))
    text = "".join(json.loads(line[6:])["text"] for line in first)
    text += "".join(e["data"]["text"] for e in rest if e["event"] == "delta")
    assert text == TEXT


def test_keep_alive_comments_while_idle(server: ServerThread, backend: ScriptedBackend) -> None:
    """While the model is silent the stream carries keep-alive comments (ping every 1 s in tests)."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply("late reply", hold=hold))
    session_id, turn_id = start_session(server)
    comments = 0
    with hx.stream("GET", events_url(server, session_id, turn_id), timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith(":"):
                comments += 1
                hold.set()
            if line.startswith("event: done"):
                break
    assert comments >= 1


def test_bad_ids_and_resume_points_are_clear_errors(server: ServerThread) -> None:
    """Unknown turns are 404 JSON; a non-numeric Last-Event-ID or negative after is 400."""
    session_id, turn_id = start_session(server)
    missing = hx.get(events_url(server, session_id, "nope"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    other_session = hx.get(events_url(server, "nope", turn_id))
    assert other_session.status_code == 404
    bad_header = hx.get(events_url(server, session_id, turn_id), headers={"Last-Event-ID": "abc"})
    assert bad_header.status_code == 400
    assert bad_header.json()["error"]["code"] == "bad_request"
    negative = hx.get(events_url(server, session_id, turn_id), params={"after": -1})
    assert negative.status_code == 400


def test_reader_leaving_does_not_cancel_the_turn(server: ServerThread, backend: ScriptedBackend) -> None:
    """Closing an SSE stream mid-turn leaves the turn running to completion (within grace)."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(TEXT, token_delay=0.01, hold=hold))
    session_id, turn_id = start_session(server)
    with hx.stream("GET", events_url(server, session_id, turn_id), timeout=10) as response:
        hold.set()
        for line in response.iter_lines():
            if line.startswith("event: delta"):
                break
    deadline = time.monotonic() + 10
    while True:
        turn = hx.get(f"{server.base_url}/api/sessions/{session_id}").json()["turns"][0]
        if turn["status"] != "streaming" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert turn["status"] == "complete"
    assert turn["text"] == TEXT


def test_post_asking_for_an_event_stream_gets_the_session_then_its_opening(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """POST /api/sessions with Accept: text/event-stream: a session event, then the opening turn's events."""
    backend.enqueue(ScriptedReply(TEXT, token_delay=0.005))
    session, *events = posted_stream(f"{server.base_url}/api/sessions", 201, {"pack": "general-behavioural"})
    assert session["event"] == "session" and "id" not in session
    assert session["data"]["pack"] == "general-behavioural" and session["data"]["status"] == "active"
    assert [e["event"] for e in events] == ["delta"] * (len(events) - 1) + ["done"]
    ids = [int(e["id"]) for e in events]  # deltas that piled up on a loaded machine arrive merged
    assert ids == sorted(set(ids)) and ids[-1] == len(TEXT.split(" ")) + 1
    assert "".join(e["data"]["text"] for e in events[:-1]) == TEXT
    assert events[-1]["data"]["turn_id"] == session["data"]["turn_id"]
    # The same turn from GET .../events, as a client whose stream broke would resume it (merged).
    url = events_url(server, session["data"]["id"], session["data"]["turn_id"])
    resumed = sse_events(hx.get(url, timeout=10))
    assert "".join(e["data"]["text"] for e in resumed[:-1]) == TEXT and resumed[-1] == events[-1]


def test_post_asking_for_an_event_stream_checks_like_a_plain_post(server: ServerThread) -> None:
    """A bad request is the same JSON error either way, and no session is left behind."""
    headers = {"Accept": "text/event-stream"}
    refused = hx.post(f"{server.base_url}/api/sessions", json={"pack": "no-such-pack"}, headers=headers)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert hx.get(f"{server.base_url}/api/sessions").json() == []


def test_a_move_asking_for_an_event_stream_gets_accepted_then_its_turn(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """An answer (and a skip) with Accept: text/event-stream: `accepted` (the 202's JSON), then the
    new turn's events, exactly as GET .../events would send them."""
    backend.enqueue("Hello. First question?", ScriptedReply(TEXT, token_delay=0.005), "Next question?")
    session_id, opening = start_session(server)
    sse_events(hx.get(events_url(server, session_id, opening), timeout=10))
    url = f"{server.base_url}/api/sessions/{session_id}"
    accepted, *events = posted_stream(f"{url}/answers", 202, {"text": "I led it."})
    assert accepted["event"] == "accepted" and "id" not in accepted
    assert [e["event"] for e in events] == ["delta"] * (len(events) - 1) + ["done"]
    assert "".join(e["data"]["text"] for e in events[:-1]) == TEXT
    resumed = sse_events(hx.get(events_url(server, session_id, accepted["data"]["turn_id"]), timeout=10))
    assert resumed[-1] == events[-1]
    skip_accepted, *skip_events = posted_stream(f"{url}/skip", 202)
    assert skip_events[-1]["event"] == "done"
    turns = hx.get(url).json()["turns"]
    assert [t["kind"] for t in turns] == ["opening", "answer", "followup", "skip", "question"]
    assert accepted["data"] == {
        "turn_id": turns[2]["id"],
        "kind": "followup",
        "candidate_turn_id": turns[1]["id"],
    }
    assert skip_accepted["data"] == {
        "turn_id": turns[4]["id"],
        "kind": "question",
        "candidate_turn_id": turns[3]["id"],
    }


def test_a_refused_move_asking_for_an_event_stream_is_a_json_error(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """An answer while the interviewer is still replying, or an empty one: the plain JSON error, and
    nothing stored."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply("Hello. First question?", hold=hold))
    session_id, _ = start_session(server)
    headers = {"Accept": "text/event-stream"}
    url = f"{server.base_url}/api/sessions/{session_id}"
    busy = hx.post(f"{url}/answers", json={"text": "I led it."}, headers=headers)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "conflict"
    hold.set()
    empty = hx.post(f"{url}/answers", json={"text": "   "}, headers=headers)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "bad_request"
    assert [t["kind"] for t in hx.get(url).json()["turns"]] == ["opening"]
