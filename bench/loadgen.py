"""Load generator: C concurrent clients x R turns, timing every text frame they receive.

Targets and how one client runs one turn (``--target`` x ``--transport``):

- ``upstream`` / ``sse``: the mock OpenAI server itself, the physical baseline:
  ``POST /v1/chat/completions`` (stream, usage on) read as OpenAI SSE chunks.
- ``naive`` / ``ws``: ``bench.naive_relay``'s ``/ws``: send the prompt, read
  whole-text frames until ``{"type":"end"}``. ``naive`` / ``sse``: ``GET /sse``.
- ``floor``: ``bench.floor_relay``, the same routes, each frame only the new text.
- ``hotseat`` / ``ws``: ``/ws?pack=...``, which creates the session and starts
  its opening turn as the socket opens (a ``start`` frame would cost a round
  trip more); frames ``session``, ``turn``,
  ``delta`` {seq,text}, ``done``. With ``session_start="post"`` (``bench.run
  --session-start post``): ``POST /api/sessions`` first, then
  ``/ws?session=ID&turn_id=TID&after=0``; naming the opening turn makes the
  server send it whole even if it ended before the socket opened (a loaded
  server). Later turns send ``{"type":"answer"}`` on the same socket.
  ``hotseat`` / ``sse``: ``POST /api/sessions`` with ``Accept:
  text/event-stream``, answered with a ``session`` event and the opening turn's
  events (with ``session_start="post"``: a plain POST, then ``GET
  /api/sessions/{sid}/turns/{tid}/events``); later turns ``POST .../answers``
  and that GET.

Per client it records: time to first token (from the start of the turn's first
request, connection set-up included, to the first frame with text), the gaps
between consecutive text frames, frames that carried more than one token
(merged), tokens received (the mock's tokens are `` tok1 tok2 ...``, counted
in the text itself and checked against the exact expected text), bytes read
from the sockets (HTTP heads, chunk and WebSocket framing included), and errors.
WebSockets use the ``websockets`` asyncio client with its defaults, which offer
permessage-deflate as browsers do; HTTP uses ``bench.rawhttp``.

``bench.idle`` holds many idle connections (scenario S4); ``bench.wire`` has the client plumbing.

    python -m bench.loadgen --target hotseat --transport ws --url http://127.0.0.1:8000 \
        --clients 20 --tokens 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import quote

import orjson

from bench.rawhttp import HttpConnection, SseDecoder
from bench.wire import CountingConnection, TurnFailed, host_port, json_request, read_sse, ws_connect, ws_url

Target = Literal["upstream", "naive", "floor", "hotseat"]
Transport = Literal["sse", "ws"]
SessionStart = Literal["stream", "post"]
TARGETS: tuple[Target, ...] = ("upstream", "naive", "floor", "hotseat")
PACK = "backend-engineer"
PROMPT = "Ask me the next interview question."
ANSWER = "I would start by measuring, then fix the biggest cost first."
NAIVE_END = '{"type":"end"}'
TOKEN_MARK = " tok"  # every mock token is " tok<N>"


def expected_text(tokens: int) -> str:
    """Exactly what the mock upstream streams for a reply of ``tokens`` tokens."""
    return "".join(f" tok{i}" for i in range(1, tokens + 1))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --------------------------------------------------------------------------- recording


@dataclass(slots=True)
class TurnStats:
    started: float
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    frames: int = 0  # frames that carried text
    merged: int = 0  # of which carried more than one token
    tokens: int = 0
    text: str = ""
    _last: float | None = None
    _parts: list[str] = field(default_factory=list)

    def add(self, piece: str, now: float) -> None:
        """Record a frame with new text ``piece`` that arrived at ``now``."""
        if self._last is None:
            self.ttft = now - self.started
        else:
            self.gaps.append(now - self._last)
        self._last = now
        self.frames += 1
        count = piece.count(TOKEN_MARK)
        self.tokens += count
        if count > 1:
            self.merged += 1
        self._parts.append(piece)

    def finish(self) -> str:
        self.text = "".join(self._parts)
        return self.text


@dataclass(slots=True)
class ClientStats:
    turns: list[TurnStats] = field(default_factory=list)
    bytes_received: int = 0
    error: str | None = None


@dataclass(slots=True)
class LoadSpec:
    target: Target
    transport: Transport
    url: str  # http://127.0.0.1:PORT of the target
    clients: int
    tokens: int
    turns: int = 1
    ramp: float = 0.0  # seconds over which client starts are spread evenly
    timeout: float = 120.0  # per client, all its turns
    ws_compression: bool = True  # offer permessage-deflate, as browsers do
    # hotseat: start the session on the streaming connection itself (a WebSocket ``start`` frame,
    # or a POST that answers with the event stream: one request less), or with a plain
    # ``POST /api/sessions`` before the stream (the only way before 2026-11-25).
    session_start: SessionStart = "stream"
    # The answer scenarios (A0-A5): seconds a client waits between a turn's end and its next
    # request (a candidate reading and typing), TTFT of answer turns only (every turn after a
    # client's first), and the client that runs one candidate instead of this module's
    # (``bench.pageflow``'s, which follow the page's own requests).
    think: float = 0.0
    answer_ttft: bool = False
    client: Callable[[LoadSpec, ClientStats], Awaitable[None]] | None = None


@dataclass(slots=True)
class LoadResult:
    spec: LoadSpec
    clients: list[ClientStats]
    wall_seconds: float
    client_cpu_seconds: float  # this process (the load generator), for noise notes

    @property
    def errors(self) -> int:
        return sum(1 for c in self.clients if c.error is not None)

    @property
    def error_kinds(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for c in self.clients:
            if c.error is not None:
                # "TurnFailed: http 500: POST ...": the type and the first clause of the message.
                key = ":".join(c.error.split(":", 2)[:2])
                kinds[key] = kinds.get(key, 0) + 1
        return kinds

    @property
    def tokens(self) -> int:
        return sum(t.tokens for c in self.clients for t in c.turns)

    @property
    def expected_tokens(self) -> int:
        return self.spec.clients * self.spec.turns * self.spec.tokens

    @property
    def bytes_received(self) -> int:
        return sum(c.bytes_received for c in self.clients)

    def ttfts(self) -> list[float]:
        first = 1 if self.spec.answer_ttft else 0
        return [t.ttft for c in self.clients for t in c.turns[first:] if t.ttft is not None]

    @property
    def answers(self) -> int:
        """Answer turns that were read to their end (every completed turn after a client's first)."""
        return sum(max(0, len(c.turns) - 1 - (c.error is not None)) for c in self.clients)

    def gaps(self) -> list[float]:
        return [g for c in self.clients for t in c.turns for g in t.gaps]

    @property
    def frames(self) -> int:
        return sum(t.frames for c in self.clients for t in c.turns)

    @property
    def merged_frames(self) -> int:
        return sum(t.merged for c in self.clients for t in c.turns)

    def ttft_timeline(self, window: float) -> list[tuple[float, int, float, float]]:
        """First turns' TTFT by when their client started: ``(start, clients, p50, max)`` for each
        ``window`` seconds of the ramp. Shows whether a tail comes from one moment (a pause) or
        from the end of the ramp (a process that saturates)."""
        spec = self.spec
        by_window: dict[int, list[float]] = {}
        for index, client in enumerate(self.clients):
            if client.turns and client.turns[0].ttft is not None:
                started = spec.ramp * index / spec.clients  # as _one_client spreads them
                by_window.setdefault(int(started / window), []).append(client.turns[0].ttft)
        return [
            (slot * window, len(ttfts), percentile(ttfts, 0.5) or 0.0, max(ttfts))
            for slot, ttfts in sorted(by_window.items())
        ]


def check_turn(turn: TurnStats, tokens: int) -> None:
    text = turn.finish()
    if text != expected_text(tokens):
        raise TurnFailed(f"text mismatch: {turn.tokens} of {tokens} tokens")


# --------------------------------------------------------------------------- one client per target


async def _upstream_client(spec: LoadSpec, stats: ClientStats) -> None:
    host, port = host_port(spec.url)
    started = time.perf_counter()
    conn = await HttpConnection.open(host, port)
    try:
        for index in range(spec.turns):
            started = await _think(spec) if index else started
            turn = TurnStats(started)
            stats.turns.append(turn)
            body = {
                "model": "mock",
                "messages": [{"role": "user", "content": PROMPT}],
                "stream": True,
                "max_tokens": spec.tokens,
                "stream_options": {"include_usage": True},
            }
            head = await conn.request("POST", "/v1/chat/completions", orjson.dumps(body))
            if head.status != 200:
                raise TurnFailed(f"http {head.status}")

            def on_event(kind: str, data: bytes, now: float, turn: TurnStats = turn) -> bool:
                if data == b"[DONE]":
                    return True
                choices = orjson.loads(data).get("choices")
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        turn.add(content, now)
                return False

            if not await read_sse(conn, on_event, spec.tokens * 2 + 100):
                raise TurnFailed("stream ended without [DONE]")
            check_turn(turn, spec.tokens)
    finally:
        stats.bytes_received += conn.received
        await conn.aclose()


async def _think(spec: LoadSpec) -> float:
    """Before a later turn: wait ``spec.think`` seconds; the new turn's start."""
    await asyncio.sleep(spec.think)
    return time.perf_counter()


def _accumulated(turn: TurnStats, previous: str, frame: str, now: float, deltas: bool) -> str:
    """Record a relay's frame: the whole text so far (naive), or only its new text (``deltas``, floor)."""
    whole = previous + frame if deltas else frame
    if not whole.startswith(previous):
        raise TurnFailed("a whole-text frame does not extend the previous one")
    turn.add(whole[len(previous) :], now)
    return whole


async def _naive_ws_client(spec: LoadSpec, stats: ClientStats) -> None:
    started = time.perf_counter()
    async with ws_connect(ws_url(spec.url, "/ws"), spec.ws_compression) as ws:
        try:
            for index in range(spec.turns):
                started = await _think(spec) if index else started
                turn = TurnStats(started)
                stats.turns.append(turn)
                await ws.send(PROMPT)
                previous = ""
                for _ in range(spec.tokens * 2 + 10):
                    message = await ws.recv()
                    now = time.perf_counter()
                    assert isinstance(message, str)
                    if message == NAIVE_END:
                        break
                    previous = _accumulated(turn, previous, message, now, spec.target == "floor")
                else:
                    raise TurnFailed("no end frame")
                check_turn(turn, spec.tokens)
        finally:
            stats.bytes_received += cast(CountingConnection, ws).received


async def _naive_sse_client(spec: LoadSpec, stats: ClientStats) -> None:
    host, port = host_port(spec.url)
    started = time.perf_counter()
    conn = await HttpConnection.open(host, port)
    try:
        for index in range(spec.turns):
            started = await _think(spec) if index else started
            turn = TurnStats(started)
            stats.turns.append(turn)
            head = await conn.request("GET", f"/sse?prompt={quote(PROMPT)}")
            if head.status != 200:
                raise TurnFailed(f"http {head.status}")
            previous = [""]

            def on_event(
                kind: str, data: bytes, now: float, turn: TurnStats = turn, previous: list[str] = previous
            ) -> bool:
                previous[0] = _accumulated(turn, previous[0], orjson.loads(data), now, spec.target == "floor")
                return False

            await read_sse(conn, on_event, spec.tokens * 2 + 10)
            check_turn(turn, spec.tokens)
    finally:
        stats.bytes_received += conn.received
        await conn.aclose()


async def _hotseat_turn_over_sse(
    conn: HttpConnection, sid: str, turn_id: str, turn: TurnStats, tokens: int
) -> None:
    """Read one turn's events with ``GET .../turns/{tid}/events`` to its ``done``."""
    head = await conn.request("GET", f"/api/sessions/{sid}/turns/{turn_id}/events")
    if head.status != 200:
        raise TurnFailed(f"http {head.status}")
    await read_turn_events(conn, turn, tokens)


async def _start_over_sse(conn: HttpConnection, turn: TurnStats, tokens: int) -> str:
    """``POST /api/sessions`` answered with the event stream: read the opening turn; the session's id."""
    body = orjson.dumps({"pack": PACK})
    head = await conn.request("POST", "/api/sessions", body, {"Accept": "text/event-stream"})
    if head.status != 201:
        raise TurnFailed(f"http {head.status}")
    session: dict[str, str] = {}
    await read_turn_events(conn, turn, tokens, session)
    return session["id"]


async def read_turn_events(
    conn: HttpConnection, turn: TurnStats, tokens: int, session: dict[str, str] | None = None
) -> None:
    """A turn's SSE events to its ``done``; a ``session`` event's fields go into ``session``."""

    def on_event(kind: str, data: bytes, now: float) -> bool:
        if kind == "session" and session is not None:
            session.update(orjson.loads(data))
            return False
        if kind == "delta":
            turn.add(orjson.loads(data)["text"], now)
            return False
        if kind == "error":
            raise TurnFailed(f"error event {orjson.loads(data).get('code')}")
        return kind == "done"

    if not await read_sse(conn, on_event, tokens * 2 + 20):
        raise TurnFailed("events ended without done")


async def _hotseat_ws_client(spec: LoadSpec, stats: ClientStats) -> None:
    host, port = host_port(spec.url)
    turn = TurnStats(time.perf_counter())
    stats.turns.append(turn)
    conn: HttpConnection | None = None
    try:
        if spec.session_start == "post":
            conn = await HttpConnection.open(host, port)
            session = await json_request(conn, "POST", "/api/sessions", {"pack": PACK})
            sid, turn_id = session["id"], session["turn_id"]
            url = ws_url(spec.url, f"/ws?session={sid}&turn_id={turn_id}&after=0")
        else:  # the session starts at connect; its session frame names the opening turn
            url, turn_id = ws_url(spec.url, f"/ws?pack={PACK}"), ""
        async with ws_connect(url, spec.ws_compression, cookie=conn.cookie if conn else None) as ws:
            try:
                ended: set[str] = set()
                current = ""  # the turn of the last turn frame: deltas carry no turn id
                for index in range(spec.turns):
                    if index:
                        turn = TurnStats(time.perf_counter())
                        stats.turns.append(turn)
                        await ws.send(orjson.dumps({"type": "answer", "text": ANSWER}).decode())
                        turn_id = ""
                    for _ in range(spec.tokens * 2 + 20):
                        frame = orjson.loads(await ws.recv())
                        now = time.perf_counter()
                        kind = frame["type"]
                        if kind == "session":
                            turn_id = frame["turn_id"]
                        elif kind == "turn":
                            if not turn_id and frame["turn_id"] not in ended:
                                turn_id = frame["turn_id"]
                            current = frame["turn_id"]  # the following deltas are this turn's
                        elif kind == "delta":
                            if current == turn_id:
                                turn.add(frame["text"], now)
                        elif kind == "error" and frame.get("turn_id") in (None, turn_id):
                            # No turn id: the answer itself was refused (busy, rate_limited).
                            raise TurnFailed(f"error frame {frame.get('code')}")
                        elif frame.get("turn_id") != turn_id:
                            continue
                        elif kind == "done":
                            break
                    else:
                        raise TurnFailed("no done frame")
                    ended.add(turn_id)
                    check_turn(turn, spec.tokens)
            finally:
                stats.bytes_received += cast(CountingConnection, ws).received
    finally:
        if conn is not None:
            stats.bytes_received += conn.received
            await conn.aclose()


async def _hotseat_sse_client(spec: LoadSpec, stats: ClientStats) -> None:
    host, port = host_port(spec.url)
    started = time.perf_counter()
    conn = await HttpConnection.open(host, port)
    try:
        sid = turn_id = ""
        if spec.session_start == "post":
            session = await json_request(conn, "POST", "/api/sessions", {"pack": PACK})
            sid, turn_id = session["id"], session["turn_id"]
        for index in range(spec.turns):
            turn = TurnStats(started)
            stats.turns.append(turn)
            if index:
                started_turn = await json_request(
                    conn, "POST", f"/api/sessions/{sid}/answers", {"text": ANSWER}
                )
                turn_id = started_turn["turn_id"]
            if not sid:
                sid = await _start_over_sse(conn, turn, spec.tokens)
            else:
                await _hotseat_turn_over_sse(conn, sid, turn_id, turn, spec.tokens)
            check_turn(turn, spec.tokens)
            started = time.perf_counter()
    finally:
        stats.bytes_received += conn.received
        await conn.aclose()


_CLIENTS: dict[tuple[Target, Transport], Callable[[LoadSpec, ClientStats], Awaitable[None]]] = {
    ("upstream", "sse"): _upstream_client,
    ("naive", "ws"): _naive_ws_client,
    ("naive", "sse"): _naive_sse_client,
    ("floor", "ws"): _naive_ws_client,
    ("floor", "sse"): _naive_sse_client,
    ("hotseat", "ws"): _hotseat_ws_client,
    ("hotseat", "sse"): _hotseat_sse_client,
}


def transports_of(target: Target) -> tuple[Transport, ...]:
    return ("sse",) if target == "upstream" else ("ws", "sse")


async def _one_client(spec: LoadSpec, index: int) -> ClientStats:
    stats = ClientStats()
    if spec.ramp > 0:
        await asyncio.sleep(spec.ramp * index / spec.clients)
    try:
        async with asyncio.timeout(spec.timeout):
            await (spec.client or _CLIENTS[(spec.target, spec.transport)])(spec, stats)
    except TimeoutError:
        stats.error = f"timeout: after {spec.timeout:g} s"
    except Exception as exc:
        stats.error = f"{type(exc).__name__}: {exc}"
    return stats


async def run_load(spec: LoadSpec) -> LoadResult:
    """Run ``spec.clients`` clients at once (spread over ``spec.ramp``) and gather their stats."""
    cpu0 = _own_cpu()
    t0 = time.perf_counter()
    clients = await asyncio.gather(*(_one_client(spec, i) for i in range(spec.clients)))
    return LoadResult(spec, list(clients), time.perf_counter() - t0, _own_cpu() - cpu0)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- warm-up


async def warm_up(
    target: Target, transport: Transport, url: str, tokens: int, compression: bool = True, frames: int = 3
) -> None:
    """One short turn so lazy imports and first-use set-up are not measured; stops early.

    hotseat's turn is cancelled (server-side), the others are abandoned by closing the socket.
    """
    host, port = host_port(url)
    wanted = min(frames, tokens)
    async with asyncio.timeout(60):
        if target == "hotseat":
            conn = await HttpConnection.open(host, port)
            try:
                session = await json_request(conn, "POST", "/api/sessions", {"pack": PACK})
                sid = session["id"]
                async with ws_connect(
                    ws_url(url, f"/ws?session={sid}&turn_id={session['turn_id']}&after=0"),
                    compression,
                    cookie=conn.cookie,
                ) as ws:
                    seen = 0
                    for _ in range(tokens * 2 + 20):
                        frame = orjson.loads(await ws.recv())
                        seen += frame["type"] == "delta"
                        if seen == wanted:
                            await ws.send('{"type":"cancel"}')
                        if frame["type"] in ("done", "error"):
                            break
                # SSE route and sse-starlette too: replaying the finished turn is cheap.
                await conn.request("GET", f"/api/sessions/{sid}/turns/{session['turn_id']}/events")
                await conn.body()
            finally:
                await conn.aclose()
            return
        spec = LoadSpec(target, transport, url, clients=1, tokens=tokens)
        stats = ClientStats()
        with contextlib.suppress(Exception):
            if target in ("naive", "floor") and transport == "ws":
                async with ws_connect(ws_url(url, "/ws"), compression) as ws:
                    await ws.send(PROMPT)
                    for _ in range(wanted):
                        await ws.recv()
            elif target in ("naive", "floor"):
                conn = await HttpConnection.open(host, port)
                try:
                    await conn.request("GET", f"/sse?prompt={quote(PROMPT)}")
                    decoder, seen = SseDecoder(), 0
                    async for piece in conn.stream():
                        seen += len(decoder.feed(piece))
                        if seen >= wanted:
                            break
                finally:
                    conn.abort()
            else:
                await _upstream_client(spec, stats)


# --------------------------------------------------------------------------- CLI


def summary(result: LoadResult) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f}"

    ttfts, gaps = result.ttfts(), result.gaps()
    return (
        f"{result.spec.target}/{result.spec.transport}: clients={result.spec.clients} "
        f"errors={result.errors} {result.error_kinds or ''} tokens={result.tokens}/{result.expected_tokens} "
        f"ttft p50/p99={ms(percentile(ttfts, 0.5))}/{ms(percentile(ttfts, 0.99))} ms "
        f"gap p50/p99={ms(percentile(gaps, 0.5))}/{ms(percentile(gaps, 0.99))} ms "
        f"merged={result.merged_frames}/{result.frames} bytes/token="
        f"{result.bytes_received / max(result.tokens, 1):.1f} wall={result.wall_seconds:.1f}s "
        f"client cpu={result.client_cpu_seconds:.1f}s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--transport", choices=("ws", "sse"), default="ws")
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT of the target")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=200, help="tokens the upstream streams per reply")
    parser.add_argument("--ramp", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    host, _ = host_port(args.url)
    if not host.startswith("127."):
        parser.error("traffic stays on 127.0.0.0/8")
    spec = LoadSpec(
        args.target, args.transport, args.url, args.clients, args.tokens, args.turns, args.ramp, args.timeout
    )
    print(summary(asyncio.run(run_load(spec))))


if __name__ == "__main__":
    main()
