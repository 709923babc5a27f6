"""Request bodies are counted as they arrive: an oversized one is refused early, per route (issue #22)."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from hardening_kit import serving

import hx
from hotseat.config import Settings
from hotseat.serving import ServerThread

CV_LIMIT = 1024 * 1024


def raw_request(server: ServerThread, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(head.encode())
    return sock


def read_response(sock: socket.socket, timeout: float = 10) -> bytes:
    """What the server sends until it closes the connection (or ``timeout`` passes)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def send_chunked_until_refused(sock: socket.socket, total: int, prefix: bytes = b"") -> tuple[int, bytes]:
    """Send ``prefix``, then up to ``total`` bytes as 64 KiB chunks, reading the response in parallel.

    Returns how many body bytes went out before the server answered (or the socket broke),
    and the response.
    """
    answered = threading.Event()
    response: list[bytes] = []

    def read() -> None:
        response.append(read_response(sock, timeout=60))
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    sock.settimeout(5)
    try:
        if prefix:
            sock.sendall(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
        while sent < total and not answered.is_set():
            sock.sendall(frame)
            sent += len(chunk)
    except OSError:
        pass  # the server closed the connection after its 413
    reader.join(60)
    sock.close()
    return sent, response[0] if response else b""


def test_a_chunked_cv_upload_is_refused_within_the_first_megabytes(settings: Settings) -> None:
    """A 3 GiB chunked upload (no Content-Length) gets 413 too_large after a few MB, not after 3 GiB."""
    with serving(settings, cv_max_bytes=CV_LIMIT) as server:
        sock = raw_request(
            server,
            f"POST /api/cvs HTTP/1.1\r\nHost: 127.0.0.1\r\n{hx.AUTH_HEADER}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="cv.txt"\r\n\r\n'
        sent, response = send_chunked_until_refused(sock, 3 * 1024**3, part)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"too_large"' in response and b"1 MB" in response
    # The limit plus what the kernel's socket buffers held when the answer came.
    assert sent < CV_LIMIT + 16 * 1024 * 1024, sent


@pytest.mark.parametrize("path", ["/api/cvs", "/api/sessions/x/answers", "/api/sessions/x/transcripts"])
def test_a_declared_oversized_body_is_refused_unread(settings: Settings, path: str) -> None:
    """A Content-Length over the limit is answered 413 before the client sends a byte of the body: a
    CV, and a recording (a spoken answer, or one to transcribe), whose limit is HOTSEAT_SPEECH_MAX_BYTES."""
    with serving(settings, cv_max_bytes=CV_LIMIT) as server:
        sock = raw_request(
            server,
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{hx.AUTH_HEADER}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {20 * 1024**3}\r\n\r\n",
        )
        response = read_response(sock)
        sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"connection: close" in response.lower()
    assert b'"too_large"' in response


def test_a_rate_limited_upload_is_refused_before_its_body_is_read(settings: Settings) -> None:
    """Past the upload burst, the 429 comes with no byte of the file sent: a refusal costs no disk."""
    with serving(settings, upload_burst=1) as server:
        first = hx.post(f"{server.base_url}/api/cvs", files={"file": ("cv.txt", b"Jane Doe, engineer " * 20)})
        assert first.status_code == 201, first.text
        sock = raw_request(
            server,
            f"POST /api/cvs HTTP/1.1\r\nHost: 127.0.0.1\r\n{hx.AUTH_HEADER}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 500000\r\n\r\n",
        )
        sock.settimeout(10)
        response = sock.recv(65536)
        sock.close()
    assert response.startswith(b"HTTP/1.1 429"), response[:200]


def test_a_chunked_json_body_is_refused_early(settings: Settings) -> None:
    """A chunked JSON body to any other route is refused once it passes 256 KiB, not held in memory."""
    with serving(settings) as server:
        sock = raw_request(
            server,
            f"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n{hx.AUTH_HEADER}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        sent, response = send_chunked_until_refused(sock, 2 * 1024**3)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 16 * 1024 * 1024, sent


def test_the_longest_answer_passes_even_with_every_character_escaped(settings: Settings) -> None:
    """Nothing lost: an answer of HOTSEAT_MAX_ANSWER_CHARS astral characters, JSON-escaped, is accepted."""
    with serving(settings, max_answer_chars=2000) as server:
        created = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"})
        assert created.status_code == 201, created.text
        session = created.json()["id"]
        hx.get(f"{server.base_url}/api/sessions/{session}/turns/{created.json()['turn_id']}/events")
        body = json.dumps({"text": "\U0001f600" * 2000})  # ensure_ascii: 12 bytes a character
        answered = hx.post(
            f"{server.base_url}/api/sessions/{session}/answers",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        too_long = hx.post(f"{server.base_url}/api/sessions/{session}/answers", json={"text": "a" * 2001})
    assert answered.status_code == 202, answered.text
    assert too_long.status_code == 400 and "2000 characters" in too_long.text
