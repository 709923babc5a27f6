"""The `hotseat` command: serve in a real process, list and validate packs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import hx

PYTHON = sys.executable


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "hotseat", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("access_log", [False, True])
def test_serve_runs_a_real_server_and_stops_on_sigterm(tmp_path: Path, access_log: bool) -> None:
    """`python -m hotseat serve --port P` answers HTTP and WebSockets and exits cleanly on SIGTERM.

    Request lines (uvicorn's access log and its per-WebSocket lines) appear only with
    HOTSEAT_ACCESS_LOG=true; start-up and shutdown messages appear either way.
    """
    port = free_port()
    env = {
        **os.environ,
        "HOTSEAT_BACKEND": "scripted",
        "HOTSEAT_DATA_DIR": str(tmp_path),
        "HOTSEAT_API_KEYS": hx.API_KEY,
        "HOTSEAT_ACCESS_LOG": str(access_log).lower(),
    }
    process = subprocess.Popen(
        [PYTHON, "-m", "hotseat", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/api/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        assert health == {
            "status": "ok",
            "backend": "scripted",
            "model": "scripted",
            "model_title": "scripted",
            "model_advice": None,
            "running_turns": 0,
        }
        session = hx.post(f"{base}/api/sessions", json={"pack": "backend-engineer"}).json()
        with hx.ws_connect(
            f"ws://127.0.0.1:{port}/ws?session={session['id']}&turn_id={session['turn_id']}&after=0"
        ) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] in ("turn", "delta", "done")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean exit too.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Uvicorn running on" in output and "Application shutdown complete" in output
    for line in ('"GET /api/health HTTP/1.1" 200', '"POST /api/sessions HTTP/1.1" 201', "[accepted]"):
        assert (line in output) == access_log, output
    assert ("connection open" in output) == access_log, output
    assert (tmp_path / "hotseat.db").exists()


def test_packs_list_names_the_builtin_packs() -> None:
    """`hotseat packs list` shows every built-in pack."""
    result = run_cli("packs", "list")
    assert result.returncode == 0, result.stderr
    for pack_id in ("general-behavioural", "backend-engineer", "cv-deep-dive"):
        assert pack_id in result.stdout


def test_packs_validate_reports_file_and_field(tmp_path: Path) -> None:
    """`hotseat packs validate` exits 1 and names the file and field of a broken pack."""
    good = Path(__file__).parents[1] / "src" / "hotseat" / "packs"
    assert run_cli("packs", "validate", str(good)).returncode == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: Broken\ndescription: x\nlanguage: en\nsystem_prompt: hi\nquestions: []\n")
    result = run_cli("packs", "validate", str(broken))
    assert result.returncode == 1
    assert "broken.yaml" in result.stdout
    assert "questions" in result.stdout


def test_operator_pack_dir_is_loaded(tmp_path: Path) -> None:
    """HOTSEAT_PACKS_DIR adds the operator's packs to the built-in ones."""
    (tmp_path / "mine.yaml").write_text(
        "title: My pack\ndescription: Mine.\nlanguage: en\n"
        "system_prompt: You are a brilliant interviewer.\n"
        "questions:\n  - question: Why us?\n    assessment: [Knows the company]\n"
    )
    result = run_cli("packs", "list", env={**os.environ, "HOTSEAT_PACKS_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "mine" in result.stdout
