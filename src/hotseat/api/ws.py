"""``/ws?session=ID``: one WebSocket per candidate, following their whole session.

Tasks of one connection::

    receive loop (this handler) ── frames ──▶ interview service (answer, skip, retry, cancel, finish)
        │                                        │ starts turns
        │ resume                                 ▼
        ├──────────────▶ turn streamer tasks ◀── bus announcements (turn started)
        │                 read the turn's log from a seq, send merged frames
        └── on disconnect: cancel the streamers (never the turns themselves)

Streamers of successive turns run one after another, so frames keep turn
order; a ``resume`` replaces the streamer of that turn. Sends go through one
lock so frames never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from hotseat import metrics
from hotseat.api.deps import Services, owned_session, services_of
from hotseat.api.errors import bad_frame, ws_error_frame
from hotseat.api.http import check_answer
from hotseat.api.identity import owner_of
from hotseat.api.schemas import (
    AnswerFrame,
    CancelFrame,
    FinishFrame,
    ResumeFrame,
    RetryFrame,
    SkipFrame,
    client_frame,
)
from hotseat.errors import BadRequest, HotseatError, Internal, NotFound
from hotseat.streaming.bus import TurnStarted, subscription
from hotseat.streaming.events import count_deltas, merge_deltas

logger = logging.getLogger(__name__)

router = APIRouter()

POLICY_VIOLATION = 1008


@router.websocket("/ws")
async def websocket_endpoint(
    websocket: WebSocket, session: str = "", turn_id: str | None = None, after: int = 0
) -> None:
    services = services_of(websocket)
    if not origin_allowed(websocket, services.settings.origin_list()):
        # Refused before the upgrade: the browser gets a 403 and no model call is made.
        await websocket.close(POLICY_VIOLATION, "origin not allowed")
        return
    await websocket.accept()
    try:
        await owned_session(services, owner_of(websocket), session)
    except NotFound as exc:
        await websocket.send_text(ws_error_frame(exc))
        await websocket.close(POLICY_VIOLATION, "unknown session")
        return
    connection = _Connection(websocket, services, session)
    metrics.WS_CONNECTIONS.inc()
    try:
        # A reconnecting client names the turn it was following and the last seq it has.
        await connection.run(resume=(turn_id, max(after, 0)) if turn_id else None)
    finally:
        metrics.WS_CONNECTIONS.dec()
        await connection.close()


def origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    """Browsers always send Origin; only the allowlist (default: this server's own origin) passes.

    A client that sends no Origin is not a browser, so cross-site WebSocket
    hijacking does not apply to it; it still needs its owner's cookie or key.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return origin in allowed
    host = websocket.headers.get("host", "")
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return origin == f"{scheme}://{host}"


class _Connection:
    def __init__(self, websocket: WebSocket, services: Services, session_id: str) -> None:
        self.websocket = websocket
        self.services = services
        self.session_id = session_id
        self._send_lock = asyncio.Lock()
        self._streamers: dict[str, asyncio.Task[None]] = {}
        self._last_streamer: asyncio.Task[None] | None = None

    async def run(self, resume: tuple[str, int] | None) -> None:
        runner = self.services.runner
        async with subscription(runner.bus, self.session_id) as announcements:
            with runner.watching(self.session_id):
                listener = asyncio.create_task(self._follow_announcements(announcements))
                try:
                    await self._resume_turn_in_progress(resume)
                    await self._receive_loop()
                finally:
                    listener.cancel()

    async def close(self) -> None:
        for task in list(self._streamers.values()):
            task.cancel()
        for task in list(self._streamers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- incoming frames ------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.websocket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self._send_error(BadRequest("Binary frames are not supported; send JSON text frames."))
                continue
            try:
                frame = client_frame.validate_python(orjson.loads(text))
            except (ValidationError, ValueError) as exc:
                await self._send_error(bad_frame(exc))
                continue
            try:
                await self._handle(frame)
            except HotseatError as exc:
                await self._send_error(exc)

    async def _handle(
        self, frame: AnswerFrame | CancelFrame | ResumeFrame | FinishFrame | SkipFrame | RetryFrame
    ) -> None:
        interview = self.services.interview
        if isinstance(frame, AnswerFrame):
            check_answer(frame.text, self.services.settings.max_answer_chars)
            await interview.answer(self.session_id, frame.text)
        elif isinstance(frame, CancelFrame):
            await interview.cancel(self.session_id, frame.turn_id)
        elif isinstance(frame, ResumeFrame):
            if await self.services.store.get_turn(self.session_id, frame.turn_id) is None:
                raise NotFound(f"No turn {frame.turn_id!r} in this session.")
            self._stream(frame.turn_id, frame.after, announce=None)
        elif isinstance(frame, SkipFrame):
            await interview.skip(self.session_id)
        elif isinstance(frame, RetryFrame):
            await interview.retry(self.session_id)
        else:
            await interview.finish(self.session_id)

    # -- outgoing turns -------------------------------------------------------------

    async def _resume_turn_in_progress(self, resume: tuple[str, int] | None) -> None:
        """On connect, a turn still generating streams from its start (or the client's seq)."""
        turn_id = self.services.runner.running_turn(self.session_id)
        if turn_id is None:
            turns = await self.services.store.list_turns(self.session_id)
            streaming = [t for t in turns if t.status == "streaming"]
            if not streaming:
                return
            turn_id = streaming[-1].id
        turn = await self.services.store.get_turn(self.session_id, turn_id)
        if turn is not None and turn_id not in self._streamers:
            after = resume[1] if resume is not None and resume[0] == turn_id else 0
            self._stream(turn_id, after, announce=turn.kind)

    async def _follow_announcements(self, announcements: asyncio.Queue[TurnStarted]) -> None:
        while True:
            started = await announcements.get()
            if started.turn_id not in self._streamers:
                self._stream(started.turn_id, 0, announce=started.kind)

    def _stream(self, turn_id: str, after: int, announce: str | None) -> None:
        previous = self._streamers.pop(turn_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._send_turn(turn_id, after, announce, self._last_streamer))
        self._streamers[turn_id] = task
        self._last_streamer = task
        task.add_done_callback(lambda done: self._forget(turn_id, done))

    def _forget(self, turn_id: str, task: asyncio.Task[None]) -> None:
        if self._streamers.get(turn_id) is task:
            del self._streamers[turn_id]

    async def _send_turn(
        self, turn_id: str, after: int, announce: str | None, before: asyncio.Task[None] | None
    ) -> None:
        if before is not None and not before.done():
            # Finish sending the previous turn first, so frames stay in turn order.
            await asyncio.wait([before])
        try:
            if announce is not None:
                await self._send(
                    orjson.dumps({"type": "turn", "turn_id": turn_id, "kind": announce}).decode()
                )
            async for batch in self.services.interview.turn_events(self.session_id, turn_id, after):
                for event in merge_deltas(batch) if len(batch) > 1 else batch:
                    await self._send(event.json)
                metrics.WS_DELIVERED.inc(count_deltas(batch))
        except HotseatError as exc:
            await self._send_error(exc, turn_id)
        except (WebSocketDisconnect, RuntimeError):
            return
        except Exception:
            logger.exception("streaming turn %s to a WebSocket failed", turn_id)
            await self._send_error(Internal("Streaming this reply failed; resume it."), turn_id)

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                await self.websocket.send_text(text)

    async def _send_error(self, error: HotseatError, turn_id: str | None = None) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self._send(ws_error_frame(error, turn_id))
