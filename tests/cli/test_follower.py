"""The client's protocol core against a scripted WebSocket server: resume, overlap, restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from hotseat.client.api import Api
from hotseat.client.follow import (
    Event,
    Follower,
    Queued,
    Reconnected,
    Reconnecting,
    Text,
    TurnEnded,
    TurnStarted,
)
from hotseat.client.identity import Credentials
from hotseat.errors import NotFound

Script = list[list[dict[str, Any]] | str]


@pytest.fixture
async def scripted_ws() -> AsyncIterator[tuple[str, Script, list[str]]]:
    """A WebSocket server that plays one list of frames per connection, then drops it (or closes
    it with the code a string names), and records each connection's path and query."""
    script: Script = []
    paths: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        paths.append(ws.request.path if ws.request is not None else "")
        step = script.pop(0) if script else []
        if isinstance(step, str):
            await ws.send(json.dumps({"type": "error", "code": "not_found", "message": "No session."}))
            await ws.close(1008, step)
            return
        for frame in step:
            await ws.send(json.dumps(frame))
        if script:  # more connections to come: drop this one without a close frame
            ws.transport.abort()
        else:
            await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}", script, paths


async def events_until(follower: Follower, last: type) -> list[Event]:
    seen: list[Event] = []
    while not isinstance(seen[-1] if seen else None, last):
        seen.append(await asyncio.wait_for(follower.next_event(), 10))
    return seen


async def test_resume_after_a_drop_drops_the_overlap(scripted_ws: tuple[str, Script, list[str]]) -> None:
    """After a drop the client asks for the turn after its last seq (queued counts), and drops
    frames not newer."""
    url, script, paths = scripted_ws
    script += [
        [
            {"type": "turn", "turn_id": "T", "kind": "opening", "after": 0},
            {"type": "queued", "turn_id": "T", "seq": 1, "position": 2},
            {"type": "delta", "seq": 2, "text": "Hello"},
            {"type": "delta", "seq": 3, "text": " there"},
        ],
        [
            {"type": "turn", "turn_id": "T", "kind": "opening", "after": 3},
            {"type": "delta", "seq": 3, "text": " there"},  # overlap: already shown
            {"type": "delta", "seq": 4, "text": " friend."},
            {"type": "done", "turn_id": "T", "seq": 5, "finish_reason": "stop"},
        ],
    ]
    api = Api(url, Credentials())
    async with Follower(api, "S", "T") as follower:
        events = await events_until(follower, TurnEnded)
    await api.aclose()
    assert paths == ["/ws?session=S&turn_id=T&after=0", "/ws?session=S&turn_id=T&after=3"]
    assert events[1] == Queued("T", 2)
    assert [type(e) for e in events] == [
        TurnStarted, Queued, Text, Text, Reconnecting, Reconnected, Text, TurnEnded,
    ]  # fmt: skip
    assert "".join(e.text for e in events if isinstance(e, Text)) == "Hello there friend."


async def test_a_turn_sent_again_from_its_start_restarts_it(
    scripted_ws: tuple[str, Script, list[str]],
) -> None:
    """``after: 0`` for a turn already shown means its text comes again whole: a restart, not more."""
    url, script, _paths = scripted_ws
    script += [
        [
            {"type": "turn", "turn_id": "T", "kind": "question", "after": 0},
            {"type": "delta", "seq": 1, "text": "Hel"},
            {"type": "turn", "turn_id": "T", "kind": "question", "after": 0},
            {"type": "delta", "seq": 2, "text": "Hello."},
            {"type": "done", "turn_id": "T", "seq": 3, "finish_reason": "stop"},
        ]
    ]
    api = Api(url, Credentials())
    async with Follower(api, "S", "T") as follower:
        events = await events_until(follower, TurnEnded)
    await api.aclose()
    assert events[2] == TurnStarted("T", "question", restart=True)
    assert events[3] == Text("T", "Hello.")


async def test_an_unknown_session_ends_following(scripted_ws: tuple[str, Script, list[str]]) -> None:
    """A 1008 close after not_found is final: no reconnecting to a session that is gone."""
    url, script, paths = scripted_ws
    script.append("unknown session")
    api = Api(url, Credentials())
    async with Follower(api, "S") as follower:
        with pytest.raises(NotFound):
            await events_until(follower, TurnEnded)
    await api.aclose()
    assert len(paths) == 1
