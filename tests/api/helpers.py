"""Small clients for the wire protocol, shared by the API tests."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from websockets.sync.client import ClientConnection


def recv_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message = ws.recv(timeout=timeout)
    assert isinstance(message, str)
    frame: dict[str, Any] = json.loads(message)
    return frame


def recv_turn(
    ws: ClientConnection, timeout: float = 10, after: int = 0, turn_id: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Frames until a turn's terminal one: (delta, queued and error frames, terminal frame).

    Like any client, it drops frames whose seq it has already seen for that turn
    (a resume may overlap what the connection was already sending), and gives
    each delta the id of the turn it belongs to: the last ``turn`` frame's (or
    ``turn_id``, when the caller has read that frame itself).
    """
    frames: list[dict[str, Any]] = []
    last_seq: dict[str | None, int] = {}
    current = turn_id
    while True:
        frame = recv_json(ws, timeout)
        if frame["type"] == "turn":
            current = frame["turn_id"]
            continue
        if frame["type"] == "accepted":
            continue  # the acknowledgement of a move; tests of it read it themselves
        if frame["type"] == "delta":
            assert "turn_id" not in frame, frame  # deltas are compact
            frame["turn_id"] = current
        if "seq" in frame:
            if frame["seq"] <= last_seq.get(frame["turn_id"], after):
                continue
            last_seq[frame["turn_id"]] = frame["seq"]
        if frame["type"] in ("done", "error") and "seq" in frame:
            return frames, frame
        frames.append(frame)


def wait_quiet(client: httpx.Client, session_id: str, limit: float = 10.0) -> list[dict[str, Any]]:
    """Poll the transcript until no turn of the session is streaming (bounded); return its turns."""
    deadline = time.monotonic() + limit
    while True:
        turns: list[dict[str, Any]] = client.get(f"/api/sessions/{session_id}").json()["turns"]
        if all(t["status"] != "streaming" for t in turns):
            return turns
        assert time.monotonic() < deadline, "the session's turn did not finish in time"
        time.sleep(0.02)


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    """Parse an SSE body into events: {"id", "event", "data"} (comments skipped)."""
    events = []
    for block in response.text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


def report_when_done(client: httpx.Client, session_id: str) -> dict[str, Any]:
    """Poll the report until every assessment has ended (bounded); return it."""
    deadline = time.monotonic() + 10
    while True:
        report: dict[str, Any] = client.get(f"/api/sessions/{session_id}/report").json()
        if report["status"] == "complete":
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.05)
