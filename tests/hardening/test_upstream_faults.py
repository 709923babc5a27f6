"""Upstream faults are retried before any text, or end one turn with a retryable error; others stream on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hardening_kit import follow, recv_json, recv_turn, serving, text_of, wait_turn

import hx
from doubles.fault_proxy import FaultProxy, Plan
from doubles.mock_openai import Behaviour, Cut, Fault, Hang, Malformed, MockOpenAI, Reply
from hotseat.config import Settings
from hotseat.errors import UpstreamTimeout
from hotseat.llm.base import ChatMessage, GenerationParams
from hotseat.llm.openai import OpenAIBackend
from hotseat.serving import ServerThread

PACK = {"pack": "backend-engineer"}
# The healthy session's reply: long enough to be mid-stream while the other session fails.
HEALTHY = Reply(token_count=200, delay=0.01)
HEALTHY_TEXT = "".join(f" tok{i}" for i in range(1, 201))
RECOVERED = "Let me ask that again."


@pytest.fixture
def server(settings: Settings, proxy: FaultProxy) -> Iterator[ServerThread]:
    """hotseat's openai backend talking to the mock upstream through the fault proxy."""
    with serving(
        settings,
        backend="openai",
        openai_base_url=proxy.base_url,
        model="mock-model",
        upstream_max_retries=1,
        upstream_read_timeout=2.0,
        upstream_first_token_timeout=0.5,
    ) as running:
        yield running


@dataclass(frozen=True)
class Case:
    """A fault for the failing session: what the upstream and the proxy do to its requests."""

    behaviours: tuple[Behaviour, ...] = ()
    plans: tuple[Plan, ...] = ()
    # The failing session's expected end: ("done", text) or ("error", code).
    end: tuple[str, str] = ("done", RECOVERED)
    partial: bool = False  # an error that keeps text already streamed
    extra: dict[str, Any] = field(default_factory=dict)


BROKE = ("error", "upstream_error")
TIMED_OUT = ("error", "upstream_timeout")
ONE_REPLY = (Reply(text=RECOVERED),)
STREAMING = (Reply(token_count=50, delay=0.01),)

CASES = {
    # Network level, through the proxy.
    "refused": Case(plans=(Plan(refuse=True),) * 2, end=("error", "upstream_unavailable")),
    "reset_mid_stream": Case(STREAMING, (Plan(reset_after=2000),), end=BROKE, partial=True),
    "stall_before_headers_is_retried": Case(ONE_REPLY * 2, (Plan(stall_after=0),)),
    "stall_after_headers_is_retried": Case(ONE_REPLY * 2, (Plan(stall_after=400),)),
    "stall_mid_stream": Case(STREAMING, (Plan(stall_after=2000),), end=TIMED_OUT, partial=True),
    "tiny_pieces": Case(ONE_REPLY, (Plan(piece_bytes=3, delay=0.001),)),
    # HTTP level, from the mock.
    "5xx_then_ok": Case((Fault(503), *ONE_REPLY)),
    "5xx_every_time": Case((Fault(500), Fault(500)), end=BROKE),
    "429_retry_after_honoured": Case((Fault(429, retry_after=1.5), *ONE_REPLY), extra={"min_seconds": 1.5}),
    "429_retry_after_too_long": Case(
        (Fault(429, retry_after=150),), end=("error", "upstream_rate_limited"), extra={"retry_after": 150}
    ),
    "hang_before_first_token_is_retried": Case((Hang(after_tokens=0), *ONE_REPLY)),
    "hang_mid_stream": Case((Hang(after_tokens=3),), end=TIMED_OUT, partial=True),
    "cut_mid_stream": Case((Cut(after_tokens=3),), end=BROKE, partial=True),
    "malformed_chunk": Case((Malformed(after_tokens=2),), end=BROKE, partial=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_fault_fails_one_session_and_the_other_streams_on(
    name: str, server: ServerThread, upstream: MockOpenAI, proxy: FaultProxy
) -> None:
    """The faulty turn is retried before any text or ends with its code; the healthy one streams exactly."""
    case = CASES[name]
    upstream.enqueue(HEALTHY, *case.behaviours)
    proxy.enqueue(Plan(), *case.plans)
    healthy = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
    with hx.ws_connect(f"{server.ws_url}/ws?session={healthy['id']}") as healthy_ws:
        assert recv_json(healthy_ws)["type"] == "turn"
        first = recv_json(healthy_ws)  # the healthy turn is streaming
        assert first["type"] == "delta"

        started = time.monotonic()
        failing = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        with hx.ws_connect(f"{server.ws_url}/ws?session={failing['id']}") as failing_ws:
            frames, end = follow(failing_ws, failing["turn_id"])
        elapsed = time.monotonic() - started

        rest, healthy_end = recv_turn(healthy_ws, timeout=30)
    assert healthy_end["type"] == "done"
    assert text_of([first, *rest]) == HEALTHY_TEXT

    turn = hx.get(f"{server.base_url}/api/sessions/{failing['id']}").json()["turns"][0]
    assert turn["text"] == text_of(frames)
    if case.end[0] == "done":
        assert (end["type"], turn["status"], turn["text"]) == ("done", "complete", case.end[1])
    else:
        assert (end["type"], end["code"], end["retryable"]) == ("error", case.end[1], True)
        assert turn["status"] == "failed"
        assert turn["error"]["code"] == case.end[1]
        if case.partial:
            assert turn["text"], "the text streamed before the fault is kept"
        if "retry_after" in case.extra:
            assert end["retry_after"] == case.extra["retry_after"]
    if "min_seconds" in case.extra:
        # The SDK's own back-off is at most 0.5 s here: waiting this long means retry-after was honoured.
        assert elapsed >= case.extra["min_seconds"]


def test_after_a_fault_the_candidate_retries_the_turn(
    server: ServerThread, upstream: MockOpenAI, proxy: FaultProxy
) -> None:
    """A turn cut mid-stream is written again by a retry frame: a new turn that completes."""
    upstream.enqueue(Cut(after_tokens=3), Reply(text=RECOVERED))
    session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
    wait_turn(server, session["id"], session["turn_id"])
    with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
        ws.send(json.dumps({"type": "retry"}))
        frames, done = recv_turn(ws)
    assert (done["type"], text_of(frames)) == ("done", RECOVERED)
    statuses = [
        t["status"] for t in hx.get(f"{server.base_url}/api/sessions/{session['id']}").json()["turns"]
    ]
    assert statuses == ["failed", "complete"]


def test_an_unresolvable_host_is_upstream_unavailable(settings: Settings) -> None:
    """A base URL whose host does not resolve ends the turn upstream_unavailable, naming the URL."""
    with serving(
        settings, backend="openai", openai_base_url="http://nonexistent.invalid/v1", upstream_max_retries=0
    ) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        body = wait_turn(server, session["id"], session["turn_id"])
    assert "upstream_unavailable" in body
    assert "nonexistent.invalid" in body
    assert "Traceback" not in body


def _backend(upstream: MockOpenAI, **options: Any) -> OpenAIBackend:
    return OpenAIBackend(
        base_url=upstream.base_url, api_key="k", model="mock-model", read_timeout=5.0, **options
    )


async def _drain(backend: OpenAIBackend, received: list[str]) -> None:
    async for item in backend.stream([ChatMessage("user", "Hi")], GenerationParams()):
        if isinstance(item, str):
            received.append(item)


async def test_the_first_token_retry_is_bounded(upstream: MockOpenAI) -> None:
    """An upstream silent on every attempt gives upstream_timeout after max_retries + 1 requests."""
    upstream.enqueue(Hang(after_tokens=0), Hang(after_tokens=0), Reply(text="never asked for"))
    backend = _backend(upstream, max_retries=1, first_token_timeout=0.2)
    with pytest.raises(UpstreamTimeout) as raised:
        await _drain(backend, [])
    await backend.aclose()
    assert "HOTSEAT_UPSTREAM_FIRST_TOKEN_TIMEOUT" in raised.value.message
    assert [await upstream.wait_for_outcome_async(i) for i in range(2)] == ["client_closed"] * 2
    assert len(upstream.requests) == 2


async def test_nothing_is_retried_once_text_has_streamed(upstream: MockOpenAI) -> None:
    """A stall after the first text is not retried: one request, the text so far, then upstream_timeout."""
    upstream.enqueue(Hang(after_tokens=2), Reply(text="never asked for"))
    backend = OpenAIBackend(
        base_url=upstream.base_url, api_key="k", model="m", read_timeout=0.5, max_retries=2,
        first_token_timeout=0.2,
    )  # fmt: skip
    received: list[str] = []
    with pytest.raises(UpstreamTimeout):
        await _drain(backend, received)
    await backend.aclose()
    assert received == [" tok1", " tok2"]
    assert len(upstream.requests) == 1
