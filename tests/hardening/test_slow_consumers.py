"""Clients that stop reading: bounded by backpressure, dropped after the send timeout, harmless to others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any

from hardening_kit import (
    closed_by_server,
    open_connections,
    recv_turn,
    serving,
    stalled_request,
    stalled_websocket,
    task_count,
    text_of,
    wait_for,
)

import hx
from hotseat.api.send_watchdog import SendWatchdog
from hotseat.api.ws_connection import TRY_AGAIN_LATER, Connection
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.streaming.events import Event

# About 300 KB of text in 3,000 tokens: far more than the shrunken socket buffers hold.
LONG = "".join(f" w{i}" + "x" * 95 for i in range(3000))


def test_stalled_clients_are_dropped_and_do_not_hold_up_the_turn(settings: Settings) -> None:
    """A WebSocket and an SSE reader that never read are dropped; the turn and a reading client finish."""
    backend = ScriptedBackend()
    hold = threading.Event()
    backend.enqueue(ScriptedReply(text=LONG, hold=hold))
    with serving(settings, backend, sndbuf=4096, send_timeout_seconds=1, max_tokens=4000) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}).json()
        sid, tid = session["id"], session["turn_id"]
        stalled_ws = stalled_websocket(server, f"/ws?session={sid}")
        stalled_sse = stalled_request(server, f"/api/sessions/{sid}/turns/{tid}/events")
        with hx.ws_connect(f"{server.ws_url}/ws?session={sid}") as reader:
            wait_for(lambda: open_connections(server) == 3)
            hold.set()
            frames, done = recv_turn(reader, timeout=30)
            assert done["type"] == "done"
            assert text_of(frames) == LONG
            # Both stalled clients are dropped after the send timeout; the reader is still counted.
            wait_for(lambda: open_connections(server) == 1)
        wait_for(lambda: open_connections(server) == 0)
        turn = hx.get(f"{server.base_url}/api/sessions/{sid}").json()["turns"][0]
        assert (turn["status"], turn["text"]) == ("complete", LONG)
        assert closed_by_server(stalled_ws)
        assert closed_by_server(stalled_sse)


def test_an_idle_sse_reader_that_leaves_is_released_at_once(settings: Settings) -> None:
    """A client that drops a stream while nothing flows frees its connection slot and its tasks
    at once (the disconnect listener ends the response, not the next event); the turn goes on."""
    backend = ScriptedBackend()
    hold = threading.Event()
    backend.enqueue(ScriptedReply("late reply", hold=hold))
    with serving(settings, backend) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}).json()
        url = f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events"

        def read_and_leave() -> None:
            with hx.stream("GET", url, timeout=10) as response:
                assert response.status_code == 200
                wait_for(lambda: open_connections(server) == 1)
            wait_for(lambda: open_connections(server) == 0, timeout=5)

        try:
            read_and_leave()  # the first stream also starts the app's send watchdog, which stays
            before = task_count(server)
            read_and_leave()
            wait_for(lambda: task_count(server) == before, timeout=5)
        finally:
            hold.set()
        session_url = f"{server.base_url}/api/sessions/{session['id']}"
        wait_for(lambda: hx.get(session_url).json()["turns"][0]["status"] == "complete")


class _BlockedSocket:
    """A WebSocket whose sends never complete (the peer stopped reading) and that never receives;
    records the close."""

    def __init__(self) -> None:
        self.closed_with: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)


class _OneTurnSeat:
    """A seat whose session has one turn in progress, with one delta logged."""

    session_id = "session"

    @contextmanager
    def watch(self, on_started: object = None) -> Iterator[None]:
        yield

    async def current(self) -> tuple[str, str] | None:
        return "turn", "opening"

    async def follow(self, turn_id: str, after: int = 0) -> AsyncGenerator[list[Event], None]:
        yield [Event(turn_id, 1, "delta", {"text": "Hello"})]
        await asyncio.Event().wait()


async def test_a_send_past_the_timeout_ends_the_connection_with_1013() -> None:
    """A send blocked longer than the send timeout ends the connection's tasks and closes it with 1013,
    reason given, and the task running it is not left cancelled."""
    socket = _BlockedSocket()
    watchdog = SendWatchdog(timeout=0.05)
    # No app services: this connection is never asked for audio, which is all they are for.
    connection = Connection(socket, None, _OneTurnSeat(), "owner", 100, watchdog)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        await connection.run(resume=None)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await connection.close()
    watchdog.stop()
    assert socket.closed_with is not None
    assert socket.closed_with[0] == TRY_AGAIN_LATER
    assert "stopped reading" in socket.closed_with[1]
