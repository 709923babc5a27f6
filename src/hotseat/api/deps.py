"""The services the routes need, built once in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from hotseat.api.identity import owner_of
from hotseat.interview.records import CvRow, SessionRow
from hotseat.services import Services

__all__ = ["OwnedSession", "OwnerDep", "Services", "ServicesDep", "owned_cv", "owned_session", "services_of"]


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
    return await services.records.owned_session(owner, session_id)


async def owned_cv(services: Services, owner: str, cv_id: str) -> CvRow:
    return await services.records.owned_cv(owner, cv_id)


async def _session(session_id: str, request: Request) -> SessionRow:
    return await owned_session(services_of(request), owner_of(request), session_id)


OwnedSession = Annotated[SessionRow, Depends(_session)]
