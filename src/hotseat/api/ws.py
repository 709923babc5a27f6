"""``/ws?session=ID``: one WebSocket per candidate, following their whole session.

Tasks of one connection::

    receive loop (this handler) ── frames ──▶ interview service (answer, skip, retry, cancel, finish)
        │                                        │ starts turns
        │ resume                                 ▼
        ├──────────────▶ turn streamer tasks ◀── bus callback (a turn started)
        │                 read the turn's log from a seq, send merged frames
        └── on disconnect: cancel the streamers (never the turns themselves)

Streamers of successive turns run one after another, so frames keep turn
order; a ``resume`` replaces the streamer of that turn. Sends go through one
lock so frames never interleave. Each streamer begins with a ``turn`` frame
(with ``after``, the seq it continues from), and ``delta`` frames carry no turn
id: a delta belongs to the turn of the last ``turn`` frame.

A client that stops reading backpressures only its own streamer: the send
waits for the socket, the turn's shared log keeps growing for every reader,
and the events piled up meanwhile go out merged once the client reads again.
A send still blocked after ``HOTSEAT_SEND_TIMEOUT_SECONDS`` ends the
connection with close 1013 (try again later; see ``send_watchdog``). At
shutdown, ``OpenWebSockets`` lets each connection send its turns' last events,
then closes it with 1012.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketState

from hotseat import metrics
from hotseat.api.cross_site import origin_allowed
from hotseat.api.deps import Services, owned_session, services_of
from hotseat.api.errors import bad_frame, ws_error_frame
from hotseat.api.http import check_answer
from hotseat.api.identity import accept_headers, owner_of
from hotseat.api.limits import admit_move, client_ip, limits_of
from hotseat.api.schemas import (
    AnswerFrame,
    CancelFrame,
    ClientFrame,
    CreateSession,
    ResumeFrame,
    RetryFrame,
    SkipFrame,
    StartFrame,
    client_frame,
)
from hotseat.api.send_watchdog import SendWatchdog, send_watchdog_of
from hotseat.api.sessions import session_created, start_session
from hotseat.api.ws_audio import AudioChannel, Taken
from hotseat.errors import BadRequest, HotseatError, Internal, NotFound
from hotseat.outages import outage_of
from hotseat.streaming.bus import TurnStarted, subscription
from hotseat.streaming.events import count_deltas, merge_deltas

logger = logging.getLogger(__name__)

router = APIRouter()

POLICY_VIOLATION = 1008
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013
# A close frame to a client that stopped reading cannot be sent; give up on it after this long.
_CLOSE_SECONDS = 1.0


class _Ended(Exception):
    """The server has ended this connection (its client stopped reading, or a restart): send nothing more."""


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services = services_of(websocket)
    if not origin_allowed(websocket, services.settings.origin_list()):
        # Refused before the upgrade: the browser gets a 403 and no model call is made.
        await websocket.close(POLICY_VIOLATION, "origin not allowed")
        return
    await websocket.accept(headers=accept_headers(websocket))
    try:
        session, turn_id, after = _follow_params(websocket)
    except BadRequest as exc:
        await _refuse(websocket, exc, "bad query")
        return
    owner = owner_of(websocket)
    try:
        # rate_limited: this owner's cap; busy: the server's. Refused before any database work.
        lease = await limits_of(websocket).lease(owner, client_ip(websocket))
    except HotseatError as exc:
        await _refuse(websocket, exc, "too many connections")
        return
    try:
        try:
            if not session:
                started = await _start_session(websocket, services, owner)
                if started is None:
                    return  # the client left, or sent no start in time, before starting one
                session = started
            # A client usually connects while its session's turn is generating here, which proves
            # the session is theirs without a database read (about 150 us of CPU per connect).
            elif services.runner.running_owner(session) != owner:
                await owned_session(services, owner, session)
        except NotFound as exc:
            await _refuse(websocket, exc, "unknown session")
            return
        except Exception as exc:
            await _close_for_outage(websocket, exc)
            return
        connection = _Connection(websocket, services, session, owner, send_watchdog_of(websocket))
        registry = open_websockets(websocket)
        registry.add(connection)
        metrics.WS_CONNECTIONS.inc()
        try:
            # A reconnecting client names the turn it was following and the last seq it has.
            await connection.run(resume=(turn_id, after) if turn_id else None)
        except Exception as exc:
            await _close_for_outage(websocket, exc)
        finally:
            metrics.WS_CONNECTIONS.dec()
            await connection.close()
            registry.discard(connection)
    finally:
        await lease.release()


async def _refuse(websocket: WebSocket, error: HotseatError, reason: str) -> None:
    """Say why in an error frame, then close with 1008: the client should not retry as it is."""
    await websocket.send_text(ws_error_frame(error))
    await websocket.close(POLICY_VIOLATION, reason)


def _follow_params(websocket: WebSocket) -> tuple[str, str | None, int]:
    """``session``, ``turn_id`` and ``after`` from the query; ``BadRequest`` if ``after`` is not a number.

    Read here rather than declared as the endpoint's parameters: FastAPI closed the socket on
    a bad ``after`` without saying why. (Its per-request validation of them was about 4% of a
    WebSocket turn in a py-spy profile, but T1 showed no difference beyond its noise.)
    """
    query = websocket.query_params
    after = query.get("after", "0")
    try:
        position = int(after)
    except ValueError:
        raise BadRequest(
            f"after must be a whole number (the last seq you have), not {after[:40]!r}."
        ) from None
    return query.get("session", ""), query.get("turn_id") or None, max(position, 0)


async def _start_session(websocket: WebSocket, services: Services, owner: str) -> str | None:
    """Without ``?session=``: start the session the query or a ``start`` frame asks for, and announce it.

    Saves a new candidate the ``POST /api/sessions`` before the socket: one request and one
    round trip less before the first token, and one more with the start in the query, as
    nothing has to wait for the socket to open. A start that fails gets its error frame and the
    socket waits for a ``start`` frame. Returns the session's id, or None if the client left.

    The socket holds a connection slot from its accept, so a session must be started within
    ``HOTSEAT_WS_START_TIMEOUT_SECONDS`` of it: otherwise an error frame says so, the socket is
    closed with 1008, and None is returned.
    """
    fields = CreateSession.model_fields
    asked = {name: value for name, value in websocket.query_params.items() if name in fields}
    in_query: dict[str, str] | None = {"type": "start", **asked} if asked else None
    timeout = services.settings.ws_start_timeout_seconds
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            frame: ClientFrame | Taken | None
            if in_query is not None:
                frame, in_query = _validate_frame(in_query), None
            else:
                # Only the wait is bounded: a start that has begun (stored its session) finishes.
                try:
                    async with asyncio.timeout_at(deadline):
                        frame = await _receive_frame(websocket)
                except TimeoutError:
                    late = BadRequest(
                        f"No session was started within {timeout:g} s of connecting; send "
                        '{"type": "start", "pack": "..."} as soon as the socket opens.'
                    )
                    await _refuse(websocket, late, "no start frame in time")
                    return None
                if frame is None:
                    return None
            if not isinstance(frame, StartFrame):
                raise BadRequest(
                    'No session yet: send {"type": "start", "pack": "..."} first, or connect with '
                    "?session=ID."
                )
            created = await start_session(services, websocket, owner, frame)
        except HotseatError as exc:
            if outage_of(exc) is not None:
                raise  # closed with 1013 by the caller
            await websocket.send_text(ws_error_frame(exc))
            continue
        announcement = {"type": "session", **session_created(created).model_dump()}
        await websocket.send_text(orjson.dumps(announcement).decode())
        return created.session.id


async def _receive_frame(
    websocket: WebSocket, audio: AudioChannel | None = None
) -> ClientFrame | Taken | None:
    """The client's next frame, or None once it has gone; ``BadRequest`` if it is binary, not
    JSON or invalid (the socket stays usable)."""
    try:
        message = await websocket.receive()
    except WebSocketDisconnect:
        return None
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        if audio is not None:  # binary frames carry recordings (api.ws_audio)
            return await audio.binary(message.get("bytes") or b"")
        raise BadRequest("Binary frames are not supported; send JSON text frames.")
    try:
        data = orjson.loads(text)
    except ValueError as exc:
        raise bad_frame(exc) from None
    if audio is not None and audio.handles(data):
        return await audio.frame(data)
    return _validate_frame(data)


def _validate_frame(data: object) -> ClientFrame:
    try:
        frame: ClientFrame = client_frame.validate_python(data)
    except ValidationError as exc:
        raise bad_frame(exc) from None
    return frame


async def _close_for_outage(websocket: WebSocket, exc: Exception) -> None:
    """The database or Redis is down: say so, and close with 1013 (try again later). Re-raises the rest."""
    if not isinstance(exc, HotseatError) or outage_of(exc) is None:
        raise exc
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_text(ws_error_frame(exc))
        await websocket.close(TRY_AGAIN_LATER, "database or Redis unavailable")


class OpenWebSockets:
    """The app's open WebSocket connections, so that a shutdown can end them in order."""

    def __init__(self) -> None:
        self._open: set[_Connection] = set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: _Connection) -> None:
        self._open.add(connection)

    def discard(self, connection: _Connection) -> None:
        self._open.discard(connection)

    async def restart_all(self, flush_seconds: float) -> None:
        """Let every connection send what its turns have logged, then close it with 1012.

        Called after the runner has ended every turn, so each streamer is about
        to send its terminal event; ``flush_seconds`` bounds a client that does
        not read (it gets the end on reconnect, from the database).
        """
        connections = list(self._open)
        await asyncio.gather(*(c.restart(flush_seconds) for c in connections))


def open_websockets(connection: HTTPConnection) -> OpenWebSockets:
    registry: OpenWebSockets = connection.app.state.websockets
    return registry


class _Connection:
    def __init__(
        self, websocket: WebSocket, services: Services, session_id: str, owner: str, watchdog: SendWatchdog
    ) -> None:
        self.websocket = websocket
        self.services = services
        self.session_id = session_id
        self.owner = owner
        self._guard = watchdog.guard(self._stalled)
        self._send_lock = asyncio.Lock()
        self._streamers: dict[str, asyncio.Task[None]] = {}
        self._last_streamer: asyncio.Task[None] | None = None
        # The highest seq sent of each turn still streaming here (the client has it all, in order).
        self._sent: dict[str, int] = {}
        # Resolved when the server ends the connection (stalled client, restart) with this close code.
        self._ended: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        # Resolved once close() has run (a future: an Event allocates a waiter deque per connection).
        self._finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.audio = AudioChannel(websocket, services, session_id, owner, self._send)

    async def run(self, resume: tuple[str, int] | None) -> None:
        runner = self.services.runner
        with (
            subscription(runner.bus, self.session_id, self._on_turn_started),
            runner.watching(self.session_id),
        ):
            receiver: asyncio.Task[None] | None = None
            try:
                await self._resume_on_connect(resume)
                # The receive loop runs until the client goes, or until the server ends
                # the connection: a client that stopped reading may never send again.
                receiver = asyncio.create_task(self._receive_loop())
                either: list[asyncio.Future[Any]] = [receiver, self._ended]
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if receiver.done():
                    receiver.result()  # an unexpected failure surfaces as before
            finally:
                if receiver is not None:
                    receiver.cancel()

    async def close(self) -> None:
        await self.audio.close()
        self._guard.close()
        for task in list(self._streamers.values()):
            task.cancel()
        for task in list(self._streamers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ended.done():
            code, reason = self._ended.result()
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
                async with asyncio.timeout(_CLOSE_SECONDS):
                    await self.websocket.close(code, reason)
        if not self._finished.done():
            self._finished.set_result(None)

    async def restart(self, flush_seconds: float) -> None:
        """Send what is logged (bounded), then end the connection with 1012 and wait until it is closed."""
        streamers = list(self._streamers.values())
        if streamers:
            await asyncio.wait(streamers, timeout=flush_seconds)
        self._end(SERVICE_RESTART, "server restarting")
        await asyncio.shield(self._finished)

    def _end(self, code: int, reason: str) -> None:
        if not self._ended.done():
            self._ended.set_result((code, reason))

    # -- incoming frames ------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                frame = await _receive_frame(self.websocket, self.audio)
            except BadRequest as exc:
                await self._send_error(exc)
                continue
            if frame is None:
                return
            if isinstance(frame, Taken):
                continue
            # Shielded: a move that has begun (stored its turns) also starts its turn, even if
            # this connection is being ended meanwhile.
            await asyncio.shield(self._move(frame))

    async def _move(self, frame: ClientFrame) -> None:
        try:
            await self._handle(frame)
        except HotseatError as exc:  # the database or Redis going away too
            await self._send_error(exc)

    async def _handle(self, frame: ClientFrame) -> None:
        interview = self.services.interview
        if isinstance(frame, StartFrame):
            raise BadRequest(
                f"This connection follows session {self.session_id!r}; open a WebSocket without "
                "?session= to start another."
            )
        if isinstance(frame, CancelFrame):
            await interview.cancel(self.session_id, frame.turn_id)
        elif isinstance(frame, ResumeFrame):
            turn = await self.services.records.turn(self.session_id, frame.turn_id)
            if turn is None:
                raise NotFound(f"No turn {frame.turn_id!r} in this session.")
            self._stream(frame.turn_id, frame.after, turn.kind)
        else:
            if isinstance(frame, AnswerFrame):
                check_answer(frame.text, self.services.settings.max_answer_chars)
            # Every other move starts a model turn: rate-limited like its HTTP twin.
            async with admit_move(self.websocket, self.owner):
                if isinstance(frame, AnswerFrame):
                    await interview.answer(self.session_id, frame.text)
                elif isinstance(frame, SkipFrame):
                    await interview.skip(self.session_id)
                elif isinstance(frame, RetryFrame):
                    await interview.retry(self.session_id)
                else:
                    await interview.finish(self.session_id)

    # -- outgoing turns -------------------------------------------------------------

    async def _resume_on_connect(self, resume: tuple[str, int] | None) -> None:
        """On connect: the rest of the turn the client names, if it has ended meanwhile (so a
        reconnect never misses an end); then a turn still generating, from its start (or from
        the client's seq, if it is the one named)."""
        runner = self.services.runner
        # Generating here: the runner knows its kind, so the database is not asked.
        turn_id = runner.running_turn(self.session_id)
        kind = runner.running_kind(turn_id) if turn_id is not None else None
        if turn_id is None or kind is None:
            turn = await self.services.records.streaming_turn(self.session_id)  # on another replica
            turn_id, kind = (turn.id, turn.kind) if turn is not None else (None, None)
        if resume is not None and resume[0] != turn_id:
            named = await self.services.records.turn(self.session_id, resume[0])
            if named is None:
                await self._send_error(NotFound(f"No turn {resume[0]!r} in this session."))
            else:
                self._stream(named.id, resume[1], named.kind)
        if turn_id is not None and kind is not None and turn_id not in self._streamers:
            after = resume[1] if resume is not None and resume[0] == turn_id else 0
            self._stream(turn_id, after, kind)

    def _on_turn_started(self, started: TurnStarted) -> None:
        """The bus's callback: a turn started on this session, here or on another replica."""
        if started.turn_id not in self._streamers:
            self._stream(started.turn_id, 0, started.kind)

    def _stream(self, turn_id: str, after: int, kind: str) -> None:
        previous = self._streamers.pop(turn_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._send_turn(turn_id, after, kind, self._last_streamer))
        self._streamers[turn_id] = task
        self._last_streamer = task
        task.add_done_callback(lambda done: self._forget(turn_id, done))

    def _forget(self, turn_id: str, task: asyncio.Task[None]) -> None:
        if self._streamers.get(turn_id) is task:
            del self._streamers[turn_id]
            self._sent.pop(turn_id, None)

    async def _send_turn(
        self, turn_id: str, after: int, kind: str, before: asyncio.Task[None] | None
    ) -> None:
        if before is not None and not before.done():
            # Finish sending the previous turn first, so frames stay in turn order.
            await asyncio.wait([before])
        # A resume that overlaps a stream in progress must not send that part again, not even
        # inside a merged delta with a higher seq, which the client could not drop.
        after = max(after, self._sent.get(turn_id, 0))
        try:
            # The deltas that follow belong to this turn (they do not repeat its id).
            await self._send(
                orjson.dumps({"type": "turn", "turn_id": turn_id, "kind": kind, "after": after}).decode()
            )
            async for batch in self.services.interview.turn_events(self.session_id, turn_id, after):
                for event in merge_deltas(batch) if len(batch) > 1 else batch:
                    await self._send(event.json)
                    self._sent[turn_id] = event.seq
                metrics.WS_DELIVERED.inc(count_deltas(batch))
        except HotseatError as exc:
            await self._send_error(exc, turn_id)
        except (WebSocketDisconnect, RuntimeError, _Ended):
            return
        except Exception:
            logger.exception("streaming turn %s to a WebSocket failed", turn_id)
            await self._send_error(Internal("Streaming this reply failed; resume it."), turn_id)

    async def _send(self, text: str | bytes) -> None:
        async with self._send_lock:
            if self._ended.done():
                raise _Ended
            if self.websocket.application_state is WebSocketState.CONNECTED:
                # The send waits while the socket's buffer is full (the client is not reading).
                with self._guard:
                    if isinstance(text, bytes):  # speech audio (api.ws_audio)
                        await self.websocket.send_bytes(text)
                    else:
                        await self.websocket.send_text(text)

    def _stalled(self) -> Exception:
        """The watchdog cancelled a send past the send timeout: end the connection with 1013."""
        logger.info("closing a WebSocket that stopped reading (session %s)", self.session_id)
        self._end(TRY_AGAIN_LATER, "send timeout: the client stopped reading")
        return _Ended()

    async def _send_error(self, error: HotseatError, turn_id: str | None = None) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, _Ended):
            await self._send(ws_error_frame(error, turn_id))
