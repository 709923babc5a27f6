"""hotseat clients that follow the page's own flow (``src/hotseat/web/interview.js``), for the
answer scenarios (A1-A4): what a candidate waits for after sending an answer.

- **WS**: ``POST /api/sessions`` (plain JSON), then ``/ws?session=ID`` (no ``turn_id``: the socket
  streams the turn in progress from its start) and, as the socket opens, ``GET /api/sessions/ID``
  (the transcript); the opening turn is read from the socket. When a turn is done the page reads
  the transcript again. Each answer is ``{"type":"answer"}`` on the socket.
- **SSE**: ``POST /api/sessions``, ``GET /api/sessions/ID`` (the transcript lists the opening turn
  as streaming), ``GET …/turns/TID/events`` to its ``done``, the transcript again; each answer is
  ``POST …/answers`` (202, naming the new turn) and that turn's events.

Between a turn's end and the next answer the client waits ``spec.think`` seconds (a candidate
reading and typing). Each turn's TTFT runs from the first byte of its request: the answer's
frame or ``POST`` for answer turns, which are the ones ``LoadSpec.answer_ttft`` keeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

import orjson

from bench.loadgen import (
    ANSWER,
    PACK,
    ClientStats,
    LoadSpec,
    TurnStats,
    check_turn,
    read_turn_events,
)
from bench.rawhttp import HttpConnection
from bench.wire import CountingConnection, TurnFailed, host_port, json_request, ws_connect, ws_url


async def _transcript(conn: HttpConnection, sid: str) -> None:
    """``GET /api/sessions/ID``, as the page does on connect and after every turn."""
    head = await conn.request("GET", f"/api/sessions/{sid}")
    data = await conn.body()
    if head.status != 200:
        raise TurnFailed(f"http {head.status}: GET transcript: {data[:200]!r}")


async def page_ws_client(spec: LoadSpec, stats: ClientStats) -> None:
    """One candidate over the WebSocket: opening turn, then ``spec.turns - 1`` answers."""
    host, port = host_port(spec.url)
    turn = TurnStats(time.perf_counter())
    stats.turns.append(turn)
    conn = await HttpConnection.open(host, port)
    try:
        session = await json_request(conn, "POST", "/api/sessions", {"pack": PACK})
        sid, turn_id = session["id"], session["turn_id"]
        url = ws_url(spec.url, f"/ws?session={sid}")
        async with ws_connect(url, spec.ws_compression, cookie=conn.cookie) as ws:
            try:
                # The page reads the transcript as the socket opens, beside the stream.
                reading = asyncio.create_task(_transcript(conn, sid))
                current = ""  # the turn of the last turn frame: deltas carry no turn id
                for index in range(spec.turns):
                    if index:
                        await asyncio.sleep(spec.think)
                        turn = TurnStats(time.perf_counter())
                        stats.turns.append(turn)
                        await ws.send(orjson.dumps({"type": "answer", "text": ANSWER}).decode())
                        turn_id = ""  # the next turn frame names the answer's turn
                    for _ in range(spec.tokens * 2 + 20):
                        frame = orjson.loads(await ws.recv())
                        now = time.perf_counter()
                        kind = frame["type"]
                        if kind == "turn":
                            current = frame["turn_id"]
                            turn_id = turn_id or current
                        elif kind == "delta":
                            if current == turn_id:
                                turn.add(frame["text"], now)
                        elif kind == "error":
                            raise TurnFailed(f"error frame {frame.get('code')}")
                        elif kind == "done" and frame.get("turn_id") == turn_id:
                            break
                    else:
                        raise TurnFailed("no done frame")
                    check_turn(turn, spec.tokens)
                    await reading
                    reading = asyncio.create_task(_transcript(conn, sid))  # the page's refresh
                await reading
            finally:
                stats.bytes_received += cast(CountingConnection, ws).received
    finally:
        stats.bytes_received += conn.received
        await conn.aclose()


async def page_sse_client(spec: LoadSpec, stats: ClientStats) -> None:
    """One candidate over SSE: opening turn, then ``spec.turns - 1`` answers."""
    host, port = host_port(spec.url)
    turn = TurnStats(time.perf_counter())
    conn = await HttpConnection.open(host, port)
    try:
        session = await json_request(conn, "POST", "/api/sessions", {"pack": PACK})
        sid, turn_id = session["id"], session["turn_id"]
        await _transcript(conn, sid)
        for index in range(spec.turns):
            if index:
                await asyncio.sleep(spec.think)
                turn = TurnStats(time.perf_counter())
                started = await json_request(conn, "POST", f"/api/sessions/{sid}/answers", {"text": ANSWER})
                turn_id = started["turn_id"]
            stats.turns.append(turn)
            head = await conn.request("GET", f"/api/sessions/{sid}/turns/{turn_id}/events")
            if head.status != 200:
                raise TurnFailed(f"http {head.status}")
            await read_turn_events(conn, turn, spec.tokens)
            check_turn(turn, spec.tokens)
            await _transcript(conn, sid)
    finally:
        stats.bytes_received += conn.received
        await conn.aclose()


CLIENTS = {"ws": page_ws_client, "sse": page_sse_client}
