"""Redis or PostgreSQL going away: clear ``unavailable`` errors while it is gone, and recovery
without restarting any replica once it is back."""

from __future__ import annotations

import time

import httpx
import pytest
from cluster import (
    Cluster,
    recv_json,
    recv_until_end,
    settled,
    start_session,
    text_of,
    turn_of,
    wait_until_ready,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

import datastores
import hx
from doubles.mock_openai import MockOpenAI, Reply


def next_error(ws: ClientConnection, timeout: float = 30) -> dict[str, object]:
    """The next error frame, skipping the deltas that were already on their way."""
    deadline = time.monotonic() + timeout
    while True:
        frame = recv_json(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == "error":
            return frame


def test_redis_restarted_mid_turn(cluster: Cluster, upstream: MockOpenAI, stores: datastores.Stores) -> None:
    """Redis stops mid-turn: readers and new moves get `unavailable`; once it is back, all works again."""
    upstream.enqueue(Reply(token_count=5000, delay=0.02))
    session_id, turn_id = start_session(cluster.a)
    with hx.ws_connect(f"{cluster.b.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        before = [recv_json(ws) for _ in range(3)]
        stores.redis.stop()
        try:
            error = next_error(ws)
            assert error["code"] == "unavailable" and error["turn_id"] == turn_id and error["retryable"]
            assert "Redis" in str(error["message"])
            refused = hx.post(f"{cluster.c.url}/api/sessions", json={"pack": "backend-engineer"}, timeout=10)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            ready = hx.get(f"{cluster.a.url}/api/ready", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["redis"] == "down" and ready.json()["database"] == "ok"
            assert httpx.get(f"{cluster.a.url}/api/health", timeout=10).status_code == 200
        finally:
            stores.redis.start()
    wait_until_ready(cluster.replicas)
    failed = settled(cluster.c, session_id, turn_id)
    assert failed["status"] == "failed" and failed["error"] == {
        "code": "unavailable",
        "message": error["message"],
    }
    assert str(failed["text"]).startswith(text_of(before))
    # No replica was restarted: a retry on B streams to a WebSocket on C, to the end.
    retry = hx.post(f"{cluster.b.url}/api/sessions/{session_id}/retry", timeout=10)
    assert retry.status_code == 202, retry.text
    retried = retry.json()["turn_id"]
    with hx.ws_connect(f"{cluster.c.ws_url}/ws?session={session_id}") as ws:
        frames, done = recv_until_end(ws, timeout=30)
    assert done["type"] == "done" and done["turn_id"] == retried
    assert text_of(frames) == turn_of(cluster.a, session_id, retried)["text"] != ""


@pytest.mark.parametrize("down", ["database", "redis"])
def test_ready_names_what_is_down(cluster: Cluster, stores: datastores.Stores, down: str) -> None:
    """/api/ready answers 503 naming PostgreSQL or Redis while it is down, and 200 again once it is back."""
    server = stores.postgres if down == "database" else stores.redis
    up = "redis" if down == "database" else "database"
    server.stop()
    try:
        response = hx.get(f"{cluster.a.url}/api/ready", timeout=10)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable" and body[down] == "down" and body[up] == "ok"
        assert body["error"]["code"] == "unavailable"
        assert httpx.get(f"{cluster.a.url}/api/health", timeout=10).status_code == 200
        if down == "database":
            listed = hx.get(f"{cluster.b.url}/api/sessions", timeout=10)
            assert listed.status_code == 503 and listed.json()["error"]["code"] == "unavailable"
            with hx.ws_connect(f"{cluster.c.ws_url}/ws?session=anything") as ws:
                assert recv_json(ws)["code"] == "unavailable"
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    finally:
        server.start()
    wait_until_ready(cluster.replicas)
    for replica in cluster.replicas:
        assert hx.get(f"{replica.url}/api/ready", timeout=10).json() == {
            "status": "ready",
            "database": "ok",
            "redis": "ok",
        }
