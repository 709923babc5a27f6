"""The services the routes need, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from hotseat.config import Settings
from hotseat.interview.packs import PackRegistry
from hotseat.interview.service import InterviewService
from hotseat.llm.base import Backend
from hotseat.store.repo import Store
from hotseat.streaming.runner import TurnRunner


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    store: Store
    packs: PackRegistry
    backend: Backend
    runner: TurnRunner
    interview: InterviewService


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services


def _services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services)]
