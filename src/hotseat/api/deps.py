"""The services the routes need, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from hotseat.api.identity import owner_of
from hotseat.config import Settings
from hotseat.errors import NotFound, session_not_found
from hotseat.interview.packs import PackRegistry
from hotseat.interview.service import InterviewService
from hotseat.llm.base import Backend
from hotseat.store.models import CvRow, SessionRow
from hotseat.store.repo import Store
from hotseat.streaming.runner import TurnRunner
from hotseat.streaming.wiring import Streaming


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    store: Store
    packs: PackRegistry
    backend: Backend
    runner: TurnRunner
    interview: InterviewService
    # Where turn logs, announcements and cancels go: this process, or Redis for replicas.
    streaming: Streaming


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services


# Dependencies are coroutines, even with nothing to await: FastAPI runs a plain function in its
# thread pool, a thread hand-off per request for a dictionary lookup.
async def _services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services)]


async def _owner(request: Request) -> str:
    return owner_of(request)


OwnerDep = Annotated[str, Depends(_owner)]


async def owned_session(services: Services, owner: str, session_id: str) -> SessionRow:
    """The session, if it exists and belongs to ``owner``; otherwise the same 404 either way."""
    session = await services.store.get_session(session_id)
    if session is None or session.owner_id != owner:
        raise session_not_found(session_id)
    return session


async def owned_cv(services: Services, owner: str, cv_id: str) -> CvRow:
    cv = await services.store.get_cv(cv_id)
    if cv is None or cv.owner_id != owner:
        raise NotFound(f"No CV {cv_id!r}; upload it again with POST /api/cvs.")
    return cv


async def _session(session_id: str, request: Request) -> SessionRow:
    return await owned_session(services_of(request), owner_of(request), session_id)


OwnedSession = Annotated[SessionRow, Depends(_session)]
