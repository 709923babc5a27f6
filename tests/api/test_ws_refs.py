"""Client frame refs on a real server: every accepted move is acknowledged, and errors echo the ref."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from helpers import recv_json, recv_turn, text_of, wait_quiet

import hx
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread
from hx import ws_connect


def start_session(server: ServerThread) -> tuple[str, str]:
    response = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["turn_id"]


@pytest.mark.parametrize("move", ["answer", "skip", "finish"])
def test_a_move_is_accepted_with_its_ref_before_its_turn_streams(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, move: str
) -> None:
    """Each turn-starting move gets ``accepted`` with its ref, the new turn's id and kind, then that turn."""
    backend.enqueue("Hello. First question?", "Next one.")
    session_id, _ = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        frame: dict[str, object] = {"type": move, "ref": f"{move}-1"}
        if move == "answer":
            frame["text"] = "I led the billing migration."
        ws.send(json.dumps(frame))
        accepted = recv_json(ws)
        announced = recv_json(ws)
        frames, done = recv_turn(ws)
    assert accepted["type"] == "accepted" and accepted["ref"] == f"{move}-1"
    assert announced["type"] == "turn"
    assert (accepted["turn_id"], accepted["kind"]) == (announced["turn_id"], announced["kind"])
    turns = client.get(f"/api/sessions/{session_id}").json()["turns"]
    assert turns[-1]["id"] == accepted["turn_id"] and turns[-1]["text"] == text_of(frames)
    assert done["turn_id"] == accepted["turn_id"]


def test_a_rejected_move_echoes_its_ref_and_a_good_one_still_works(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """A conflict, a bad field and an unknown turn each come back with the ref of the frame they answer."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply("One two three.", token_delay=0.01, hold=hold))
    session_id, _ = start_session(server)
    try:
        with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
            assert recv_json(ws)["type"] == "turn"
            ws.send(json.dumps({"type": "answer", "text": "too early", "ref": "a1"}))
            conflict = recv_json(ws)
            ws.send(json.dumps({"type": "answer", "text": "", "ref": "a2"}))
            empty = recv_json(ws)
            ws.send(json.dumps({"type": "resume", "turn_id": "nope", "ref": "r1"}))
            unknown = recv_json(ws)
            ws.send(json.dumps({"type": "answer", "text": "no ref"}))
            plain = recv_json(ws)
    finally:
        hold.set()
    assert (conflict["code"], conflict["ref"]) == ("conflict", "a1")
    assert (empty["code"], empty["ref"]) == ("bad_request", "a2") and "text" in empty["message"]
    assert (unknown["code"], unknown["ref"]) == ("not_found", "r1") and "turn_id" not in unknown
    assert plain["code"] == "conflict" and "ref" not in plain


@pytest.mark.parametrize(
    "ref",
    ["", "x" * 65, "tab\there", "é", 7, ["a"]],
    ids=["empty", "too-long", "control-char", "not-ascii", "number", "list"],
)
def test_a_bad_ref_is_a_bad_request_and_moves_nothing(
    server: ServerThread, client: httpx.Client, ref: object
) -> None:
    """A ref that is not 1-64 printable characters is a bad_request naming ``ref``; no turn starts."""
    session_id, _ = start_session(server)
    before = wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        ws.send(json.dumps({"type": "skip", "ref": ref}))
        error = recv_json(ws)
    assert error["type"] == "error" and error["code"] == "bad_request"
    assert "ref" in error["message"] and "ref" not in error
    assert len(wait_quiet(client, session_id)) == len(before)


def test_cancel_and_resume_are_accepted_with_the_turn_they_name(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """A cancel is accepted with the turn it stopped (null when none ran); a resume with the turn it sends."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(" ".join(f"w{i}" for i in range(200)), token_delay=0.01, hold=hold))
    session_id, turn_id = start_session(server)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        hold.set()
        ws.send(json.dumps({"type": "cancel", "ref": "c1"}))
        # The cancel's reply comes once the turn's outcome is stored: before or after its ``done``.
        frames, stopped, done = [], None, None
        while stopped is None or done is None:
            frame = recv_json(ws)
            if frame["type"] == "accepted":
                stopped = frame
            elif frame["type"] == "done":
                done = frame
            else:
                frames.append(frame)
        ws.send(json.dumps({"type": "cancel", "ref": "c2"}))
        idle = recv_json(ws)
        ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": 0, "ref": "r1"}))
        resumed = recv_json(ws)
        announced = recv_json(ws)
        replayed, _ = recv_turn(ws)
    assert done["finish_reason"] == "cancelled"
    nothing_stored = {"type": "accepted", "candidate_turn_id": None}
    assert stopped == {**nothing_stored, "ref": "c1", "turn_id": turn_id, "kind": None}
    assert idle == {**nothing_stored, "ref": "c2", "turn_id": None, "kind": None}
    assert resumed == {**nothing_stored, "ref": "r1", "turn_id": turn_id, "kind": "opening"}
    assert announced == {"type": "turn", "turn_id": turn_id, "kind": "opening", "after": 0}
    assert text_of(replayed) == text_of(frames)


def test_a_move_sent_just_before_leaving_still_starts_its_turn(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """A client that sends an answer and closes at once leaves a stored answer and a finished turn,
    never a turn marked generating that nothing generates (the move is not cut off by the close)."""
    backend.enqueue("Hello. First question?", "Thanks. Next?")
    session_id, _ = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        ws.send(json.dumps({"type": "answer", "text": "I led the billing migration.", "ref": "last"}))
    deadline = time.monotonic() + 10  # the move may still be running when the socket has closed
    while len(turns := wait_quiet(client, session_id)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(t["role"], t["status"]) for t in turns] == [
        ("interviewer", "complete"),
        ("candidate", "complete"),
        ("interviewer", "complete"),
    ]
    assert turns[-1]["text"] == "Thanks. Next?"
