"""Log events and their wire encodings, built once per event and shared by every client.

An event is one entry of a turn's log: ``delta`` (new text only), ``queued``
(waiting for the model), then exactly one terminal ``done`` or ``error``. Its
JSON is the WebSocket frame and the SSE ``data:`` line alike::

    {"type": "done", "turn_id": "...", "seq": 9, "finish_reason": "stop", "usage": {...}}

except for deltas, which are most of the traffic and carry only what the
transport does not already say (docs/protocol.md, "Compact deltas")::

    WebSocket:  {"type":"delta","seq":3,"text":"Hello"}    (the turn: the last ``turn`` frame)
    SSE:        id: 3 / event: delta / data: {"text":"Hello"}   (the turn: the URL)

A transport that fell behind may merge consecutive deltas into one frame that
carries the last merged seq (``merge_deltas``); it never drops or reorders them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

EventType = Literal["delta", "queued", "done", "error"]
TERMINAL_TYPES: frozenset[str] = frozenset({"done", "error"})


@dataclass(slots=True)
class Event:
    turn_id: str
    seq: int
    type: EventType
    payload: dict[str, Any]
    _json: str | None = field(default=None, repr=False, compare=False)
    _sse: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "turn_id": self.turn_id, "seq": self.seq, **self.payload}

    @property
    def json(self) -> str:
        """The event as a WebSocket JSON text frame (a delta without its turn id), encoded once."""
        if self._json is None:
            if self.type == "delta":
                self._json = orjson.dumps({"type": "delta", "seq": self.seq, **self.payload}).decode()
            else:
                self._json = orjson.dumps(self.to_dict()).decode()
        return self._json

    @property
    def sse(self) -> bytes:
        """The event as one SSE message (``id``, ``event``, ``data``), encoded once.

        A delta's ``data`` is only ``{"text": ...}``: its seq is the ``id``, its type the
        ``event`` and its turn the URL.
        """
        if self._sse is None:
            data = orjson.dumps(self.payload).decode() if self.type == "delta" else self.json
            self._sse = f"id: {self.seq}\nevent: {self.type}\ndata: {data}\n\n".encode()
        return self._sse


def delta(turn_id: str, seq: int, text: str) -> Event:
    return Event(turn_id, seq, "delta", {"text": text})


def merge_deltas(events: Sequence[Event]) -> Iterator[Event]:
    """Yield ``events`` with each run of consecutive deltas merged into one.

    A run of one is yielded as is, so its cached encoding is reused; a merged
    delta carries the seq of the last delta it contains.
    """
    run: list[Event] = []
    for event in events:
        if event.type == "delta":
            run.append(event)
            continue
        if run:
            yield _merged(run)
            run = []
        yield event
    if run:
        yield _merged(run)


def _merged(run: list[Event]) -> Event:
    if len(run) == 1:
        return run[0]
    last = run[-1]
    return delta(last.turn_id, last.seq, "".join(e.payload["text"] for e in run))


def count_deltas(events: Sequence[Event]) -> int:
    return sum(1 for event in events if event.type == "delta")
