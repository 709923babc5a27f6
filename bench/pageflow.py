"""hotseat clients that follow the page's own flow (``src/hotseat/web/session.js``), for the
answer scenarios (A0-A5): what a candidate waits for after sending an answer.

- **WS**: ``POST /api/sessions`` (plain JSON), then ``/ws?session=ID`` (no ``turn_id``: the socket
  streams the turn in progress from its start) and, as the socket opens, ``GET /api/sessions/ID``
  (the transcript); the opening turn is read from the socket. Each answer is ``{"type":"answer"}``
  on the socket; its ``accepted`` frame names the answer's turn, so the page reads no transcript.
- **SSE**: ``POST /api/sessions``, ``GET /api/sessions/ID`` (the transcript lists the opening turn
  as streaming), ``GET …/turns/TID/events`` to its ``done``; each answer is ``POST …/answers``
  asking for ``text/event-stream``, whose response is ``accepted`` and then the new turn's events.

Between a turn's end and the next answer the client waits ``spec.think`` seconds (a candidate
reading and typing). Each turn's TTFT runs from the first byte of its request: the answer's
frame or ``POST`` for answer turns, which are the ones ``LoadSpec.answer_ttft`` keeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

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
from bench.rawhttp import HttpConnection, HttpError
from bench.wire import CountingConnection, TurnFailed, host_port, json_request, ws_connect, ws_url


class _Fetcher:
    """The page's own HTTP requests, on one keep-alive connection that is opened again (cookie
    kept) when the server has closed it while idle, as a browser does: uvicorn closes a
    keep-alive connection after 5 s, and a WebSocket client's lies idle for a whole turn."""

    def __init__(self, conn: HttpConnection, host: str, port: int) -> None:
        self.conn = conn
        self._host, self._port = host, port
        self.received = 0  # bytes read by connections already closed

    async def transcript(self, sid: str) -> dict[str, Any]:
        """``GET /api/sessions/ID``, as the page does when it opens a session."""
        try:
            head = await self.conn.request("GET", f"/api/sessions/{sid}")
        except (HttpError, ConnectionError):
            # A GET that got no answer is safe to send again, on a new connection.
            cookie = self.conn.cookie
            await self.aclose()
            self.conn = await HttpConnection.open(self._host, self._port)
            self.conn.cookie = cookie
            head = await self.conn.request("GET", f"/api/sessions/{sid}")
        data = await self.conn.body()
        if head.status != 200:
            raise TurnFailed(f"http {head.status}: GET transcript: {data[:200]!r}")
        transcript: dict[str, Any] = orjson.loads(data)
        return transcript

    async def aclose(self) -> None:
        self.received += self.conn.received
        await self.conn.aclose()


async def page_ws_client(spec: LoadSpec, stats: ClientStats) -> None:
    """One candidate over the WebSocket: opening turn, then ``spec.turns - 1`` answers."""
    host, port = host_port(spec.url)
    turn = TurnStats(time.perf_counter())
    stats.turns.append(turn)
    fetch = _Fetcher(await HttpConnection.open(host, port), host, port)
    try:
        session = await json_request(fetch.conn, "POST", "/api/sessions", {"pack": PACK})
        sid, turn_id = session["id"], session["turn_id"]
        url = ws_url(spec.url, f"/ws?session={sid}")
        async with ws_connect(url, spec.ws_compression, cookie=fetch.conn.cookie) as ws:
            try:
                # The page reads the transcript once the socket is open. An opening that ended
                # before the socket subscribed gets no frames: the transcript has it.
                transcript = await fetch.transcript(sid)
                opening = next(t for t in transcript["turns"] if t["id"] == turn_id)
                current = ""  # the turn of the last turn frame: deltas carry no turn id
                for index in range(spec.turns):
                    if index:
                        await asyncio.sleep(spec.think)
                        turn = TurnStats(time.perf_counter())
                        stats.turns.append(turn)
                        await ws.send(orjson.dumps({"type": "answer", "text": ANSWER}).decode())
                        turn_id = ""  # the `accepted` frame names the answer's turn
                    elif opening["status"] != "streaming":
                        turn.add(opening["text"], time.perf_counter())  # shown from the transcript
                        check_turn(turn, spec.tokens)
                        continue
                    for _ in range(spec.tokens * 2 + 20):
                        frame = orjson.loads(await ws.recv())
                        now = time.perf_counter()
                        kind = frame["type"]
                        if kind == "accepted":
                            turn_id = frame["turn_id"]
                        elif kind == "turn":
                            current = frame["turn_id"]
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
            finally:
                stats.bytes_received += cast(CountingConnection, ws).received
    finally:
        await fetch.aclose()
        stats.bytes_received += fetch.received


async def page_sse_client(spec: LoadSpec, stats: ClientStats) -> None:
    """One candidate over SSE: opening turn, then ``spec.turns - 1`` answers."""
    host, port = host_port(spec.url)
    turn = TurnStats(time.perf_counter())
    fetch = _Fetcher(await HttpConnection.open(host, port), host, port)
    try:
        session = await json_request(fetch.conn, "POST", "/api/sessions", {"pack": PACK})
        sid, turn_id = session["id"], session["turn_id"]
        await fetch.transcript(sid)
        stats.turns.append(turn)
        head = await fetch.conn.request("GET", f"/api/sessions/{sid}/turns/{turn_id}/events")
        if head.status != 200:
            raise TurnFailed(f"http {head.status}")
        await read_turn_events(fetch.conn, turn, spec.tokens)
        check_turn(turn, spec.tokens)
        for _ in range(spec.turns - 1):
            await asyncio.sleep(spec.think)
            turn = TurnStats(time.perf_counter())
            stats.turns.append(turn)
            # The answer's response is its turn's stream: `accepted`, then the turn's events.
            body = orjson.dumps({"text": ANSWER})
            path = f"/api/sessions/{sid}/answers"
            head = await fetch.conn.request("POST", path, body, {"Accept": "text/event-stream"})
            if head.status != 202:
                raise TurnFailed(f"http {head.status}: POST answer: {(await fetch.conn.body())[:200]!r}")
            await read_turn_events(fetch.conn, turn, spec.tokens)
            check_turn(turn, spec.tokens)
    finally:
        await fetch.aclose()
        stats.bytes_received += fetch.received


CLIENTS = {"ws": page_ws_client, "sse": page_sse_client}
