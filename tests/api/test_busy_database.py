"""A database that is briefly busy loses nothing: no move is left half-made, no reply or
assessment is dropped. The store is the real one; only the chosen calls fail, with the error the
store raises for a pool that has no connection free."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from helpers import report_when_done, wait_quiet
from sqlalchemy import exc as sa

from hotseat.api.deps import Services
from hotseat.errors import UpstreamUnavailable
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread
from hotseat.store.failures import database_error


def fail_next(services: Services, method: str, times: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the store's ``method`` raise the pool's timeout ``times`` times, then work; returns a
    one-item list counting the calls that failed."""
    real: Callable[..., Awaitable[Any]] = getattr(services.store, method)
    failed = [0]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failed[0] < times:
            failed[0] += 1
            pool_timeout = sa.TimeoutError("QueuePool limit reached, connection timed out")
            raise database_error(pool_timeout) or pool_timeout from pool_timeout
        return await real(*args, **kwargs)

    monkeypatch.setattr(services.store, method, flaky)
    return failed


@pytest.mark.parametrize("move", ["answers", "skip", "finish", "retry"])
def test_a_move_whose_read_fails_is_refused_whole(
    move: str,
    server: ServerThread,
    client: httpx.Client,
    backend: ScriptedBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The move is answered `busy` and stores nothing: no turn is left marked generating, so
    the same move works as soon as the database does."""
    if move == "retry":  # something to retry: an opening that failed
        backend.enqueue(ScriptedReply(text="Hello", error=UpstreamUnavailable("model down")))
    sid = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()["id"]
    before = wait_quiet(client, sid)
    body: dict[str, Any] = {"json": {"text": "An answer."}} if move == "answers" else {}
    failed = fail_next(server.app.state.services, "get_session_with_turns", 1, monkeypatch)

    refused = client.post(f"/api/sessions/{sid}/{move}", **body)

    assert failed[0] == 1
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "busy"
    assert wait_quiet(client, sid) == before, "a refused move stored nothing"
    accepted = client.post(f"/api/sessions/{sid}/{move}", **body)
    assert accepted.status_code == 202, accepted.text
    after = wait_quiet(client, sid)
    assert len(after) > len(before)
    assert after[-1]["role"] == "interviewer" and after[-1]["status"] == "complete"


def test_a_reply_is_stored_through_a_busy_pool(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing a finished reply is retried while the pool is busy; the reply is kept whole."""
    session = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()
    sid = session["id"]
    wait_quiet(client, sid)
    failed = fail_next(server.app.state.services, "finish_turn", 2, monkeypatch)
    backend.enqueue("A reply that must not be lost.")

    assert client.post(f"/api/sessions/{sid}/answers", json={"text": "An answer."}).status_code == 202

    last = wait_quiet(client, sid)[-1]
    assert failed[0] == 2
    assert last["status"] == "complete"
    assert last["text"] == "A reply that must not be lost."


def test_an_assessment_is_stored_through_a_busy_pool(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background assessment retries its reads and writes; the report has its score."""
    n_points = len(client.get("/api/packs/backend-engineer").json()["questions"][0]["assessment"])
    backend.enqueue_structured(
        json.dumps(
            {
                "points": [{"score": 3, "justification": "ok", "evidence": "", "cv_line": ""}] * n_points,
                "suggestion": "More detail.",
            }
        )
    )
    session = client.post("/api/sessions", json={"pack": "backend-engineer"}).json()
    sid = session["id"]
    wait_quiet(client, sid)
    services: Services = server.app.state.services
    finished = fail_next(services, "finish_assessment", 2, monkeypatch)

    client.post(f"/api/sessions/{sid}/answers", json={"text": "I built the orders API at Acme."})
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/finish")
    wait_quiet(client, sid)

    report = report_when_done(client, sid)
    assert finished[0] == 2
    assert report["questions"][0]["assessment"]["status"] == "complete", report
