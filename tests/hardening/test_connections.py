"""One client cannot take every streaming slot; an oversized message gets a readable close (#22.1, 22.8)."""

from __future__ import annotations

import base64
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from hardening_kit import open_connections, recv_json, recv_turn, serving, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hotseat.config import Settings
from hotseat.serving import ServerThread


def handshake(server: ServerThread, path: str, source: str = "127.0.0.1", extra: str = "") -> socket.socket:
    """A WebSocket from ``source`` (any 127/8 address is this machine), up to the 101, and no further."""
    sock = socket.create_connection(("127.0.0.1", server.port), source_address=(source, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@contextmanager
def ws_from(server: ServerThread, source: str) -> Iterator[ClientConnection]:
    """A browser-like WebSocket client (no key, no cookie) connecting from ``source``."""
    sock = socket.create_connection(("127.0.0.1", server.port), source_address=(source, 0))
    with connect(f"{server.ws_url}/ws", sock=sock) as ws:
        yield ws


def test_silent_cookieless_sockets_from_one_address_leave_room_for_others(settings: Settings) -> None:
    """50 cookieless sockets that send nothing, from one address, hold at most its share
    (HOTSEAT_MAX_CONNECTIONS_PER_IP); a client at another address still streams."""
    with (
        serving(
            settings, max_connections=50, max_connections_per_ip=20, ws_start_timeout_seconds=60
        ) as server,
        ExitStack() as stack,
    ):
        for _ in range(50):
            stack.callback(handshake(server, "/ws").close)
        wait_for(lambda: open_connections(server) == 20)
        with ws_from(server, "127.0.0.2") as ws:
            ws.send(json.dumps({"type": "start", "pack": "backend-engineer"}))
            assert recv_json(ws)["type"] == "session"
            frames, end = recv_turn(ws)
        assert end["type"] == "done", end
        assert any(f["type"] == "delta" for f in frames)


def test_a_socket_over_the_address_cap_is_told_why(settings: Settings) -> None:
    """The socket past HOTSEAT_MAX_CONNECTIONS_PER_IP gets a rate_limited frame naming it, and 1008."""
    with serving(settings, max_connections_per_ip=2) as server, ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(ws_from(server, "127.0.0.3"))
        with ws_from(server, "127.0.0.3") as third:
            frame = recv_json(third)
            with pytest.raises(ConnectionClosed) as closed:
                third.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert frame["code"] == "rate_limited" and "HOTSEAT_MAX_CONNECTIONS_PER_IP" in frame["message"]


def test_a_socket_that_never_starts_a_session_is_closed(settings: Settings) -> None:
    """Without ?session=, a socket that sends no start frame in time gets a bad_request frame and
    1008, and its connection slot is free again."""
    with serving(settings, ws_start_timeout_seconds=0.5) as server:
        with ws_from(server, "127.0.0.1") as ws:
            frame = recv_json(ws, timeout=10)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        wait_for(lambda: open_connections(server) == 0, timeout=10)
    assert frame["code"] == "bad_request" and "within 0.5 s" in frame["message"]


def test_an_oversized_message_gets_a_1009_close_not_a_reset(settings: Settings) -> None:
    """A 4 MiB message against the 64 KiB limit: the client reads a close 1009 and a clean end
    (FIN), not a TCP reset, so it can tell why it was dropped."""
    with serving(settings) as server:
        sock = handshake(server, "/ws")
        size = 4 * 1024 * 1024
        header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", size) + b"\0\0\0\0"  # masked text
        sock.settimeout(10)
        sock.sendall(header + b"x" * size)  # raises ConnectionResetError if the server resets
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        sock.close()
    assert received[0] == 0x88, received[:20]  # a close frame
    (code,) = struct.unpack("!H", received[2:4])
    assert code == 1009


@pytest.mark.parametrize("sent", [b"", b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_a_connection_whose_request_head_never_completes_is_closed(settings: Settings, sent: bytes) -> None:
    """A client that sends nothing, or half a head, is disconnected after
    HOTSEAT_REQUEST_HEAD_TIMEOUT_SECONDS instead of holding its socket forever."""
    with serving(settings, request_head_timeout_seconds=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(sent)
        sock.settimeout(10)
        assert sock.recv(4096) == b""  # the server's FIN, well before the 10 s of this recv
        sock.close()
        # A prompt client is not affected, over several requests on one connection.
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(3):
                assert client.get("/api/health").status_code == 200
                time.sleep(0.3)


def test_hotseat_serve_raises_the_open_files_limit(tmp_path: Path) -> None:
    """Started with a soft limit of 256 open files, `hotseat serve` runs with its hard limit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    env = {"HOTSEAT_DATA_DIR": str(tmp_path), "HOTSEAT_BACKEND": "scripted", "PATH": "/usr/bin:/bin"}

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotseat", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=low_limit,
    )
    try:
        wait_for(lambda: _answers(port), timeout=60)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert line.split()[3:5] == [str(hard), str(hard)], line


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
