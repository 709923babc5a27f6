"""``/ws?session=ID``: one WebSocket per candidate, following their whole session.

This module takes the connection in: the origin check, the query, the connection slot,
the owner's seat in the session (or a session started on the socket, with a ``start``
frame or from the query), and the close codes. ``api.ws_connection.Connection`` then
follows the session, in one task group with one sender; the interview layer's ``Seat``
(``interview.seats``) owns what a turn holds and whose it is.

A client that stops reading backpressures only its own connection: the turn's shared log
keeps growing for every reader, and the events piled up meanwhile go out merged once the
client reads again. A send still blocked after ``HOTSEAT_SEND_TIMEOUT_SECONDS`` ends the
connection with close 1013 (try again later; see ``send_watchdog``). At shutdown,
``OpenWebSockets`` lets each connection send its turns' last events, then closes it with
1012.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.requests import HTTPConnection

from hotseat import metrics
from hotseat.api.cross_site import origin_allowed
from hotseat.api.deps import Services, services_of
from hotseat.api.errors import ws_error_frame
from hotseat.api.identity import accept_headers, owner_of
from hotseat.api.limits import client_ip, limits_of
from hotseat.api.schemas import ClientFrame, CreateSession, StartFrame
from hotseat.api.send_watchdog import send_watchdog_of
from hotseat.api.sessions import session_created, start_session
from hotseat.api.ws_connection import TRY_AGAIN_LATER, Connection
from hotseat.api.ws_frames import BadFrame, receive_frame, validate_frame
from hotseat.errors import BadRequest, HotseatError, NotFound
from hotseat.interview.seats import Seat
from hotseat.outages import outage_of

logger = logging.getLogger(__name__)

router = APIRouter()

POLICY_VIOLATION = 1008


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    services = services_of(websocket)
    if not origin_allowed(websocket, services.settings.origin_list()):
        # Refused before the upgrade: the browser gets a 403 and no model call is made.
        await websocket.close(POLICY_VIOLATION, "origin not allowed")
        return
    await websocket.accept(headers=accept_headers(websocket))
    try:
        session_id, turn_id, after = _follow_params(websocket)
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
            if session_id:
                seat = await services.seats.seat(owner, session_id)
            else:
                started = await _start_session(websocket, services, owner)
                if started is None:
                    return  # the client left, or sent no start in time, before starting one
                seat = started
        except NotFound as exc:
            await _refuse(websocket, exc, "unknown session")
            return
        except Exception as exc:
            await _close_for_outage(websocket, exc)
            return
        settings = services.settings
        connection = Connection(
            websocket, services, seat, owner, settings.max_answer_chars, send_watchdog_of(websocket)
        )
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


async def _start_session(websocket: WebSocket, services: Services, owner: str) -> Seat | None:
    """Without ``?session=``: start the session the query or a ``start`` frame asks for, and announce it.

    Saves a new candidate the ``POST /api/sessions`` before the socket: one request and one
    round trip less before the first token, and one more with the start in the query, as
    nothing has to wait for the socket to open. A start that fails gets its error frame and the
    socket waits for a ``start`` frame. Returns the owner's seat in it, or None if the client left.

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
            frame: ClientFrame | None
            if in_query is not None:
                query, in_query = in_query, None
                frame = validate_frame(query)
            else:
                # Only the wait is bounded: a start that has begun (stored its session) finishes.
                try:
                    async with asyncio.timeout_at(deadline):
                        frame = await receive_frame(websocket)
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
        except BadFrame as exc:
            await websocket.send_text(ws_error_frame(exc.error, ref=exc.ref))
            continue
        except HotseatError as exc:
            if outage_of(exc) is not None:
                raise  # closed with 1013 by the caller
            await websocket.send_text(ws_error_frame(exc))
            continue
        announcement = {"type": "session", **session_created(created).model_dump()}
        await websocket.send_text(orjson.dumps(announcement).decode())
        return services.seats.of(created.session.id)


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
        self._open: set[Connection] = set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: Connection) -> None:
        self._open.add(connection)

    def discard(self, connection: Connection) -> None:
        self._open.discard(connection)

    async def restart_all(self, flush_seconds: float) -> None:
        """Let every connection send what its turns have logged, then close it with 1012.

        Called after the runner has ended every turn, so each connection is about
        to send its turns' terminal events; ``flush_seconds`` bounds a client that does
        not read (it gets the end on reconnect, from the database).
        """
        connections = list(self._open)
        await asyncio.gather(*(c.restart(flush_seconds) for c in connections))


def open_websockets(connection: HTTPConnection) -> OpenWebSockets:
    registry: OpenWebSockets = connection.app.state.websockets
    return registry
