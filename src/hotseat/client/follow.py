"""One session's WebSocket, followed through dropped connections with no gap and no repeat.

``Follower`` keeps a connection to ``/ws?session=…`` open for as long as the interview runs and
turns its frames into events (``TurnStarted``, ``Text``, ``Queued``, ``TurnEnded``, ``Rejected``).
It keeps the highest seq of every turn and drops any frame that is not higher (docs/protocol.md,
rule 5). When the connection drops, it says so (``Reconnecting``), reconnects with backoff, and
asks for the unfinished turn it was following from its last seq (``turn_id`` and ``after``), so
the text goes on exactly where it stopped. Moves go over HTTP (``Api.move``), which answers each
one; only cancel is sent on the socket, where it stops the reply within a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from hotseat.client.api import Api, unreachable
from hotseat.errors import HotseatError, NotFound, Unauthorized, Unavailable, error_for_code

# Waits between reconnection attempts, then the last one again; the first attempt is at once.
BACKOFF = (0.0, 0.5, 1.0, 2.0, 4.0)
MAX_BACKOFF = 8.0
POLICY_VIOLATION = 1008


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """A turn's stream begins; ``restart`` when the server sends again a turn already shown."""

    turn_id: str
    kind: str
    restart: bool = False


@dataclass(frozen=True, slots=True)
class Text:
    turn_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Queued:
    turn_id: str
    position: int


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The terminal event: ``done`` (``finish_reason``) or ``error`` (``error``)."""

    turn_id: str
    finish_reason: str | None
    error: HotseatError | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An error frame that is not a turn's terminal event: a rejected move or a failed send."""

    error: HotseatError


@dataclass(frozen=True, slots=True)
class Reconnecting:
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    pass


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Ctrl-C, put in the same queue by the terminal so that one wait sees either."""


Event = TurnStarted | Text | Queued | TurnEnded | Rejected | Reconnecting | Reconnected | Interrupt


def frame_error(frame: dict[str, Any]) -> HotseatError:
    error = error_for_code(str(frame.get("code", "internal")), str(frame.get("message", "")))
    error.retry_after = frame.get("retry_after")
    return error


class Follower:
    """``async with Follower(api, session_id, turn_id) as follower: await follower.next_event()``."""

    def __init__(
        self, api: Api, session_id: str, turn_id: str | None = None, *, give_up_after: float = 120.0
    ) -> None:
        self.api = api
        self.session_id = session_id
        self.give_up_after = give_up_after
        self._queue: asyncio.Queue[Event | HotseatError] = asyncio.Queue()
        self._seen: dict[str, int] = {}  # turn id -> highest seq received
        self._ended: set[str] = set()
        self._current: str | None = None  # the turn of the last ``turn`` frame
        self._wanted: str | None = turn_id  # the newest turn the terminal waits for
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Follower:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in [self._task, *self._background]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self._background] if t), return_exceptions=True)

    def follow(self, turn_id: str) -> None:
        """The terminal waits for this turn now: a reconnection asks for it from its last seq."""
        self._wanted = turn_id

    def inject(self, event: Event) -> None:
        self._queue.put_nowait(event)

    async def next_event(self) -> Event:
        """The next event; raises the error that ended the connection for good."""
        item = await self._queue.get()
        if isinstance(item, HotseatError):
            raise item
        return item

    async def cancel(self, turn_id: str) -> None:
        """Stop the turn: a ``cancel`` frame, or over HTTP while the socket is down."""
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(json.dumps({"type": "cancel", "turn_id": turn_id}))
                return
        # The HTTP cancel answers only once the turn has ended: do not hold the terminal up.
        task = asyncio.create_task(self._cancel_over_http(turn_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cancel_over_http(self, turn_id: str) -> None:
        with contextlib.suppress(HotseatError):
            await self.api.cancel(self.session_id, turn_id)

    def _resume_point(self) -> tuple[str | None, int]:
        for turn_id in (self._current, self._wanted):
            if turn_id is not None and turn_id not in self._ended:
                return turn_id, self._seen.get(turn_id, 0)
        return None, 0

    async def _run(self) -> None:
        try:
            await self._connect_forever()
        except HotseatError as error:
            self._queue.put_nowait(error)

    async def _connect_forever(self) -> None:
        attempt = 0
        failing_since: float | None = None
        while True:
            turn_id, after = self._resume_point()
            url = self.api.ws_url(self.session_id, turn_id, after)
            retry_after: float | None = None
            try:
                async with connect(
                    url, additional_headers=self.api.credentials.headers(), open_timeout=10, max_size=None
                ) as ws:
                    self._ws = ws
                    if attempt:
                        self._queue.put_nowait(Reconnected())
                    attempt, failing_since = 0, None
                    async for raw in ws:
                        retry_after = await self._on_frame(ws, json.loads(raw)) or retry_after
                reason = "the server closed the connection"
            except ConnectionClosed as closed:
                reason = self._closed_reason(closed, retry_after)
            except InvalidStatus as refused:
                raise self._refusal(refused.response.status_code) from None
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                reason = str(unreachable(self.api.base_url, exc).message)
            finally:
                self._ws = None
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since > self.give_up_after:
                raise Unavailable(
                    f"Lost the connection to {self.api.base_url} and could not reconnect "
                    f"for {self.give_up_after:.0f} s."
                )
            delay = BACKOFF[attempt] if attempt < len(BACKOFF) else MAX_BACKOFF
            delay = max(delay, retry_after or 0.0)
            attempt += 1
            self._queue.put_nowait(Reconnecting(attempt, delay, reason))
            await asyncio.sleep(delay)

    def _closed_reason(self, closed: ConnectionClosed, retry_after: float | None) -> str:
        received = closed.rcvd
        if received is not None and received.code == POLICY_VIOLATION and retry_after is None:
            # An unknown session (after its not_found frame) or a bad query: reconnecting cannot help.
            raise NotFound(f"No interview session {self.session_id!r}; it may have been deleted.")
        if received is None:
            return "the connection dropped"
        return f"the server closed the connection ({received.code} {received.reason})".replace(" )", ")")

    def _refusal(self, status: int) -> HotseatError:
        if status in (401, 403):
            return Unauthorized(
                f"The server at {self.api.base_url} refused the WebSocket (HTTP {status}): "
                "check the API key, or the server's HOTSEAT_ALLOWED_ORIGINS."
            )
        return Unavailable(f"The server at {self.api.base_url} refused the WebSocket (HTTP {status}).")

    async def _on_frame(self, ws: ClientConnection, frame: dict[str, Any]) -> float | None:
        """Queue what the frame means; returns a ``retry_after`` the server asked for, if any."""
        kind = frame.get("type")
        if kind == "turn":
            self._on_turn(frame)
        elif kind == "delta":
            turn_id = self._current
            if turn_id is not None and self._newer(turn_id, frame):
                self._queue.put_nowait(Text(turn_id, str(frame.get("text", ""))))
        elif kind == "queued":
            turn_id = str(frame.get("turn_id"))
            if self._newer(turn_id, frame):
                self._queue.put_nowait(Queued(turn_id, int(frame.get("position", 0))))
        elif kind == "done":
            self._on_end(frame, None)
        elif kind == "error" and "seq" in frame:
            self._on_end(frame, frame_error(frame))
        elif kind == "error" and "turn_id" in frame and frame.get("code") == "internal":
            # Sending that turn failed on this connection, not the turn itself: ask for the rest.
            turn_id = str(frame["turn_id"])
            after = self._seen.get(turn_id, 0)
            await ws.send(json.dumps({"type": "resume", "turn_id": turn_id, "after": after}))
        elif kind == "error":
            error = frame_error(frame)
            if error.code in ("rate_limited", "busy", "unavailable"):
                return error.retry_after or 2.0
            self._queue.put_nowait(Rejected(error))
        return None

    def _on_turn(self, frame: dict[str, Any]) -> None:
        turn_id = str(frame["turn_id"])
        after = int(frame.get("after", 0))
        self._current = turn_id
        if turn_id in self._ended:
            return  # a resume of a turn already over: its terminal event was shown
        if after == 0 and self._seen.get(turn_id, 0) > 0:
            # From the start again: what was shown must be replaced, not added to.
            self._seen[turn_id] = 0
            self._queue.put_nowait(TurnStarted(turn_id, str(frame.get("kind", "")), restart=True))
        elif turn_id not in self._seen:
            self._seen[turn_id] = 0
            self._queue.put_nowait(TurnStarted(turn_id, str(frame.get("kind", ""))))

    def _newer(self, turn_id: str, frame: dict[str, Any]) -> bool:
        seq = int(frame.get("seq", 0))
        if turn_id in self._ended or seq <= self._seen.get(turn_id, 0):
            return False
        self._seen[turn_id] = seq
        return True

    def _on_end(self, frame: dict[str, Any], error: HotseatError | None) -> None:
        turn_id = str(frame.get("turn_id"))
        if not self._newer(turn_id, frame):
            return
        self._ended.add(turn_id)
        reason = None if error is not None else str(frame.get("finish_reason", "stop"))
        self._queue.put_nowait(TurnEnded(turn_id, reason, error))
