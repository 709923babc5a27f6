"""Property-based tests: arbitrary WebSocket frames and HTTP payloads; schemathesis over the OpenAPI schema.

Every answer must be a documented error or a success: never a 5xx, never a
traceback, never a dropped connection. Afterwards the server's tasks and open
connections are counted back to where they started. Bounded and deterministic:
derandomized, no deadlines, a few hundred examples in all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hardening_kit import open_connections, recv_json, serving, task_count, wait_for, wait_turn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from websockets.exceptions import ConnectionClosed

import hx
from hotseat.config import Settings
from hotseat.errors import ERROR_CODES
from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
SERVER_FRAME_TYPES = {
    "accepted",
    "turn",
    "delta",
    "queued",
    "done",
    "error",
    "transcript",
    "transcript_partial",
    "speech_end",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
near_frames = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                *("answer", "skip", "retry", "finish", "cancel", "resume", "ping", "", "ANSWER"),
                *("audio_start", "audio_end", "audio_cancel", "speech", "speech_stop"),
            ]
        )
    },
    optional={
        "text": json_values,
        "turn_id": json_values,
        "after": json_values,
        "extra": json_values,
        "ref": json_values,
        "mode": st.sampled_from(["transcript", "answer", "x"]),
        "partial": json_values,
    },
)
deep = st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)
text_frames = st.one_of(
    near_frames.map(json.dumps),
    json_values.map(json.dumps),  # NaN and Infinity come out as JSON that is not JSON
    deep,
    st.text(max_size=100),
    st.text(min_size=20_000, max_size=30_000, alphabet="ab\u00e9\U0001f600"),
)
frames: st.SearchStrategy[str | bytes] = st.one_of(text_frames, st.binary(max_size=200))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One server for every example; rate limits off so that moves reach the interview code."""
    base = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(tmp_path_factory.mktemp("fuzz")),
        backend="scripted",
        api_keys=hx.API_KEY,
        sse_ping_seconds=1,
        shutdown_grace_seconds=2,
    )
    with serving(
        base,
        ScriptedBackend(),
        answer_rate_per_minute=0,
        answer_rate_per_minute_per_ip=0,
        upload_rate_per_minute=0,
        upload_rate_per_minute_per_ip=0,
        max_running_turns_per_owner=0,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def session(server: ServerThread) -> dict[str, Any]:
    """A session whose opening is over; also warms up what lives for the server's life (SSE's watcher)."""
    created: dict[str, Any] = hx.post(
        f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}
    ).json()
    wait_turn(server, created["id"], created["turn_id"])
    return created


def quiet(server: ServerThread) -> tuple[int, int]:
    """(tasks, open connections) once nothing is running: turns and assessments have ended."""
    wait_for(lambda: hx.get(f"{server.base_url}/api/health").json()["running_turns"] == 0)
    return task_count(server), open_connections(server)


def assert_clean(response: httpx.Response | Any) -> None:
    """A success or a documented error: no 5xx, no traceback, the error envelope with a known code."""
    assert response.status_code < 500, response.text
    content_type = response.headers.get("content-type") or ""
    if "audio/" in str(content_type):  # schemathesis gives each header as a list
        return  # a turn's speech: a success, and not text
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] in ERROR_CODES
        assert isinstance(error["message"], str) and error["message"]


def test_arbitrary_websocket_frames(server: ServerThread, session: dict[str, Any]) -> None:
    """Any text or binary frame gets protocol frames (errors from the closed set); the socket stays open."""
    before = quiet(server)
    with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}", max_size=None) as ws:
        sent = [0]

        @FUZZ
        @given(frame=frames)
        def send(frame: str | bytes) -> None:
            sent[0] += 1
            sentinel = f"sentinel-{sent[0]}"
            ws.send(frame)
            ws.send(json.dumps({"type": sentinel}))
            # Everything up to the sentinel's own error is a well-formed server frame.
            while True:
                reply = recv_json(ws)
                assert reply["type"] in SERVER_FRAME_TYPES, reply
                if reply["type"] == "error":
                    assert reply["code"] in ERROR_CODES
                    assert "Traceback" not in reply["message"]
                    if sentinel + "'" in reply["message"]:
                        return

        send()
    wait_for(lambda: quiet(server) == before)  # the handler tasks end just after the client goes


POSTS = ["/answers", "/skip", "/retry", "/finish", "/turns/{turn}/cancel"]
CONTENT_TYPES = [
    None,
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=latin-1",
]
bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()))


def test_arbitrary_http_payloads(server: ServerThread, session: dict[str, Any]) -> None:
    """Any body with any content type at every POST endpoint is a success or a documented 4xx."""
    before = quiet(server)
    paths = [
        "/api/sessions",
        "/api/cvs",
        *(f"/api/sessions/{session['id']}{p.format(turn=session['turn_id'])}" for p in POSTS),
    ]
    with hx.client(server.base_url, timeout=30) as http:

        @FUZZ
        @given(path=st.sampled_from(paths), body=bodies, content_type=st.sampled_from(CONTENT_TYPES))
        def post(path: str, body: bytes, content_type: str | None) -> None:
            headers = {"Content-Type": content_type} if content_type else {}
            assert_clean(http.post(path, content=body, headers=headers))

        post()
    wait_for(lambda: quiet(server) == before)  # the handler tasks end just after the client goes


def test_schemathesis_finds_no_server_error(server: ServerThread, session: dict[str, Any]) -> None:
    """Cases generated from the app's OpenAPI schema (valid and invalid) never get a 5xx or a traceback."""
    before = quiet(server)
    schema = schemathesis.openapi.from_dict(server.app.openapi())
    # A session of its own: the cases may well delete it.
    target = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"}).json()
    ids = {"session_id": target["id"], "turn_id": target["turn_id"]}
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
        # With the real ids the cases get past the 404s and into the interview.
        schema.as_strategy(GenerationMode.POSITIVE, path_parameters=ids),
    )

    @FUZZ
    @given(case=cases)
    def call(case: schemathesis.Case) -> None:
        assert_clean(case.call(base_url=server.base_url, headers=hx.AUTH, timeout=30))

    call()
    wait_for(lambda: quiet(server) == before)  # the handler tasks end just after the client goes


def test_a_frame_over_the_size_limit_closes_1009(server: ServerThread, session: dict[str, Any]) -> None:
    """A frame larger than HOTSEAT_WS_MAX_MESSAGE_BYTES closes the connection with 1009, and nothing leaks."""
    before = quiet(server)
    with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
        ws.send("x" * (1024 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    wait_for(lambda: quiet(server) == before)
