"""Failures never leak a stack trace and never affect another session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from helpers import recv_turn

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.base import ChatMessage, GenerationParams, StreamItem
from hotseat.llm.scripted import ScriptedBackend
from hotseat.testing.server import ServerThread
from hx import ws_connect


class ExplodingBackend(ScriptedBackend):
    """Raises a bare RuntimeError (a bug, not an upstream error) for prompts that mention 'boom'."""

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        if any("boom" in m.content for m in messages):
            raise RuntimeError("secret internal detail /etc/passwd")
        async for item in super().stream(messages, params):
            yield item


@pytest.fixture
def exploding_server(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings, backend=ExplodingBackend())) as server:
        yield server


def test_backend_bug_becomes_internal_error_without_details(exploding_server: ServerThread) -> None:
    """An unexpected exception in a turn reaches the client as `internal`, with no traceback or detail."""
    base = exploding_server.base_url
    session = hx.post(f"{base}/api/sessions", json={"pack": "general-behavioural"}).json()
    hx.get(f"{base}/api/sessions/{session['id']}/turns/{session['turn_id']}/events", timeout=10)
    other = hx.post(f"{base}/api/sessions", json={"pack": "general-behavioural"}).json()
    with ws_connect(f"{exploding_server.ws_url}/ws?session={session['id']}") as ws:
        ws.send(json.dumps({"type": "answer", "text": "boom"}))
        _, error = recv_turn(ws)
    assert error["type"] == "error"
    assert error["code"] == "internal"
    assert "secret" not in json.dumps(error)
    assert "Traceback" not in json.dumps(error)
    # The other session is untouched and still works.
    with ws_connect(f"{exploding_server.ws_url}/ws?session={other['id']}") as ws:
        ws.send(json.dumps({"type": "resume", "turn_id": other["turn_id"], "after": 0}))
        _, done = recv_turn(ws)
        ws.send(json.dumps({"type": "answer", "text": "a normal answer"}))
        _, done_again = recv_turn(ws)
    assert done["type"] == done_again["type"] == "done"


def test_route_bug_becomes_internal_500(settings: Settings) -> None:
    """An unexpected exception in a route is a 500 `internal` JSON error with no detail."""
    app = create_app(settings, backend=ScriptedBackend())

    @app.get("/api/_explode")
    async def explode() -> None:
        raise RuntimeError("secret internal detail")

    with ServerThread(app) as server:
        response = hx.get(f"{server.base_url}/api/_explode")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "secret" not in response.text
