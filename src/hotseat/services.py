"""``Services``: what the app builds once in its lifespan (``app.build_services``) and the routes use.

It lives outside ``hotseat.api`` because it names every layer (the store, the model
backend, the runner); the transports use its interview-layer parts (``interview``,
``records``) and the streaming ones, never ``store`` or ``backend`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from hotseat.config import Settings
from hotseat.interview.packs import PackRegistry
from hotseat.interview.records import Records
from hotseat.interview.seats import Seats
from hotseat.interview.service import InterviewService
from hotseat.llm.base import Backend
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
    # Sessions, turns and CVs for the routes (the store behind the interview layer).
    records: Records
    # The transports' one boundary: ownership, following turns and the moves.
    seats: Seats = field(init=False)

    def __post_init__(self) -> None:
        self.seats = Seats(self.interview, self.records)
