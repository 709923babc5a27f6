"""Scenario S4: hold many idle connections open at once, so the server's RSS per connection can be read.

An idle connection is one the server is really following while nothing flows:

- hotseat WS: ``/ws?session=`` of a session whose opening turn waits for a first
  token that the upstream holds back. The ``turn`` frame proves that the server streams it.
- hotseat SSE: that turn's ``GET .../events``. The ``200`` head proves it.
- naive WS: ``/ws`` connected, with no prompt sent. A naive SSE request is always an
  upstream call, so it cannot be idle.

Client sockets are bound round robin to 127.0.0.2 and up (``source_host``), so
10,000 connections never run out of ephemeral ports. Connects run at most
``parallel`` at a time, each bounded by ``connect_timeout``. On exit every
socket is aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson

from bench.loadgen import PACK, Target, Transport
from bench.rawhttp import HttpConnection
from bench.wire import TurnFailed, host_port, json_request, ws_connect, ws_url


@dataclass(slots=True)
class IdleHold:
    """Connections opened by ``hold_idle`` and still open."""

    connected: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def fail(self, exc: BaseException) -> None:
        self.failed += 1
        key = type(exc).__name__
        self.errors[key] = self.errors.get(key, 0) + 1


def source_host(index: int, spread: int) -> str | None:
    """127.0.0.2 .. 127.0.0.(spread+1) round robin, so ephemeral ports never run out."""
    return f"127.0.0.{2 + index % spread}" if spread > 0 else None


@dataclass(frozen=True, slots=True)
class SilentSession:
    id: str
    turn_id: str
    cookie: str | None  # the owner's, when the server sets one


async def create_silent_sessions(url: str, count: int) -> list[SilentSession]:
    """``count`` hotseat sessions whose opening turns are in progress (the upstream is silent)."""
    host, port = host_port(url)
    conn = await HttpConnection.open(host, port)
    try:
        sessions = []
        for _ in range(count):
            created = await json_request(conn, "POST", "/api/sessions", {"pack": PACK})
            sessions.append(SilentSession(created["id"], created["turn_id"], conn.cookie))
        return sessions
    finally:
        await conn.aclose()


@contextlib.asynccontextmanager
async def hold_idle(
    target: Target,
    transport: Transport,
    url: str,
    count: int,
    sessions: list[SilentSession],
    *,
    spread: int = 16,
    parallel: int = 64,
    connect_timeout: float = 30.0,
    compression: bool = True,
) -> AsyncIterator[IdleHold]:
    """Open ``count`` idle connections (at most ``parallel`` connecting at once), yield, abort them all.

    hotseat WS: ``/ws?session=`` of a session whose turn waits for its first token
    (the ``turn`` frame proves the server is following it); hotseat SSE: that
    turn's events (the 200 head proves it); naive WS: connected, no prompt sent.
    """
    host, port = host_port(url)
    hold = IdleHold()
    gate = asyncio.Semaphore(parallel)

    async def open_one(index: int) -> None:
        local = source_host(index, spread)
        async with gate:
            try:
                async with asyncio.timeout(connect_timeout):
                    session = sessions[index % len(sessions)] if sessions else None
                    if transport == "ws":
                        path = f"/ws?session={session.id}" if session else "/ws"
                        cookie = session.cookie if session else None
                        ws = await ws_connect(ws_url(url, path), compression, local_host=local, cookie=cookie)
                        hold._closers.append(ws.transport.abort)
                        if target == "hotseat":
                            frame = orjson.loads(await ws.recv())
                            if frame["type"] != "turn":
                                raise TurnFailed(f"unexpected {frame['type']} frame")
                    else:
                        assert session is not None
                        conn = await HttpConnection.open(host, port, local_host=local)
                        conn.cookie = session.cookie
                        hold._closers.append(conn.abort)
                        head = await conn.request(
                            "GET", f"/api/sessions/{session.id}/turns/{session.turn_id}/events"
                        )
                        if head.status != 200:
                            raise TurnFailed(f"http {head.status}")
                hold.connected += 1
            except Exception as exc:
                hold.fail(exc)

    await asyncio.gather(*(open_one(i) for i in range(count)))
    try:
        yield hold
    finally:
        for close in hold._closers:
            with contextlib.suppress(Exception):
                close()
        await asyncio.sleep(0.5)
