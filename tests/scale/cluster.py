"""hotseat replicas as real ``python -m hotseat serve`` processes, and small clients for them.

Every replica of a cluster shares one PostgreSQL database, one Redis, one cookie
secret and the mock OpenAI upstream; each has its own port and data dir. Their
logs go to ``replica-N.log`` in the cluster's temp dir and are printed when a
replica fails to start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection

import hx
from datastores import free_port

# Short, so that a dead replica's turns end within seconds (two leases, see streaming/sweeper.py).
LEASE_SECONDS = 2.0
START_TIMEOUT = 60.0


class Replica:
    def __init__(self, name: str, env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = directory / f"{name}.log"
        data = directory / name
        data.mkdir(parents=True, exist_ok=True)
        self._env = {**os.environ, **env, "HOTSEAT_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
        self._cwd = data
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "hotseat", "serve", "--port", str(self.port)],
                env=self._env,
                cwd=self._cwd,  # no .env there
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``/api/ready`` answers 200: its database, Redis and pub/sub listener all work."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"replica {self.name} not ready within {timeout} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: the process dies at once, with no chance to clean up (a crashed machine)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(10)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Cluster:
    a: Replica
    b: Replica
    c: Replica
    env: dict[str, str]
    directory: Path

    @property
    def replicas(self) -> list[Replica]:
        return [self.a, self.b, self.c]


def replica_env(*, database_url: str, redis_url: str, upstream_url: str) -> dict[str, str]:
    return {
        "HOTSEAT_BACKEND": "openai",
        "HOTSEAT_OPENAI_BASE_URL": upstream_url,
        "HOTSEAT_MODEL": "mock-model",
        "HOTSEAT_UPSTREAM_MAX_RETRIES": "0",
        "HOTSEAT_DATABASE_URL": database_url,
        "HOTSEAT_REDIS_URL": redis_url,
        "HOTSEAT_SECRET_KEY": "one-secret-for-every-replica",
        "HOTSEAT_API_KEYS": hx.API_KEY,
        "HOTSEAT_TURN_LEASE_SECONDS": str(LEASE_SECONDS),
        "HOTSEAT_SHUTDOWN_GRACE_SECONDS": "1",
        "HOTSEAT_LOG_LEVEL": "warning",
    }


def start_session(replica: Replica) -> tuple[str, str]:
    """A new session through ``replica``: its opening turn runs there. Returns (session, turn)."""
    response = hx.post(f"{replica.url}/api/sessions", json={"pack": "backend-engineer"}, timeout=10)
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["turn_id"]


def turn_of(replica: Replica, session_id: str, turn_id: str) -> dict[str, Any]:
    response = hx.get(f"{replica.url}/api/sessions/{session_id}", timeout=10)
    assert response.status_code == 200, response.text
    (turn,) = [t for t in response.json()["turns"] if t["id"] == turn_id]
    return dict(turn)


def settled(replica: Replica, session_id: str, turn_id: str, timeout: float = 30) -> dict[str, Any]:
    """The turn once it no longer streams (bounded)."""
    deadline = time.monotonic() + timeout
    while (turn := turn_of(replica, session_id, turn_id))["status"] == "streaming":
        assert time.monotonic() < deadline, f"turn {turn_id} still streaming after {timeout} s"
        time.sleep(0.05)
    return turn


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The events of a live SSE response as they arrive, as frames like the WebSocket's.

    A delta's ``data`` is only its text; its type and seq come from the ``event`` and ``id`` lines.
    """
    data: str | None = None
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
        elif line.startswith(("id: ", "event: ")):
            name, _, value = line.partition(": ")
            fields[name] = value
        elif not line and data is not None:
            frame = json.loads(data)
            if fields.get("event") == "delta":
                frame = {"type": "delta", "seq": int(fields["id"]), **frame}
            yield frame
            data, fields = None, {}


def recv_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message = ws.recv(timeout=timeout)
    assert isinstance(message, str)
    frame: dict[str, Any] = json.loads(message)
    return frame


def recv_until_end(
    ws: ClientConnection, timeout: float = 10, after: int = 0
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A turn's frames until its terminal event, dropping seqs already seen: (frames, terminal)."""
    frames: list[dict[str, Any]] = []
    last = after
    while True:
        frame = recv_json(ws, timeout)
        if frame["type"] == "turn":
            continue
        if "seq" in frame:
            if frame["seq"] <= last:
                continue
            last = frame["seq"]
            if frame["type"] in ("done", "error"):
                return frames, frame
        frames.append(frame)


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["type"] == "delta")


def wait_until_ready(replicas: list[Replica], timeout: float = START_TIMEOUT) -> None:
    for replica in replicas:
        replica.wait_ready(timeout)
