"""The WebSocket endpoint against a real server: streaming, resume, cancel, bad frames."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from helpers import recv_json, recv_turn, text_of, wait_quiet
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread, uvicorn_config_kwargs
from hx import ws_connect

LONG = " ".join(f"word{i}" for i in range(300))


def start_session(server: ServerThread) -> tuple[str, str]:
    response = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["turn_id"]


def follow(ws: ClientConnection, turn_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Ask for a finished turn from its start and read it to its end."""
    ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": 0}))
    return recv_turn(ws)


def transcript(server: ServerThread, session_id: str) -> list[dict[str, object]]:
    turns: list[dict[str, object]] = hx.get(f"{server.base_url}/api/sessions/{session_id}").json()["turns"]
    return turns


def test_opening_streams_delta_by_delta_then_done(server: ServerThread, backend: ScriptedBackend) -> None:
    """On connect the opening turn streams: a turn frame, deltas with seq 1..n, then done with usage."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply("Welcome! Tell me about a project you led.", token_delay=0.02, hold=hold))
    session_id, turn_id = start_session(server)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        hold.set()
        first = recv_json(ws)
        assert first == {"type": "turn", "turn_id": turn_id, "kind": "opening", "after": 0}
        frames, done = recv_turn(ws)
    assert text_of(frames) == "Welcome! Tell me about a project you led."
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and seqs[0] == 1
    assert done["type"] == "done" and done["finish_reason"] == "stop"
    assert done["seq"] == seqs[-1] + 1
    assert done["usage"]["completion_tokens"] == 8
    assert transcript(server, session_id)[0]["text"] == "Welcome! Tell me about a project you led."


def test_answer_starts_the_next_turn(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """An answer frame stores the answer and streams the interviewer's next question."""
    backend.enqueue("Hello. First question?", "Thanks. Second question?")
    session_id, turn_id = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        follow(ws, turn_id)
        ws.send(json.dumps({"type": "answer", "text": "I built a payments system."}))
        accepted = recv_json(ws)
        announced = recv_json(ws)
        # A one-line answer is thin: the interviewer follows up before moving on.
        assert announced["type"] == "turn" and announced["kind"] == "followup"
        frames, _ = recv_turn(ws)
    assert text_of(frames) == "Thanks. Second question?"
    turns = transcript(server, session_id)
    # The accepted frame named the answer's own turn too: the client needs no transcript for its id.
    assert accepted == {
        "type": "accepted",
        "ref": None,
        "turn_id": announced["turn_id"],
        "kind": "followup",
        "candidate_turn_id": turns[1]["id"],
    }
    assert [(t["role"], t["text"]) for t in turns] == [
        ("interviewer", "Hello. First question?"),
        ("candidate", "I built a payments system."),
        ("interviewer", "Thanks. Second question?"),
    ]


@pytest.mark.parametrize("cut_after", [0, 1, 7, 40])
def test_disconnect_and_resume_gives_exactly_the_rest(
    server: ServerThread, backend: ScriptedBackend, cut_after: int
) -> None:
    """A client that drops after any number of deltas and resumes gets the rest: no gap, no duplicate."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(LONG, token_delay=0.005, hold=hold))
    session_id, turn_id = start_session(server)
    received: list[dict[str, object]] = []
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        hold.set()
        while len(received) < cut_after:
            received.append(recv_json(ws))
    last_seq = received[-1]["seq"] if received else 0
    assert isinstance(last_seq, int)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}&turn_id={turn_id}&after={last_seq}") as ws:
        assert recv_json(ws)["type"] == "turn"
        first = recv_json(ws)
        # Deltas that piled up may arrive merged: the frame carries the last seq it covers.
        assert first["seq"] > last_seq
        rest, _ = recv_turn(ws, after=first["seq"])
    text = text_of(received) + text_of([first, *rest])
    assert text == LONG
    assert transcript(server, session_id)[0]["text"] == LONG


@pytest.mark.parametrize("cut_after", [0, 5])
def test_resume_frame_after_reconnect(server: ServerThread, backend: ScriptedBackend, cut_after: int) -> None:
    """A resume frame for the turn being streamed restarts it after the given seq; seqs dedupe the overlap.

    (The connection names the same resume point in its URL: a stream from seq 1 could
    carry a merged delta that overlaps what the client already has.)
    """
    hold = threading.Event()
    backend.enqueue(ScriptedReply(LONG, token_delay=0.005, hold=hold))
    session_id, turn_id = start_session(server)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        hold.set()
        received = [recv_json(ws) for _ in range(cut_after)]
    last_seq = int(received[-1]["seq"]) if received else 0
    with ws_connect(f"{server.ws_url}/ws?session={session_id}&turn_id={turn_id}&after={last_seq}") as ws:
        ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": last_seq}))
        rest, _ = recv_turn(ws, after=last_seq)
    assert text_of(received) + text_of(rest) == LONG
    assert transcript(server, session_id)[0]["text"] == LONG


def test_resume_of_a_finished_turn_replays_from_the_database(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """Resuming a turn whose log was dropped replays the rest from the database, same seqs."""
    backend.enqueue("One two three four five.")
    session_id, turn_id = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        frames, done = follow(ws, turn_id)
    drop_log(server, turn_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": 2}))
        replayed, replay_done = recv_turn(ws)
    # Seqs 1 and 2 were "One" and " two"; the rest follows as one merged delta with the last seq.
    assert text_of(frames) == "One two three four five."
    assert text_of(replayed) == " three four five."
    assert replayed[-1]["seq"] == frames[-1]["seq"] == 5
    assert replay_done == done


def drop_log(server: ServerThread, turn_id: str) -> None:
    """Forget a turn's log in the server, as the retention timer would."""
    assert server.loop is not None
    log = server.app.state.services.runner.log
    asyncio.run_coroutine_threadsafe(log.drop(turn_id), server.loop).result(5)


def test_cancel_frame_stops_the_reply_and_keeps_partial_text(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """A cancel frame ends the turn with done/cancelled; the transcript keeps exactly the text sent."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(LONG, token_delay=0.01, hold=hold))
    session_id, turn_id = start_session(server)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        hold.set()
        frames = [recv_json(ws) for _ in range(3)]
        ws.send(json.dumps({"type": "cancel", "turn_id": turn_id}))
        more, done = recv_turn(ws)
    assert done["type"] == "done" and done["finish_reason"] == "cancelled"
    (turn,) = transcript(server, session_id)
    assert turn["status"] == "cancelled"
    assert turn["text"] == text_of(frames + more)
    assert 0 < len(str(turn["text"])) < len(LONG)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("not json", "not valid JSON"),
        ('{"type": "dance"}', "type"),
        ('{"type": "answer"}', "text"),
        ('{"type": "resume", "turn_id": "x", "after": -1}', "after"),
        ("[1, 2]", "Bad frame"),
        ('{"type": "answer", "text": ""}', "text"),
    ],
)
def test_bad_frames_get_bad_request_and_the_socket_stays_usable(
    server: ServerThread, client: httpx.Client, payload: str, fragment: str
) -> None:
    """Malformed frames are answered with bad_request; the next good frame still works."""
    session_id, turn_id = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        follow(ws, turn_id)
        ws.send(payload)
        error = recv_json(ws)
        assert error["type"] == "error" and error["code"] == "bad_request"
        assert fragment in error["message"]
        ws.send(b"\x00binary")
        assert recv_json(ws)["code"] == "bad_request"
        ws.send(json.dumps({"type": "answer", "text": "Still here."}))
        assert recv_json(ws)["type"] == "accepted"
        assert recv_json(ws)["type"] == "turn"


def test_answer_while_the_interviewer_speaks_is_a_conflict(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """Answering during a reply gets a `conflict` error frame and does not disturb the reply."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(" ".join(["word"] * 60), token_delay=0.01, hold=hold))
    session_id, _ = start_session(server)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        ws.send(json.dumps({"type": "answer", "text": "too early"}))
        assert recv_json(ws)["code"] == "conflict"
        hold.set()
        frames, done = recv_turn(ws)
    assert done["finish_reason"] == "stop"
    assert text_of(frames) == " ".join(["word"] * 60)


@pytest.mark.parametrize(
    ("query", "code", "says"),
    [
        ("session=nope", "not_found", "No interview session 'nope'"),
        ("session=nope&turn_id=t&after=last", "bad_request", "after must be a whole number"),
    ],
    ids=["unknown-session", "after-not-a-number"],
)
def test_bad_connect_is_refused_with_1008(server: ServerThread, query: str, code: str, says: str) -> None:
    """Connecting to a session that does not exist gets not_found, and an ``after`` that is not a
    number gets bad_request; each says so, then a policy close."""
    with ws_connect(f"{server.ws_url}/ws?{query}") as ws:
        frame = recv_json(ws)
        assert frame["code"] == code
        assert says in frame["message"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_oversized_frame_closes_with_1009(server: ServerThread, client: httpx.Client) -> None:
    """A frame over the configured size limit closes the connection with 1009."""
    session_id, turn_id = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}", max_size=None) as ws:
        follow(ws, turn_id)
        ws.send(json.dumps({"type": "answer", "text": "x" * 200_000}))
        with pytest.raises(ConnectionClosed) as closed:
            drain(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def drain(ws: ClientConnection) -> None:
    """Read until the server closes the connection."""
    while True:
        ws.recv(timeout=5)


def test_second_tab_watches_the_same_turn(server: ServerThread, backend: ScriptedBackend) -> None:
    """Two connections to one session both receive the whole reply."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply(" ".join(f"w{i}" for i in range(30)), token_delay=0.01, hold=hold))
    session_id, _ = start_session(server)
    with (
        ws_connect(f"{server.ws_url}/ws?session={session_id}") as one,
        ws_connect(f"{server.ws_url}/ws?session={session_id}") as two,
    ):
        assert recv_json(one)["type"] == recv_json(two)["type"] == "turn"
        hold.set()
        texts = []
        for ws in (one, two):
            frames, _ = recv_turn(ws)
            texts.append(text_of(frames))
    assert texts[0] == texts[1] == " ".join(f"w{i}" for i in range(30))


@pytest.mark.parametrize("enabled", [False, True])
def test_permessage_deflate_follows_the_setting(settings: Settings, enabled: bool) -> None:
    """Off by default (it costs ~37 KB per connection); on, a client that offers it gets it,
    and the compressed frames carry the same turn."""
    settings = settings.model_copy(update={"ws_compression": enabled})
    config = {**uvicorn_config_kwargs(settings), "log_level": "warning"}
    with ServerThread(create_app(settings, backend=ScriptedBackend()), **config) as server:
        session_id, turn_id = start_session(server)
        # The websockets client offers permessage-deflate, as browsers do.
        with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
            frames, end = follow(ws, turn_id)
    assert (extensions is not None and "permessage-deflate" in extensions) is enabled
    assert end["type"] == "done" and text_of(frames)


def test_connect_naming_an_ended_turn_sends_its_rest_then_the_running_one(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """A reconnect with ?turn_id&after gets the rest of that turn even though it ended meanwhile,
    then the turn in progress from its start, in that order; an unknown turn id is not_found."""
    gate = threading.Event()
    backend.enqueue("One two three four", ScriptedReply(text="Next question here", hold=gate))
    session_id, opening = start_session(server)
    wait_quiet(client, session_id)
    moved = client.post(f"/api/sessions/{session_id}/answers", json={"text": "An answer."})
    running = moved.json()["turn_id"]
    try:
        url = f"{server.ws_url}/ws?session={session_id}&turn_id={opening}&after=2"
        with ws_connect(url) as ws:
            first = recv_json(ws)
            rest, end = recv_turn(ws, turn_id=opening)
            gate.set()
            second = recv_json(ws)
            frames, second_end = recv_turn(ws, turn_id=running)
        with ws_connect(f"{server.ws_url}/ws?session={session_id}&turn_id=nope") as ws:
            unknown = recv_json(ws)
    finally:
        gate.set()
    assert first == {"type": "turn", "turn_id": opening, "kind": "opening", "after": 2}
    assert text_of(rest) == " three four" and rest[0]["seq"] > 2
    assert end["type"] == "done"
    assert second["type"] == "turn" and second["turn_id"] == running and second["after"] == 0
    assert text_of(frames) == "Next question here" and second_end["type"] == "done"
    assert unknown["type"] == "error" and unknown["code"] == "not_found"


def test_start_frame_creates_the_session_and_streams_its_opening(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """Without ?session=, a start frame creates the session on the socket and streams its opening."""
    backend.enqueue("Welcome! Tell me about a project you led.")
    with ws_connect(f"{server.ws_url}/ws") as ws:
        ws.send(json.dumps({"type": "start", "pack": "general-behavioural", "language": "en"}))
        announced = recv_json(ws)
        assert announced["type"] == "session"
        assert announced["pack"] == "general-behavioural" and announced["status"] == "active"
        assert recv_json(ws) == {
            "type": "turn",
            "turn_id": announced["turn_id"],
            "kind": "opening",
            "after": 0,
        }
        frames, done = recv_turn(ws, turn_id=announced["turn_id"])
    assert text_of(frames) == "Welcome! Tell me about a project you led." and done["type"] == "done"
    # The session is the connecting owner's, exactly as if it had been made by POST /api/sessions.
    stored = client.get(f"/api/sessions/{announced['id']}").json()
    assert [t["id"] for t in stored["turns"]] == [announced["turn_id"]]


def test_a_frame_that_cannot_start_a_session_leaves_the_socket_waiting_for_one(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """Before a session: other frames and bad starts get errors; a good start still works after them."""
    backend.enqueue("Hello there.")
    with ws_connect(f"{server.ws_url}/ws") as ws:
        ws.send(json.dumps({"type": "answer", "text": "hi"}))
        error = recv_json(ws)
        assert error["code"] == "bad_request" and '"type": "start"' in error["message"]
        ws.send(json.dumps({"type": "start", "pack": "no-such-pack"}))
        assert recv_json(ws)["code"] == "not_found"
        ws.send(json.dumps({"type": "start"}))
        error = recv_json(ws)
        assert error["code"] == "bad_request" and "pack" in error["message"]
        ws.send(json.dumps({"type": "start", "pack": "general-behavioural"}))
        announced = recv_json(ws)
        assert announced["type"] == "session"
        frames, _ = recv_turn(ws)
    assert text_of(frames) == "Hello there."


def test_start_frame_on_a_session_socket_is_refused(server: ServerThread, client: httpx.Client) -> None:
    """A connection follows one session: a start frame there is a bad_request naming it."""
    session_id, turn_id = start_session(server)
    wait_quiet(client, session_id)
    with ws_connect(f"{server.ws_url}/ws?session={session_id}") as ws:
        follow(ws, turn_id)
        ws.send(json.dumps({"type": "start", "pack": "general-behavioural"}))
        error = recv_json(ws)
    assert error["code"] == "bad_request" and session_id in error["message"]


def test_a_cookieless_start_sets_the_owner_cookie_on_the_handshake(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """A browser with no cookie yet gets one on the accept, and it opens the session it started."""
    backend.enqueue("Hi.")
    with connect(f"{server.ws_url}/ws") as ws:
        assert ws.response is not None
        set_cookie = ws.response.headers["Set-Cookie"]
        ws.send(json.dumps({"type": "start", "pack": "general-behavioural"}))
        session_id = recv_json(ws)["id"]
        recv_turn(ws)
    cookie = set_cookie.split(";", 1)[0]
    assert "HttpOnly" in set_cookie and cookie.startswith("hotseat_owner=")
    mine = httpx.get(f"{server.base_url}/api/sessions/{session_id}", headers={"Cookie": cookie})
    assert mine.status_code == 200
    assert httpx.get(f"{server.base_url}/api/sessions/{session_id}").status_code == 404


def test_start_in_the_query_needs_no_frame(server: ServerThread, backend: ScriptedBackend) -> None:
    """/ws?pack=...: the start frame's fields as query parameters start the session at connect."""
    backend.enqueue("Hello from the query.")
    with ws_connect(f"{server.ws_url}/ws?pack=general-behavioural&language=en") as ws:
        announced = recv_json(ws)
        assert (announced["type"], announced["pack"], announced["language"]) == (
            "session",
            "general-behavioural",
            "en",
        )
        frames, _ = recv_turn(ws)
    assert text_of(frames) == "Hello from the query."


def test_a_bad_start_in_the_query_leaves_the_socket_waiting_for_a_frame(
    server: ServerThread, backend: ScriptedBackend
) -> None:
    """An unknown pack in the query gets not_found; a start frame afterwards still starts a session."""
    backend.enqueue("Second try.")
    with ws_connect(f"{server.ws_url}/ws?pack=no-such-pack") as ws:
        assert recv_json(ws)["code"] == "not_found"
        ws.send(json.dumps({"type": "start", "pack": "general-behavioural"}))
        assert recv_json(ws)["type"] == "session"
        frames, _ = recv_turn(ws)
    assert text_of(frames) == "Second try."
