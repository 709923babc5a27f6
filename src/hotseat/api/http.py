"""HTTP routes under ``/api`` (docs/protocol.md lists them all)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from hotseat import metrics
from hotseat.api import speech
from hotseat.api.deps import OwnedSession, OwnerDep, Services, ServicesDep, owned_session
from hotseat.api.event_stream import EventStream
from hotseat.api.limits import admit_move
from hotseat.api.markdown_export import inert_markdown
from hotseat.api.pack_views import pack_detail, pack_summary
from hotseat.api.readiness import readiness
from hotseat.api.schemas import (
    CreateSession,
    SessionCreated,
    SessionOut,
    SessionSummary,
    TurnStarted,
    check_answer,
)
from hotseat.api.sessions import session_created, start_session
from hotseat.api.sse import move_and_stream, start_and_stream, wants_event_stream
from hotseat.errors import NotFound, Unauthorized
from hotseat.interview.report_markdown import report_markdown
from hotseat.interview.seats import StartedTurn
from hotseat.local_models.live import describe

router = APIRouter(prefix="/api")
metrics_router = APIRouter()


@router.get("/health")
async def health(services: ServicesDep) -> dict[str, Any]:
    """Cheap liveness: which backend and model are live. Touches no database."""
    backend = services.backend
    return {
        "status": "ok",
        "backend": backend.name,
        "model": backend.model,
        **describe(backend.name, backend.model),
        "running_turns": services.runner.running_count(),
    }


@router.get("/ready")
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness for a load balancer: the database and Redis answer, each within 2 s."""
    body = await readiness(services.records, services.streaming)
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)


@metrics_router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(services: ServicesDep, request: Request) -> Response:
    """Prometheus exposition (disable with HOTSEAT_METRICS_ENABLED=false; HOTSEAT_METRICS_TOKEN
    asks for ``Authorization: Bearer <token>``)."""
    settings = services.settings
    if not settings.metrics_enabled:
        raise NotFound("Metrics are disabled on this server (HOTSEAT_METRICS_ENABLED=false).")
    token = settings.metrics_token.get_secret_value()
    if token:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode()):
            raise Unauthorized(
                "The metrics need Authorization: Bearer with the token set in HOTSEAT_METRICS_TOKEN."
            )
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/packs")
async def list_packs(services: ServicesDep) -> list[dict[str, Any]]:
    return [pack_summary(pack) for pack in services.packs.all()]


@router.get("/packs/{pack_id}")
async def get_pack(pack_id: str, services: ServicesDep) -> dict[str, Any]:
    return pack_detail(services.packs.get(pack_id))


@router.get("/sessions")
async def list_sessions(services: ServicesDep, owner: OwnerDep) -> list[SessionSummary]:
    """The caller's own sessions, newest first."""
    return [SessionSummary.of(row, services.packs) for row in await services.records.sessions(owner)]


@router.post("/sessions", status_code=201, response_model=SessionCreated)
async def create_session(
    body: CreateSession, services: ServicesDep, owner: OwnerDep, request: Request
) -> SessionCreated | Response:
    if wants_event_stream(request):
        # The session, then its opening turn as Server-Sent Events, in this one response.
        return await start_and_stream(services, request, owner, body)
    return session_created(await start_session(services, request, owner, body))


@router.get("/sessions/{session_id}")
async def get_session(session_id: str, services: ServicesDep, owner: OwnerDep) -> SessionOut:
    # The owner check and the transcript in one query: the page reads it whenever it (re)connects.
    session, turns = await services.records.owned_transcript(owner, session_id)
    return SessionOut.of(session, list(turns))


@router.delete("/sessions/{session_id}", status_code=204)
async def delete_session(session: OwnedSession, services: ServicesDep) -> Response:
    """Delete the session, its transcript and its assessments; a running turn is stopped first."""
    await services.interview.delete(session.id)
    return Response(status_code=204)


@router.post(
    "/sessions/{session_id}/answers",
    status_code=202,
    response_model=TurnStarted | speech.SpokenTurnStarted,
    openapi_extra=speech.ANSWER_BODIES,
)
async def post_answer(
    session_id: str, services: ServicesDep, owner: OwnerDep, request: Request
) -> TurnStarted | speech.SpokenTurnStarted | EventStream:
    """A typed answer (JSON ``{"text"}``), or a spoken one (multipart ``audio``: ``api/speech.py``)."""
    if speech.is_form(request):
        session = await owned_session(services, owner, session_id)
        return await speech.spoken_answer(session, services, request)
    body = await speech.typed_answer(request)
    check_answer(body.text, services.settings.max_answer_chars)
    return await _move(
        services, request, owner, lambda: services.interview.answer(session_id, body.text, owner=owner)
    )


@router.post("/sessions/{session_id}/turns/{turn_id}/cancel", status_code=202)
async def cancel_turn(session: OwnedSession, turn_id: str, services: ServicesDep) -> dict[str, Any]:
    cancelled = await services.interview.cancel(session.id, turn_id)
    return {"turn_id": turn_id, "cancelled": cancelled is not None}


# The moves check the owner in the read of the transcript they start with: no read of their own.


@router.post("/sessions/{session_id}/finish", status_code=202, response_model=TurnStarted)
async def finish(
    session_id: str, services: ServicesDep, owner: OwnerDep, request: Request
) -> TurnStarted | EventStream:
    return await _move(services, request, owner, lambda: services.interview.finish(session_id, owner=owner))


@router.post("/sessions/{session_id}/skip", status_code=202, response_model=TurnStarted)
async def skip(
    session_id: str, services: ServicesDep, owner: OwnerDep, request: Request
) -> TurnStarted | EventStream:
    return await _move(services, request, owner, lambda: services.interview.skip(session_id, owner=owner))


@router.post("/sessions/{session_id}/retry", status_code=202, response_model=TurnStarted)
async def retry(
    session_id: str, services: ServicesDep, owner: OwnerDep, request: Request
) -> TurnStarted | EventStream:
    """Write the interviewer's last reply again after it failed or was stopped."""
    return await _move(services, request, owner, lambda: services.interview.retry(session_id, owner=owner))


async def _move(
    services: Services, request: Request, owner: str, move: Callable[[], Awaitable[StartedTurn]]
) -> TurnStarted | EventStream:
    """Make the move: its 202, or (``Accept: text/event-stream``) that and its turn as one SSE response."""
    if wants_event_stream(request):
        return await move_and_stream(services, request, owner, move)
    async with admit_move(request, owner):
        return TurnStarted.of(await move())


@router.get("/sessions/{session_id}/report")
async def report(session: OwnedSession, services: ServicesDep) -> dict[str, Any]:
    return await services.interview.report(session.id)


@router.get("/sessions/{session_id}/export")
async def export(
    session: OwnedSession, services: ServicesDep, format: Annotated[Literal["md", "json"], Query()] = "md"
) -> Response:
    """The report as a file to download."""
    body = await services.interview.report(session.id)
    filename = f"hotseat-report-{session.id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "json":
        return Response(
            orjson.dumps(body, option=orjson.OPT_INDENT_2), media_type="application/json", headers=headers
        )
    # Inert: other Markdown viewers may render raw HTML and fetch images (api/markdown_export.py).
    markdown = inert_markdown(report_markdown(body))
    return Response(markdown, media_type="text/markdown; charset=utf-8", headers=headers)
