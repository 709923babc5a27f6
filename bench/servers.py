"""The processes a benchmark run measures, each started fresh on a free port.

- the mock upstream (``python -m doubles.mock_openai``, on uvloop);
- the naive relay (``python -m uvicorn bench.naive_relay:app``, uvicorn defaults);
- hotseat (``python -m hotseat serve``) with ``HOTSEAT_BACKEND=openai`` pointed at
  the mock, ``HOTSEAT_MAX_TOKENS`` set to the scenario's reply length, and a
  temporary ``HOTSEAT_DATA_DIR``; run from a temporary directory so no ``.env``
  is picked up.

``hotseat_src`` runs another copy of the ``hotseat`` package (say, a commit
exported with ``git archive``) instead of the installed working tree, for all
three. Output goes to a log file per process (never a pipe that could fill). Every
address is on 127.0.0.1. Readiness is polled with a bounded number of tries.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


# A directory holding the ``hotseat`` package to run instead of the installed one (``--hotseat-src``).
hotseat_src: Path | None = None
# ``bench.run --pin``: the CPUs (a ``taskset -c`` list) each process, by name, is confined to.
pinned_cpus: dict[str, str] = {}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS and not k.startswith("HOTSEAT_")}
    env["NO_PROXY"] = "*"
    paths = [str(hotseat_src)] if hotseat_src else []
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO_ROOT), *inherited])
    env.update(extra)
    return env


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.proc.returncode}):\n{server.log_tail()}")
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} did not become ready in {timeout:g} s:\n{server.log_tail()}")


def _spawn(
    name: str, argv: list[str], env: dict[str, str], cwd: Path, logs: Path, ready_path: str, port: int
) -> Server:
    logs.mkdir(parents=True, exist_ok=True)
    fd, log_name = tempfile.mkstemp(prefix=f"{name}-{port}-", suffix=".log", dir=logs)
    log_path = Path(log_name)
    if name in pinned_cpus:
        argv = ["taskset", "-c", pinned_cpus[name], *argv]  # taskset execs: the pid is the server's
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    server = Server(name, proc, port, log_path)
    _wait_ready(server, ready_path, 60.0)
    return server


def start_mock(tokens: int, delay_ms: float, ttft_ms: float, logs: Path) -> Server:
    port = free_port()
    argv = [
        sys.executable, "-m", "doubles.mock_openai", "--host", HOST, "--port", str(port),
        "--tokens", str(tokens), "--delay-ms", str(delay_ms), "--ttft-ms", str(ttft_ms),
        "--model", "mock", "--uvloop",
    ]  # fmt: skip
    return _spawn("mock", argv, _env({}), REPO_ROOT, logs, "/v1/models", port)


def start_naive(upstream: Server, logs: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.naive_relay:app", "--host", HOST, "--port", str(port)]
    env = _env({"NAIVE_RELAY_BASE_URL": f"{upstream.url}/v1", "NAIVE_RELAY_MODEL": "mock"})
    return _spawn("naive", argv, env, REPO_ROOT, logs, "/docs", port)


def start_floor(upstream: Server, logs: Path) -> Server:
    """``bench.floor_relay`` under uvicorn with hotseat's serving options (no access log, no deflate)."""
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "bench.floor_relay:app", "--host", HOST, "--port", str(port),
        "--no-access-log", "--ws-per-message-deflate", "false",
    ]  # fmt: skip
    env = _env({"FLOOR_RELAY_BASE_URL": f"{upstream.url}/v1", "FLOOR_RELAY_MODEL": "mock"})
    return _spawn("floor", argv, env, REPO_ROOT, logs, "/docs", port)


def start_hotseat(
    upstream: Server, tokens: int, logs: Path, extra_env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=f"hotseat-data-{port}-", dir=logs))
    env = _env(
        {
            "HOTSEAT_BACKEND": "openai",
            "HOTSEAT_OPENAI_BASE_URL": f"{upstream.url}/v1",
            "HOTSEAT_MODEL": "mock",
            "HOTSEAT_MAX_TOKENS": str(tokens),
            "HOTSEAT_DATA_DIR": str(data_dir),
            # The benchmarks measure streaming, not the abuse limits (docs/security.md): one owner
            # holds S4's 10,000 connections, and S2 starts 1,000 sessions in 5 s from 16 addresses.
            "HOTSEAT_MAX_CONNECTIONS": "0",
            "HOTSEAT_MAX_CONNECTIONS_PER_OWNER": "0",
            "HOTSEAT_MAX_CONNECTIONS_PER_IP": "0",  # every client is 127.0.0.1 (A3: 1,000 of them)
            "HOTSEAT_MAX_RUNNING_TURNS_PER_OWNER": "0",
            "HOTSEAT_MAX_SESSIONS_PER_OWNER": "0",
            "HOTSEAT_ANSWER_RATE_PER_MINUTE": "0",
            "HOTSEAT_ANSWER_RATE_PER_MINUTE_PER_IP": "0",
            **(extra_env or {}),
        }
    )
    argv = [sys.executable, "-m", "hotseat", "serve", "--host", HOST, "--port", str(port)]
    return _spawn("hotseat", argv, env, data_dir, logs, "/api/health", port)


@contextmanager
def running(*servers: Server) -> Iterator[None]:
    """Stop the servers (last started first) when the block ends, however it ends."""
    try:
        yield
    finally:
        for server in reversed(servers):
            server.stop()
