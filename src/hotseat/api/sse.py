"""``GET /api/sessions/{sid}/turns/{tid}/events``: a turn's log as Server-Sent Events.

One SSE message per log event (``id: <seq>``, ``event: delta|queued|done|error``,
``data: <the same JSON as the WebSocket frame>``), merged deltas for a client
that fell behind, keep-alive comments while idle, and the end of the response
after the terminal event. ``Last-Event-ID`` or ``?after=`` resumes from a seq.
sse-starlette's stream, pings and disconnect listener race (run as three
asyncio tasks here, see ``_LeasedEventSource._run``); the turn itself is never
cancelled by a reader leaving. Each response counts as an open
connection for the limits (a 429 or 503 before the stream when over a cap),
and a client that stops reading is dropped after ``HOTSEAT_SEND_TIMEOUT_SECONDS``
(by the app's ``send_watchdog``, not sse-starlette's scope per send).
At shutdown a response ends after its turn's terminal event: sse-starlette's
own drain, which would cut it at the signal, is turned off in ``create_app``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message, Receive, Scope, Send

from hotseat import metrics
from hotseat.api.deps import OwnerDep, Services, ServicesDep
from hotseat.api.errors import ws_error_frame
from hotseat.api.limits import Lease, client_ip, limits_of
from hotseat.api.schemas import CreateSession
from hotseat.api.send_watchdog import SendGuard, send_watchdog_of
from hotseat.api.sessions import session_created, start_session
from hotseat.errors import BadRequest, HotseatError, NotFound, session_not_found
from hotseat.outages import unavailable_error
from hotseat.streaming.events import count_deltas, merge_deltas

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api")


class _LeasedEventSource(EventSourceResponse):
    """An SSE response that holds a connection slot until it is over, however it ends."""

    lease: Lease | None = None
    guard: SendGuard | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["type"] == "http" and scope["method"] != "HEAD":
                await self._run(receive, send)
            else:
                await super().__call__(scope, receive, send)  # HEAD: headers only, no stream
        except SendTimeoutError:
            # An expected end, not a server error: the client stopped reading.
            logger.info("dropped an SSE client that stopped reading")
        finally:
            if self.guard is not None:
                self.guard.close()
            if self.lease is not None:
                await self.lease.release()

    async def _run(self, receive: Receive, send: Send) -> None:
        """sse-starlette's own stream, pings and disconnect listener, as three asyncio tasks.

        sse-starlette runs them in an anyio task group with a fourth task that waits for its
        shutdown signal, which hotseat turns off (``create_app``: a response ends after its
        turn's terminal event, from ``app.drain``). That group cost about 16 KB per open
        response (S4, docs/performance.md). As there, the first task to end ends the response.
        """
        parts = [self._stream_response(send), self._listen_for_disconnect(receive)]
        if self._ping_interval > 0:
            parts.append(self._ping(send))
        tasks = [asyncio.create_task(part) for part in parts]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise cast(BaseException, task.exception())
        if self.background is not None:
            await self.background()

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        """sse-starlette's hook for every send (events and pings), bounded by the app's watchdog.

        sse-starlette opens an anyio cancel scope per send for its ``send_timeout``: 5 us, some
        10% of the CPU per token. A blocked send ends as sse-starlette's own timeout does.
        """
        if self.guard is None:
            await super()._send_with_timeout(send, message)
            return
        with self.guard:
            await send(message)


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
) -> EventSourceResponse:
    start = _resume_point(after, last_event_id)
    runner = services.runner
    # The turn generating here, for this owner's session, needs no database read (see the
    # WebSocket's connect); otherwise a bad id gets a 404 now, not an event inside a 200 stream.
    if runner.running_turn(session_id) != turn_id or runner.running_owner(session_id) != owner:
        found = await services.store.get_session_and_turn(session_id, turn_id)  # one query for both
        if found is None or found[0].owner_id != owner:
            raise session_not_found(session_id)
        if found[1] is None:
            raise NotFound(f"No turn {turn_id!r} in session {session_id!r}.")
    # Over a cap: 429 rate_limited (this owner) or 503 busy (the server), as JSON, before the stream.
    lease = await limits_of(request).lease(owner, client_ip(request))
    return _event_stream(services, request, session_id, turn_id, start, lease)


async def start_and_stream(
    services: Services, request: Request, owner: str, body: CreateSession
) -> EventSourceResponse:
    """``POST /api/sessions`` asking for ``text/event-stream``: the new session, then its opening turn.

    The first event is ``session`` (the JSON a plain POST answers with, and no ``id``); the
    opening turn's events follow as on ``GET .../events``, which resumes the stream if it breaks.
    One request and one round trip less before the first token than a POST and then that GET.
    """
    # The connection slot first: a stream refused for a cap must not have started a session.
    lease = await limits_of(request).lease(owner, client_ip(request))
    try:
        created = await start_session(services, request, owner, body)
    except BaseException:
        await lease.release()
        raise
    announcement = session_created(created).model_dump_json()
    prelude = f"event: session\ndata: {announcement}\n\n".encode()
    session_id, turn_id = created.session.id, created.turn.turn_id
    return _event_stream(services, request, session_id, turn_id, 0, lease, prelude, status_code=201)


def _event_stream(
    services: Services,
    request: Request,
    session_id: str,
    turn_id: str,
    start: int,
    lease: Lease,
    prelude: bytes = b"",
    status_code: int = 200,
) -> EventSourceResponse:
    """The turn's events after ``start`` as an SSE response that holds ``lease`` until it ends."""

    async def body() -> AsyncIterator[bytes]:
        metrics.SSE_CONNECTIONS.inc()
        with services.runner.watching(session_id):
            try:
                if prelude:
                    yield prelude
                async for batch in services.interview.turn_events(session_id, turn_id, start):
                    for event in merge_deltas(batch) if len(batch) > 1 else batch:
                        yield event.sse
                    metrics.SSE_DELIVERED.inc(count_deltas(batch))
            except HotseatError as exc:
                yield f"event: error\ndata: {ws_error_frame(exc, turn_id)}\n\n".encode()
            except Exception as exc:
                down = unavailable_error(exc)  # the database went away mid-stream
                if down is None:
                    raise
                yield f"event: error\ndata: {ws_error_frame(down, turn_id)}\n\n".encode()
            finally:
                metrics.SSE_CONNECTIONS.dec()
                await lease.release()

    response = _LeasedEventSource(
        body(),
        status_code=status_code,
        ping=services.settings.sse_ping_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.lease = lease
    response.guard = send_watchdog_of(request).guard(SendTimeoutError)
    return response
