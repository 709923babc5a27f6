"""Failures never leak a stack trace and never affect another session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from helpers import recv_turn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.exceptions import ConnectionClosed

import hx
from hotseat.api.deps import Services
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.base import ChatMessage, GenerationParams, StreamItem
from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread
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


def test_no_free_database_connection_is_busy_at_once_not_a_500(settings: Settings) -> None:
    """With every pooled connection taken, a request gets 503 `busy` with Retry-After after the
    (short) pool timeout, instead of a 500 after 30 s; once a connection is free, it works again."""
    settings = settings.model_copy(update={"database_pool_size": 1, "database_pool_timeout_seconds": 0.2})
    with ServerThread(create_app(settings, backend=ScriptedBackend())) as server:
        assert server.loop is not None
        services: Services = server.app.state.services
        held = asyncio.run_coroutine_threadsafe(_checkout(services), server.loop).result(30)
        try:
            created = hx.post(
                f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}, timeout=30
            )
            listed = hx.get(f"{server.base_url}/api/sessions", timeout=30)
            with ws_connect(f"{server.ws_url}/ws?session=any", open_timeout=30) as ws:
                frame = json.loads(ws.recv(timeout=30))
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=30)
        finally:
            asyncio.run_coroutine_threadsafe(held.close(), server.loop).result(30)
        after = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}, timeout=30)
    for response in (created, listed):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "busy"
        assert response.json()["error"]["retryable"] is True
        assert int(response.headers["Retry-After"]) >= 1
    assert frame["type"] == "error" and frame["code"] == "busy"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert after.status_code == 201, after.text


async def _checkout(services: Services) -> AsyncConnection:
    """Take the pool's connection and keep it (the caller closes it on the server's loop)."""
    connection = await services.engine.connect()
    await connection.execute(text("SELECT 1"))
    return connection
