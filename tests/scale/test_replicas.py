"""Several replicas on PostgreSQL and Redis: a turn is watched, resumed and cancelled from anywhere,
and a replica's death ends its turns instead of leaving clients waiting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from cluster import (
    LEASE_SECONDS,
    Cluster,
    Replica,
    recv_json,
    recv_until_end,
    settled,
    sse_events,
    start_session,
    text_of,
    turn_of,
)

import hx
from doubles.mock_openai import MockOpenAI, Reply

# The sweeper's bound (two leases, see streaming/sweeper.py) with a wide margin for a slow machine.
DEATH_NOTICED_WITHIN = 2 * LEASE_SECONDS + 20


def test_start_on_a_stream_sse_on_b_resume_ws_on_c(cluster: Cluster, upstream: MockOpenAI) -> None:
    """A turn running on A streams over SSE from B, then resumes over WebSocket on C: no gap, no duplicate."""
    upstream.enqueue(Reply(token_count=80, delay=0.02))
    session_id, turn_id = start_session(cluster.a)
    sse: list[dict[str, object]] = []
    url = f"{cluster.b.url}/api/sessions/{session_id}/turns/{turn_id}/events"
    with hx.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200
        for event in sse_events(response):
            sse.append(event)
            if len(sse) >= 5:
                break
    cut = int(str(sse[-1]["seq"]))
    with hx.ws_connect(f"{cluster.c.ws_url}/ws?session={session_id}&turn_id={turn_id}&after={cut}") as ws:
        assert recv_json(ws) == {"type": "turn", "turn_id": turn_id, "kind": "opening", "after": cut}
        rest, done = recv_until_end(ws, timeout=30, after=cut)
    seqs = [e["seq"] for e in [*sse, *rest, done]]
    assert seqs == sorted(set(seqs)), "every seq once, in order"
    assert done["type"] == "done" and done["finish_reason"] == "stop"
    turn = turn_of(cluster.c, session_id, turn_id)
    assert text_of([*sse, *rest]) == turn["text"] == "".join(f" tok{i}" for i in range(1, 81))
    assert turn["status"] == "complete"


@pytest.mark.parametrize("via", ["http", "ws"])
def test_cancel_on_b_stops_the_turn_running_on_a(cluster: Cluster, upstream: MockOpenAI, via: str) -> None:
    """A cancel sent to B (HTTP with the turn id, or a bare WS frame) stops A's turn and its upstream."""
    upstream.enqueue(Reply(token_count=2000, delay=0.02))
    session_id, turn_id = start_session(cluster.a)
    upstream.wait_until(lambda: bool(upstream.requests) and upstream.requests[0].tokens_sent >= 3, 10)
    with hx.ws_connect(f"{cluster.c.ws_url}/ws?session={session_id}") as watcher:
        assert recv_json(watcher)["type"] == "turn"
        if via == "http":
            response = hx.post(
                f"{cluster.b.url}/api/sessions/{session_id}/turns/{turn_id}/cancel", timeout=30
            )
            assert response.status_code == 202
            assert response.json() == {"turn_id": turn_id, "cancelled": True}
        else:
            with hx.ws_connect(f"{cluster.b.ws_url}/ws?session={session_id}") as canceller:
                canceller.send(json.dumps({"type": "cancel"}))
                _, ended = recv_until_end(canceller, timeout=30)
                assert ended["type"] == "done" and ended["finish_reason"] == "cancelled"
        frames, done = recv_until_end(watcher, timeout=30)
    assert done["type"] == "done" and done["finish_reason"] == "cancelled"
    assert upstream.wait_for_outcome(0, timeout=10) == "client_closed"
    turn = turn_of(cluster.b, session_id, turn_id)
    assert turn["status"] == "cancelled"
    assert turn["text"] == text_of(frames) and 0 < len(turn["text"]) < len(" tok1") * 2000


def test_a_killed_replicas_turn_ends_interrupted_for_a_client_elsewhere(
    cluster: Cluster, upstream: MockOpenAI, spawn: Callable[..., Replica]
) -> None:
    """kill -9 the replica running a turn: a survivor ends it interrupted, the text so far kept."""
    doomed = spawn("doomed")
    upstream.enqueue(Reply(token_count=5000, delay=0.02))
    session_id, turn_id = start_session(doomed)
    with hx.ws_connect(f"{cluster.b.ws_url}/ws?session={session_id}") as ws:
        assert recv_json(ws)["type"] == "turn"
        before = [recv_json(ws) for _ in range(5)]
        doomed.kill()
        after, end = recv_until_end(ws, timeout=DEATH_NOTICED_WITHIN, after=int(before[-1]["seq"]))
    assert end["type"] == "error" and end["code"] == "interrupted" and end["retryable"] is True
    assert upstream.wait_for_outcome(0, timeout=10) == "client_closed"
    turn = turn_of(cluster.c, session_id, turn_id)
    assert turn["status"] == "interrupted" and turn["error"]["code"] == "interrupted"
    assert turn["text"] == text_of([*before, *after]) != ""
    # The session goes on: a retry on another replica writes the turn again.
    retry = hx.post(f"{cluster.c.url}/api/sessions/{session_id}/retry", timeout=10)
    assert retry.status_code == 202, retry.text


def test_a_killed_replicas_assessment_is_recorded_not_assessed(
    cluster: Cluster, upstream: MockOpenAI, spawn: Callable[..., Replica]
) -> None:
    """kill -9 the replica judging an answer: a survivor records the judgement as not done, so the
    report shows the matcher's verdicts with a note instead of "pending" for ever; while the replica
    lives, its long judgement stays pending."""
    doomed = spawn("doomed")
    upstream.enqueue(Reply(token_count=3))
    session_id, opening = start_session(doomed)
    assert settled(doomed, session_id, opening)["status"] == "complete"
    # The next question and the assessment, whichever asks first: both outlive the test.
    upstream.enqueue(Reply(token_count=5000, delay=0.02), Reply(token_count=5000, delay=0.02))
    answer = hx.post(f"{doomed.url}/api/sessions/{session_id}/answers", json={"text": "I sharded it."})
    assert answer.status_code == 202, answer.text
    upstream.wait_until(lambda: len(upstream.requests) >= 3, 10)

    def assessment() -> dict[str, object]:
        report = hx.get(f"{cluster.b.url}/api/sessions/{session_id}/report", timeout=10).json()
        (answered,) = [q for q in report["questions"] if q["answers"]]
        return dict(answered["assessment"])

    # Past two leases and several sweeps, a live replica's assessment is left alone.
    time.sleep(3 * LEASE_SECONDS)
    assert assessment()["status"] == "pending"
    doomed.kill()
    deadline = time.monotonic() + DEATH_NOTICED_WITHIN
    while (found := assessment())["status"] == "pending":
        assert time.monotonic() < deadline, "the dead replica's assessment is still pending"
        time.sleep(0.2)
    assert (found["status"], found["analyser"]) == ("complete", "matcher")
    assert found["note"] == (
        "the model judge did not finish (the server stopped before this answer was assessed); "
        "these are the matcher's verdicts"
    )


def test_a_watcher_on_b_keeps_a_turn_on_a_alive_past_the_orphan_grace(
    cluster: Cluster, upstream: MockOpenAI, spawn: Callable[..., Replica]
) -> None:
    """A's orphan timer spares a turn watched from B; the same turn unwatched anywhere is cancelled."""
    grace = 1.0
    a = spawn("short-grace", HOTSEAT_ORPHAN_GRACE_SECONDS=str(grace))
    long_reply = Reply(token_count=int(4 * grace / 0.02), delay=0.02)  # lasts four grace periods
    upstream.enqueue(Reply(token_count=3), long_reply, Reply(token_count=5000, delay=0.02))
    watched, opening = start_session(a)
    settled(cluster.b, watched, opening)
    with hx.ws_connect(f"{cluster.b.ws_url}/ws?session={watched}") as ws:
        # B watches the session before A starts the turn: A's timer fires while only B watches.
        skipped = hx.post(f"{a.url}/api/sessions/{watched}/skip", timeout=10)
        assert skipped.status_code == 202, skipped.text
        frames, done = recv_until_end(ws, timeout=60)
    assert done["type"] == "done" and done["finish_reason"] == "stop"
    assert done["turn_id"] == skipped.json()["turn_id"]
    assert text_of(frames) == "".join(long_reply.resolved_tokens)
    orphan, orphan_turn = start_session(a)
    assert settled(cluster.c, orphan, orphan_turn, timeout=grace + 30)["status"] == "cancelled"
