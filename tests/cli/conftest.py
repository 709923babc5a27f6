"""Fixtures for the terminal client's tests: tmux, a client config dir, a CV file, `hotseat serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tmux import Tmux

from hx import API_KEY


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """The client's environment: its own config dir (so its own identity) and a UTF-8 locale."""
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


@pytest.fixture
def tmux(client_env: dict[str, str]) -> Iterator[Tmux]:
    terminal = Tmux(client_env)
    try:
        yield terminal
    finally:
        terminal.close()


@pytest.fixture
def cv_file(tmp_path: Path) -> Path:
    path = tmp_path / "jane-doe.md"
    path.write_text(
        "# Jane Doe\n\nSenior engineer at Acme. Led the billing migration: 40,000 customers in six weeks.\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A real `hotseat serve` process (scripted backend, the test suite's API key); its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "HOTSEAT_BACKEND": "scripted",
        "HOTSEAT_DATA_DIR": str(tmp_path / "served"),
        "HOTSEAT_API_KEYS": API_KEY,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hotseat", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/api/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "hotseat serve did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
