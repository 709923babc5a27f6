"""The test suite's HTTP and WebSocket client: one API-key owner for every call.

Every session belongs to an owner (a cookie or an API key); the tests act as
the API-key client configured in ``conftest.py``. Identity itself is tested in
``tests/api/test_identity.py``.
"""

from __future__ import annotations

from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

API_KEY = "test-suite-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# The same, as a line of a raw HTTP head.
AUTH_HEADER = f"Authorization: Bearer {API_KEY}"


def _headers(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs["headers"] = {**AUTH, **(kwargs.get("headers") or {})}
    return kwargs


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, **_headers(kwargs))


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, **_headers(kwargs))


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.delete(url, **_headers(kwargs))


def stream(method: str, url: str, **kwargs: Any) -> Any:
    return httpx.stream(method, url, **_headers(kwargs))


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, **_headers(kwargs))


def ws_connect(url: str, **kwargs: Any) -> ClientConnection:
    kwargs["additional_headers"] = {**AUTH, **(kwargs.get("additional_headers") or {})}
    return connect(url, **kwargs)
