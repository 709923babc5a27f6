"""hotseat with the real embedded model: streaming, queueing, cancel and a responsive server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import recv_json, recv_turn, text_of, wait_quiet

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.serving import ServerThread
from hx import ws_connect

pytest.importorskip("llama_cpp")


def local_settings(data_dir: Path, max_tokens: int) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        backend="local",
        api_keys=hx.API_KEY,
        local_context_size=1024,
        max_tokens=max_tokens,
        orphan_grace_seconds=60,
        # These tests are about the model's own streaming: the free style streams every token of it.
        interview_style="free",
    )


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One server on the default embedded model (small context and short replies keep it quick)."""
    with ServerThread(create_app(local_settings(tmp_path_factory.mktemp("local"), 24))) as server:
        yield server


def new_session(server: ServerThread) -> dict[str, str]:
    response = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"}, timeout=30)
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def test_health_names_the_embedded_model(local_server: ServerThread) -> None:
    """With no settings, the backend is the embedded SmolLM2 model."""
    health = hx.get(f"{local_server.base_url}/api/health", timeout=30).json()
    assert health["backend"] == "local"
    assert health["model"].startswith("SmolLM2-135M-Instruct")


def test_opening_streams_token_by_token_and_health_answers_meanwhile(local_server: ServerThread) -> None:
    """The real model streams deltas one by one, then done with usage; /api/health answers mid-turn."""
    session = new_session(local_server)
    health_during_turn = False
    with ws_connect(f"{local_server.ws_url}/ws?session={session['id']}") as ws:
        assert recv_json(ws, timeout=60)["type"] == "turn"
        frames = []
        while True:
            frame = recv_json(ws, timeout=60)
            if frame["type"] == "delta" and not health_during_turn:
                health = hx.get(f"{local_server.base_url}/api/health", timeout=5)
                assert health.status_code == 200
                health_during_turn = health.json()["running_turns"] == 1
            if frame["type"] in ("done", "error"):
                break
            frames.append(frame)
    assert frame["type"] == "done", frame
    assert frame["usage"]["completion_tokens"] > 0
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) >= 2
    assert health_during_turn
    turn = hx.get(f"{local_server.base_url}/api/sessions/{session['id']}", timeout=30).json()["turns"][0]
    assert turn["text"] == text_of(frames)


def test_second_session_waits_in_the_queue_with_its_position(local_server: ServerThread) -> None:
    """Two turns at once on one model: the second is told it is queued at position 1, then streams."""
    first = new_session(local_server)
    second = new_session(local_server)
    with ws_connect(f"{local_server.ws_url}/ws?session={second['id']}&turn_id={second['turn_id']}") as ws:
        frames, terminal = recv_turn(ws, timeout=120)
    with hx.client(local_server.base_url, timeout=30) as client:
        wait_quiet(client, first["id"], limit=120)
    queued = [f for f in frames if f["type"] == "queued"]
    assert queued and queued[0]["position"] == 1
    assert terminal["type"] == "done"
    assert text_of(frames)


def test_cancel_mid_generation(tmp_path: Path) -> None:
    """A cancel frame stops the real model mid-reply (of up to 400 tokens); the partial text is kept."""
    with ServerThread(create_app(local_settings(tmp_path, 400))) as server:
        session = new_session(server)
        frames, terminal, first = cancel_after_first_delta(server, session)
        turn = hx.get(f"{server.base_url}/api/sessions/{session['id']}", timeout=30).json()["turns"][0]
    assert terminal["type"] == "done"
    assert terminal["finish_reason"] == "cancelled"
    assert turn["status"] == "cancelled"
    assert turn["text"] == text_of([first, *frames])


def cancel_after_first_delta(
    server: ServerThread, session: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    with ws_connect(f"{server.ws_url}/ws?session={session['id']}&turn_id={session['turn_id']}") as ws:
        frame = recv_json(ws, timeout=60)
        while frame["type"] != "delta":
            frame = recv_json(ws, timeout=60)
        ws.send(json.dumps({"type": "cancel"}))
        frames, terminal = recv_turn(ws, timeout=60, after=frame["seq"])
    return frames, terminal, frame
