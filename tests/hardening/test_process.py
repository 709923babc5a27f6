"""A real `hotseat serve` process: SIGTERM drains turns, then 1012; SIGKILL leaves no half-written turn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hardening_kit import recv_json, recv_turn, text_of, wait_for
from websockets.exceptions import ConnectionClosed

import hx
from doubles.mock_openai import MockOpenAI, Reply

PACK = {"pack": "backend-engineer"}


class Process:
    """``hotseat serve`` on a free port with the openai backend pointed at the mock upstream."""

    def __init__(self, data_dir: Path, upstream: MockOpenAI, grace: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTSEAT_")}
        env.update(
            HOTSEAT_BACKEND="openai",
            HOTSEAT_OPENAI_BASE_URL=upstream.base_url,
            HOTSEAT_MODEL="mock-model",
            HOTSEAT_DATA_DIR=str(data_dir),
            HOTSEAT_API_KEYS=hx.API_KEY,
            HOTSEAT_SHUTDOWN_GRACE_SECONDS=str(grace),
            HOTSEAT_UPSTREAM_MAX_RETRIES="0",
            HOTSEAT_MAX_TOKENS="4000",
            HOTSEAT_LOG_LEVEL="info",
            NO_PROXY="*",
        )
        self.log = data_dir / f"serve-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hotseat", "serve", "--port", str(self.port)],
                env=env,
                cwd=data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=60)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            return hx.get(f"{self.base_url}/api/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def signal(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def processes(tmp_path: Path, upstream: MockOpenAI) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def start(processes: list[Process], tmp_path: Path, upstream: MockOpenAI, grace: float = 10) -> Process:
    process = Process(tmp_path, upstream, grace)
    processes.append(process)
    return process


def read_sse_in_background(url: str, into: list[str]) -> threading.Thread:
    """Read a whole SSE response in a thread; returns once the response has started."""
    started = threading.Event()

    def read() -> None:
        with hx.stream("GET", url, timeout=60) as response:
            started.set()
            into.append(response.read().decode())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert started.wait(30)
    return thread


def closed_code(ws: Any) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=30)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


def test_sigterm_lets_a_running_turn_finish_then_closes_with_1012(
    processes: list[Process], tmp_path: Path, upstream: MockOpenAI
) -> None:
    """Within the grace period the turn ends normally, WS and SSE readers get `done`, then close 1012."""
    upstream.enqueue(Reply(token_count=40, delay=0.05))
    server = start(processes, tmp_path, upstream, grace=30)
    session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
    sse: list[str] = []
    reader = read_sse_in_background(
        f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events", sse
    )
    with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
        assert recv_json(ws)["type"] == "turn"
        first = recv_json(ws)
        server.proc.send_signal(signal.SIGTERM)
        rest, done = recv_turn(ws, timeout=30)
        assert done["type"] == "done"
        assert text_of([first, *rest]) == "".join(f" tok{i}" for i in range(1, 41))
        assert closed_code(ws) == 1012
    assert server.proc.wait(60) in (0, -signal.SIGTERM)
    reader.join(30)
    assert "event: done" in sse[0]
    log = server.log.read_text()
    assert "Draining" in log and "Traceback" not in log

    again = start(processes, tmp_path, upstream)
    turn = hx.get(f"{again.base_url}/api/sessions/{session['id']}").json()["turns"][0]
    assert (turn["status"], turn["text"]) == ("complete", text_of([first, *rest]))


def test_sigterm_interrupts_a_turn_past_the_grace_and_keeps_its_text(
    processes: list[Process], tmp_path: Path, upstream: MockOpenAI
) -> None:
    """Past the grace period the turn is stored interrupted with its text; readers get the error and 1012."""
    upstream.enqueue(Reply(token_count=4000, delay=0.01))
    server = start(processes, tmp_path, upstream, grace=1)
    session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
    sse: list[str] = []
    reader = read_sse_in_background(
        f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events", sse
    )
    with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
        assert recv_json(ws)["type"] == "turn"
        first = recv_json(ws)
        server.proc.send_signal(signal.SIGTERM)
        rest, end = recv_turn(ws, timeout=30)
        assert (end["type"], end["code"], end["retryable"]) == ("error", "interrupted", True)
        assert closed_code(ws) == 1012
    assert server.proc.wait(60) in (0, -signal.SIGTERM)
    reader.join(30)
    assert "interrupted" in sse[0]

    again = start(processes, tmp_path, upstream)
    turns = hx.get(f"{again.base_url}/api/sessions/{session['id']}").json()["turns"]
    assert (turns[0]["status"], turns[0]["error"]["code"]) == ("interrupted", "interrupted")
    assert turns[0]["text"] == text_of([first, *rest])
    assert "marked" not in again.log.read_text()  # nothing was left streaming
    # The candidate carries on: the retry is a new, complete turn.
    upstream.enqueue(Reply(text="Let me ask that again."))
    retried = hx.post(f"{again.base_url}/api/sessions/{session['id']}/retry").json()
    with hx.ws_connect(f"{again.ws_url}/ws?session={session['id']}") as ws:
        ws.send(f'{{"type": "resume", "turn_id": "{retried["turn_id"]}"}}')
        frames, done = recv_turn(ws)
    assert (done["type"], text_of(frames)) == ("done", "Let me ask that again.")


def test_sigkill_mid_turn_is_marked_interrupted_on_the_next_start(
    processes: list[Process], tmp_path: Path, upstream: MockOpenAI
) -> None:
    """A process killed mid-turn leaves it `streaming`; a restart on that data dir marks it interrupted."""
    upstream.enqueue(Reply(token_count=4000, delay=0.01))
    server = start(processes, tmp_path, upstream)
    session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
    with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
        assert recv_json(ws)["type"] == "turn"
        assert recv_json(ws)["type"] == "delta"
        assert server.signal(signal.SIGKILL) == -signal.SIGKILL
        assert closed_code(ws) in (None, 1006)  # no close frame: the process is gone

    again = start(processes, tmp_path, upstream)
    assert "marked 1 turn(s) left streaming" in again.log.read_text()
    turn = hx.get(f"{again.base_url}/api/sessions/{session['id']}").json()["turns"][0]
    assert (turn["status"], turn["error"]["code"]) == ("interrupted", "interrupted")
    events = hx.get(f"{again.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events")
    assert "event: error" in events.text and "interrupted" in events.text
