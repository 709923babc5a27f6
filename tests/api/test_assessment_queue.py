"""The model judge is background work: at most HOTSEAT_ASSESSMENT_CONCURRENCY judgements run at
once, a model that is momentarily full is waited for, and when the judge gives nothing the
matcher's verdicts stand."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
from helpers import wait_quiet

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.errors import Busy
from hotseat.interview.analysis import judge
from hotseat.llm.base import ChatMessage, GenerationParams, StreamItem
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread, uvicorn_config_kwargs
from hotseat.store.db import create_engine
from hotseat.store.models import AssessmentRow
from hotseat.store.repo import Store

ANSWER = "At Acme I owned the orders API and moved forty teams to it in six weeks, with no downtime."


class CountingBackend(ScriptedBackend):
    """Scripted, and counts how many assessments (structured requests) stream at the same time."""

    def __init__(self) -> None:
        super().__init__()
        self.assessing = 0
        self.most_at_once = 0

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        structured = params.json_schema is not None
        if structured:
            self.assessing += 1
            self.most_at_once = max(self.most_at_once, self.assessing)
        try:
            if structured:
                await asyncio.sleep(0.1)  # long enough that unbounded assessments would overlap
            async for item in super().stream(messages, params):
                yield item
        finally:
            if structured:
                self.assessing -= 1


def serve(settings: Settings, backend: ScriptedBackend, **overrides: Any) -> ServerThread:
    configured = settings.model_copy(update=overrides)
    config = {**uvicorn_config_kwargs(configured), "log_level": "warning"}
    return ServerThread(create_app(configured, backend=backend), **config)


def assessment_status(client: httpx.Client, sid: str) -> str:
    report = client.get(f"/api/sessions/{sid}/report").json()
    status: str = report["questions"][0]["assessment"]["status"]
    return status


def wait_assessed(client: httpx.Client, sids: list[str], limit: float = 20.0) -> list[str]:
    deadline = time.monotonic() + limit
    while True:
        statuses = [assessment_status(client, sid) for sid in sids]
        if "pending" not in statuses:
            return statuses
        assert time.monotonic() < deadline, statuses
        time.sleep(0.05)


@pytest.fixture
def counting() -> CountingBackend:
    return CountingBackend()


@pytest.fixture
def one_at_a_time(settings: Settings, counting: CountingBackend) -> Iterator[httpx.Client]:
    with serve(settings, counting, assessment_concurrency=1) as server, hx.client(server.base_url) as client:
        yield client


def test_answers_given_together_are_assessed_one_at_a_time(
    one_at_a_time: httpx.Client, counting: CountingBackend
) -> None:
    """Four answers at once with a concurrency of 1: each assessment waits for the one before,
    and all four complete."""
    client = one_at_a_time
    sids = [client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"] for _ in range(4)]
    for sid in sids:
        wait_quiet(client, sid)
    for sid in sids:
        assert client.post(f"/api/sessions/{sid}/answers", json={"text": ANSWER}).status_code == 202
    assert wait_assessed(client, sids) == ["complete"] * 4
    assert counting.most_at_once == 1


def test_a_busy_model_is_waited_for(
    client: httpx.Client, backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model answers `busy` twice (a local model's full queue), then assesses: complete."""
    monkeypatch.setattr(judge, "TRANSIENT_WAITS", (0.05, 0.05, 0.05))
    full = ScriptedReply("x", error=Busy("The model is busy."), fail_after=0)
    backend.enqueue_structured(full, full)
    sid = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"]
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/answers", json={"text": ANSWER})
    assert wait_assessed(client, [sid]) == ["complete"]
    assert sum(1 for _, params in backend.calls if params.json_schema is not None) == 3


def test_a_model_busy_past_every_wait_is_explained(
    client: httpx.Client, backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still `busy` after every wait, on both attempts: the matcher's verdicts stand, and the note
    says the judge failed because the model was busy."""
    monkeypatch.setattr(judge, "TRANSIENT_WAITS", (0.01,))
    full = ScriptedReply("x", error=Busy("The model is busy."), fail_after=0)
    backend.enqueue_structured(*[full] * 4)
    sid = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"]
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/answers", json={"text": ANSWER})
    assert wait_assessed(client, [sid]) == ["complete"]
    assessment = client.get(f"/api/sessions/{sid}/report").json()["questions"][0]["assessment"]
    assert assessment["analyser"] == "matcher"
    assert "busy" in assessment["note"]


def test_a_stopping_server_records_its_running_and_queued_assessments(
    settings: Settings, counting: CountingBackend
) -> None:
    """Stopped with one assessment running and one waiting for its slot: both are recorded
    `not_assessed` as the server stops, not left `pending` for a next start that, with replicas,
    never comes."""
    never = threading.Event()
    counting.enqueue_structured(*[ScriptedReply(text="{}", hold=never)] * 2)
    with serve(settings, counting, assessment_concurrency=1) as server, hx.client(server.base_url) as client:
        sids = [
            client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"] for _ in range(2)
        ]
        for sid in sids:
            wait_quiet(client, sid)
            client.post(f"/api/sessions/{sid}/answers", json={"text": ANSWER})
        deadline = time.monotonic() + 10
        while counting.assessing < 1:  # one runs (held); the other waits for the slot
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert [assessment_status(client, sid) for sid in sids] == ["pending", "pending"]
    for row in asyncio.run(stored_assessments(settings, sids)):
        assert (row.status, row.reason) == (
            "not_assessed",
            "the server stopped before this answer was assessed",
        )


async def stored_assessments(settings: Settings, sids: list[str]) -> list[AssessmentRow]:
    """The sessions' assessment rows, read from the database itself (no server running)."""
    engine = create_engine(settings.resolved_database_url())
    try:
        store = Store(engine)
        return [row for sid in sids for row in await store.list_assessments(sid)]
    finally:
        await engine.dispose()
