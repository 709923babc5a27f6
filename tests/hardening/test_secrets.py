"""Secrets stay secret, and the server answers only as configured: credentials, metrics, hosts (#22.9)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hardening_kit import serving, wait_turn
from pydantic import SecretStr, ValidationError

import hx
from doubles.mock_openai import MockOpenAI, Reply
from hotseat.config import Settings

PACK = {"pack": "backend-engineer"}


def with_credentials(url: str, user: str = "alice", password: str = "s3cr%40t") -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def test_a_base_url_with_user_and_password_works_as_basic_auth(
    settings: Settings, upstream: MockOpenAI
) -> None:
    """user:password@ in HOTSEAT_OPENAI_BASE_URL streams turns (sent as basic auth), instead of
    failing every turn as a "malformed reply"."""
    upstream.enqueue(Reply(text="Tell me about a system you built."))
    base_url = with_credentials(upstream.base_url)
    with serving(settings, backend="openai", openai_base_url=base_url, model="mock-model") as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        body = wait_turn(server, session["id"], session["turn_id"])
    assert "event: done" in body, body
    (request,) = upstream.wait_for_requests(1)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()


def test_upstream_errors_never_show_the_credentials(settings: Settings) -> None:
    """An unreachable model server's error names its URL without the user and password in it."""
    base_url = with_credentials("http://127.0.0.1:9/v1")
    with serving(settings, backend="openai", openai_base_url=base_url, upstream_max_retries=0) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        body = wait_turn(server, session["id"], session["turn_id"])
        stored = hx.get(f"{server.base_url}/api/sessions/{session['id']}").text
    assert "upstream_unavailable" in body and "http://127.0.0.1:9/v1" in body
    for text in (body, stored):
        assert "alice" not in text and "s3cr" not in text


def test_a_base_url_password_and_an_api_key_together_are_refused(tmp_path: Path) -> None:
    """Both would be the Authorization header: the settings refuse to start, naming both."""
    with pytest.raises(ValidationError, match="HOTSEAT_OPENAI_API_KEY"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=tmp_path,
            openai_base_url=with_credentials("https://llm.example.com/v1"),
            openai_api_key="sk-1",
        )


def test_secrets_are_not_shown_by_the_settings(settings: Settings) -> None:
    """API keys and the metrics token are SecretStr: a logged or printed Settings does not show them."""
    configured = settings.model_copy(update={"metrics_token": settings.api_keys})
    assert hx.API_KEY not in repr(configured) and hx.API_KEY not in str(configured.model_dump())
    assert configured.api_key_list() == [hx.API_KEY]


def test_metrics_can_require_a_bearer_token(settings: Settings) -> None:
    """With HOTSEAT_METRICS_TOKEN, /metrics is 401 without the token, served with it, and sets no cookie."""
    with serving(settings, metrics_token=SecretStr("scrape-me")) as server:
        url = f"{server.base_url}/metrics"
        refused = httpx.get(url)
        wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
        served = httpx.get(url, headers={"Authorization": "Bearer scrape-me"})
    assert refused.status_code == 401 and "HOTSEAT_METRICS_TOKEN" in refused.json()["error"]["message"]
    assert wrong.status_code == 401
    assert served.status_code == 200 and "hotseat_" in served.text
    assert "set-cookie" not in served.headers


def test_an_empty_secret_key_file_is_refused_at_start(tmp_path: Path) -> None:
    """A truncated data-dir secret_key would sign cookies with a key anyone knows: `hotseat serve`
    exits with a message saying what to do."""
    (tmp_path / "secret_key").write_bytes(b"\n")
    env = {"HOTSEAT_DATA_DIR": str(tmp_path), "HOTSEAT_BACKEND": "scripted", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hotseat", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = " ".join((done.stdout + done.stderr).split())  # the console wraps long lines
    assert done.returncode == 2
    assert "Cannot start:" in output and "secret_key holds 0 bytes" in output
    assert "HOTSEAT_SECRET_KEY" in output and "Traceback" not in output


def test_only_the_allowed_host_names_are_answered(settings: Settings) -> None:
    """HOTSEAT_ALLOWED_HOSTS: a rebound name gets 400 bad_request (a WebSocket 403); the own name passes."""
    with serving(settings, allowed_hosts="127.0.0.1, *.example.com") as server:
        own = hx.get(f"{server.base_url}/api/packs")
        sub = hx.get(f"{server.base_url}/api/packs", headers={"Host": "hotseat.example.com"})
        rebound = hx.get(f"{server.base_url}/api/packs", headers={"Host": "attacker.test:8000"})
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: attacker.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.settimeout(10)
        handshake = sock.recv(4096)
        sock.close()
    assert own.status_code == 200 and sub.status_code == 200
    assert rebound.status_code == 400 and "HOTSEAT_ALLOWED_HOSTS" in rebound.json()["error"]["message"]
    assert handshake.startswith(b"HTTP/1.1 403"), handshake
