"""Starting an interview session: the same checks and the same result over HTTP and WebSocket.

``POST /api/sessions`` answers with the new session as JSON, or, asked for
``text/event-stream``, with the session and then its opening turn as SSE
(``api/sse.py``). A WebSocket opened without ``?session=`` takes the same fields
in its query or in a ``start`` frame and streams the opening turn on that socket
(``api/ws.py``; docs/protocol.md, "Starting on the WebSocket"). The streamed
forms save the client a request and a round trip.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from hotseat.api.deps import Services, owned_cv
from hotseat.api.limits import admit_move, limits_of
from hotseat.api.schemas import CreateSession, SessionCreated
from hotseat.errors import BadRequest
from hotseat.interview.analysis.claims import cv_deletions
from hotseat.interview.service import CreatedSession


async def start_session(
    services: Services, connection: HTTPConnection, owner: str, request: CreateSession
) -> CreatedSession:
    """Check the request and the owner's limits, store the session and start its opening turn."""
    limit = services.settings.max_job_description_chars
    if request.job_description and len(request.job_description) > limit:
        raise BadRequest(f"The job description is longer than {limit} characters; shorten it.")
    # Counted before the read: if the CV is deleted meanwhile, its claims are not kept (claims_of).
    deletions = cv_deletions()
    cv = await owned_cv(services, owner, request.cv_id) if request.cv_id is not None else None
    # The opening turn starts at once, so a new session is a move like an answer.
    async with admit_move(connection, owner):
        return await services.interview.create_session(
            owner,
            request.pack,
            cv=cv,
            job_description=request.job_description,
            language=request.language,
            max_sessions=limits_of(connection).max_sessions_per_owner,
            cv_deletions_before_read=deletions,
        )


def session_created(created: CreatedSession) -> SessionCreated:
    """What the client is told of a new session: the POST's body, the ``session`` frame or event."""
    session = created.session  # as just stored: not read back
    return SessionCreated(
        id=session.id,
        pack=session.pack_id,
        language=session.language,
        status=session.status,
        turn_id=created.turn.turn_id,
    )
