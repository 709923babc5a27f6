"""Hardening test helpers: servers with settings, frames and turns, clients that never read, probes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from websockets.sync.client import ClientConnection

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.base import Backend
from hotseat.serving import ServerThread, uvicorn_config_kwargs
from hx import AUTH

T = TypeVar("T")


@contextmanager
def serving(
    settings: Settings, llm: Backend | None = None, *, sndbuf: int | None = None, **update: Any
) -> Iterator[ServerThread]:
    """A real hotseat server on port 0 with ``settings`` changed by ``update``.

    ``llm`` replaces the backend the settings name (a scripted one, usually).

    ``sndbuf`` shrinks the kernel send buffer of every accepted connection, so
    that a client that stops reading blocks the server's sends after a few KiB
    instead of the megabytes loopback would buffer.
    """
    configured = settings.model_copy(update=update)
    app = create_app(configured, backend=llm)
    config = uvicorn_config_kwargs(configured)
    config["log_level"] = "warning"
    server = ServerThread(app, **config)
    if sndbuf is not None:
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    with server:
        yield server


def recv_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message = ws.recv(timeout=timeout)
    assert isinstance(message, str)
    frame: dict[str, Any] = json.loads(message)
    return frame


def recv_turn(ws: ClientConnection, timeout: float = 10) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Frames up to a turn's terminal event: (deltas and other frames, the terminal frame)."""
    frames: list[dict[str, Any]] = []
    last_seq: dict[str | None, int] = {}
    current = None  # deltas belong to the last turn frame's turn
    while True:
        frame = recv_json(ws, timeout)
        if frame["type"] == "turn":
            current = frame["turn_id"]
            continue
        if frame["type"] == "delta":
            frame["turn_id"] = current
        if "seq" in frame:
            if frame["seq"] <= last_seq.get(frame["turn_id"], 0):
                continue
            last_seq[frame["turn_id"]] = frame["seq"]
            if frame["type"] in ("done", "error"):
                return frames, frame
        frames.append(frame)


def wait_turn(server: ServerThread, session_id: str, turn_id: str) -> str:
    """Read the turn over SSE until its terminal event (it is then over); returns the SSE body."""
    url = f"{server.base_url}/api/sessions/{session_id}/turns/{turn_id}/events"
    response = hx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def follow(ws: ClientConnection, turn_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Resume ``turn_id`` from its start (it may be running or over) and read it to its end."""
    ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": 0}))
    return recv_turn(ws)


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def stalled_websocket(server: ServerThread, path: str, *, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket that completes the handshake and then never reads another byte.

    The small receive buffer, set before connecting, keeps the advertised window small.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n\r\n"
    )
    sock.sendall(head.encode())
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(1)  # byte by byte: read the head and nothing after it
        assert chunk, "the server closed the handshake"
        received += chunk
    assert received.startswith(b"HTTP/1.1 101"), received
    return sock


def stalled_request(server: ServerThread, path: str, *, rcvbuf: int = 4096) -> socket.socket:
    """An HTTP GET (an SSE stream) whose response is never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", server.port))
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def closed_by_server(sock: socket.socket, timeout: float = 30.0) -> bool:
    """Read what is left until the server's FIN or RST: True once the connection is gone."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    finally:
        sock.close()
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` s (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def in_server(server: ServerThread, fn: Callable[[], T]) -> T:
    """Run ``fn`` on the server's event loop (where its state lives) and return the result."""
    assert server.loop is not None

    async def call() -> T:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), server.loop).result(10)


def open_connections(server: ServerThread) -> int:
    """The connections the server's limits count as open (WebSocket and SSE)."""
    return in_server(server, lambda: int(server.app.state.limits.connections.open_count()))


def task_count(server: ServerThread) -> int:
    """Tasks alive on the server's loop, excluding the probe itself."""
    return in_server(server, lambda: len(asyncio.all_tasks()) - 1)
