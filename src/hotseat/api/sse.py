"""``GET /api/sessions/{sid}/turns/{tid}/events``: a turn's log as Server-Sent Events.

One SSE message per log event (``id: <seq>``, ``event: delta|queued|done|error``,
``data: <the same JSON as the WebSocket frame>``), merged deltas for a client
that fell behind, keep-alive comments while idle, and the end of the response
after the terminal event. ``Last-Event-ID`` or ``?after=`` resumes from a seq.
The response is ``api.event_stream.EventStream``: its stream, pings and disconnect
listener race, and the turn itself is never cancelled by a reader leaving. Each
response counts as an open connection for the limits (a 429 or 503 before the stream
when over a cap), and a client that stops reading is dropped after
``HOTSEAT_SEND_TIMEOUT_SECONDS`` (by the app's ``send_watchdog``). At shutdown a
response ends after its turn's terminal event (``app.drain``), not at the signal.
What a turn holds, whose it is and where to read it from is the interview layer's
``Seat`` (``interview.seats``); this module only frames it as SSE.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Header, Query, Request

from hotseat import metrics
from hotseat.api.deps import OwnerDep, Services, ServicesDep
from hotseat.api.errors import ws_error_frame
from hotseat.api.event_stream import ClientStoppedReading, EventStream
from hotseat.api.limits import Lease, admit_move, client_ip, limits_of
from hotseat.api.schemas import CreateSession, TurnStarted
from hotseat.api.send_watchdog import send_watchdog_of
from hotseat.api.sessions import session_created, start_session
from hotseat.errors import BadRequest, HotseatError
from hotseat.interview.seats import Seat, StartedTurn
from hotseat.streaming.events import count_deltas, merge_deltas

router = APIRouter(prefix="/api")


def _resume_point(after: int | None, last_event_id: str | None) -> int:
    if after is not None:
        return after
    if last_event_id is None or not last_event_id.strip():
        return 0
    try:
        value = int(last_event_id)
    except ValueError:
        raise BadRequest("Last-Event-ID must be the seq number of the last event received.") from None
    if value < 0:
        raise BadRequest("Last-Event-ID must not be negative.")
    return value


@router.get("/sessions/{session_id}/turns/{turn_id}/events")
async def turn_events(
    session_id: str,
    turn_id: str,
    services: ServicesDep,
    owner: OwnerDep,
    request: Request,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStream:
    start = _resume_point(after, last_event_id)
    # A bad id gets a 404 now, not an event inside a 200 stream.
    seat = await services.seats.turn(owner, session_id, turn_id)
    # Over a cap: 429 rate_limited (this owner) or 503 busy (the server), as JSON, before the stream.
    lease = await limits_of(request).lease(owner, client_ip(request))
    return _event_stream(seat, request, turn_id, start, lease, ping=services.settings.sse_ping_seconds)


async def start_and_stream(
    services: Services, request: Request, owner: str, body: CreateSession
) -> EventStream:
    """``POST /api/sessions`` asking for ``text/event-stream``: the new session, then its opening turn.

    The first event is ``session`` (the JSON a plain POST answers with, and no ``id``); the
    opening turn's events follow as on ``GET .../events``, which resumes the stream if it breaks.
    One request and one round trip less before the first token than a POST and then that GET.
    """

    async def start() -> _Begun:
        created = await start_session(services, request, owner, body)
        announcement = session_created(created).model_dump_json()
        return _Begun(created.session.id, created.turn.turn_id, "session", announcement, 201)

    return await _announce_and_stream(services, request, owner, start)


def wants_event_stream(request: Request) -> bool:
    """The client asked for the answer as Server-Sent Events (``Accept: text/event-stream``)."""
    return "text/event-stream" in request.headers.get("accept", "")


async def move_and_stream(
    services: Services, request: Request, owner: str, move: Callable[[], Awaitable[StartedTurn]]
) -> EventStream:
    """A move (answer, skip, retry, finish) asked for ``text/event-stream``: ``accepted``, then its turn.

    The first event is ``accepted`` (the JSON the plain 202 answers with, and no ``id``); the new
    turn's events follow as on ``GET .../events``, which resumes the stream if it breaks. As for
    ``start_and_stream``: one request and one round trip less before the reply's first token.
    """

    async def make_move() -> _Begun:
        async with admit_move(request, owner):
            started = await move()
        announcement = TurnStarted.of(started).model_dump_json()
        return _Begun(started.session_id, started.turn_id, "accepted", announcement, 202)

    return await _announce_and_stream(services, request, owner, make_move)


class _Begun(NamedTuple):
    """What a start or a move began: the turn to stream, and the event that announces it."""

    session_id: str
    turn_id: str
    event: str  # its name; ``data`` is its JSON
    data: str
    status: int


async def _announce_and_stream(
    services: Services,
    request: Request,
    owner: str,
    begin: Callable[[], Awaitable[_Begun]],
) -> EventStream:
    """``begin()`` (a start or a move), its announcing event, then its turn's events, holding a
    connection slot taken first: refused for a cap, nothing was begun."""
    lease = await limits_of(request).lease(owner, client_ip(request))
    try:
        begun = await begin()
        prelude = f"event: {begun.event}\ndata: {begun.data}\n\n".encode()
        seat = services.seats.of(begun.session_id)
        ping = services.settings.sse_ping_seconds
        return _event_stream(
            seat, request, begun.turn_id, 0, lease, ping=ping, prelude=prelude, status_code=begun.status
        )
    except BaseException:
        await lease.release()  # until the response exists, nothing else gives it back
        raise


def _event_stream(
    seat: Seat,
    request: Request,
    turn_id: str,
    start: int,
    lease: Lease,
    *,
    ping: float,
    prelude: bytes = b"",
    status_code: int = 200,
) -> EventStream:
    """The turn's events after ``start`` as an SSE response that holds ``lease`` until it ends."""

    async def body() -> AsyncGenerator[bytes, None]:
        metrics.SSE_CONNECTIONS.inc()
        with seat.watch():
            try:
                if prelude:
                    yield prelude
                async with contextlib.aclosing(seat.follow(turn_id, start)) as batches:
                    async for batch in batches:
                        for event in merge_deltas(batch) if len(batch) > 1 else batch:
                            yield event.sse
                        metrics.SSE_DELIVERED.inc(count_deltas(batch))
            except HotseatError as exc:  # the database or Redis going away mid-stream too
                yield f"event: error\ndata: {ws_error_frame(exc, turn_id)}\n\n".encode()
            finally:
                metrics.SSE_CONNECTIONS.dec()
                await lease.release()

    return EventStream(
        body(),
        status_code=status_code,
        ping=ping,
        guard=send_watchdog_of(request).guard(ClientStoppedReading),
        on_close=lease.release,  # also when the body never ran (the first send stalled)
    )
