"""Client plumbing shared by the load generator and the idle-connection hold.

A ``websockets`` client connection that counts the bytes it reads (``CountingConnection``,
passed as ``create_connection``), WebSocket URLs, JSON requests and SSE reading over
``bench.rawhttp``. Everything here stays on 127.0.0.0/8: callers pass the servers' own URLs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.rawhttp import HttpConnection, SseDecoder


class TurnFailed(Exception):
    """A turn ended without its full, exact text."""


class CountingConnection(ClientConnection):
    """A websockets client connection that counts the bytes it reads from the socket."""

    received = 0

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)


def ws_url(base: str, path: str) -> str:
    return "ws" + base.removeprefix("http") + path


def ws_connect(url: str, compression: bool, local_host: str | None = None, cookie: str | None = None) -> Any:
    """A ``websockets`` client connection; ``compression`` offers permessage-deflate as browsers do."""
    extra: dict[str, Any] = {"local_addr": (local_host, 0)} if local_host else {}
    if cookie:
        extra["additional_headers"] = {"Cookie": cookie}
    return connect(
        url,
        compression="deflate" if compression else None,
        create_connection=CountingConnection,
        proxy=None,
        max_size=None,
        ping_interval=None,  # the servers ping; the client only answers
        open_timeout=60,
        **extra,
    )


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def json_request(conn: HttpConnection, method: str, path: str, body: Any) -> dict[str, Any]:
    head = await conn.request(method, path, orjson.dumps(body))
    data = await conn.body()
    if head.status >= 300:
        raise TurnFailed(f"http {head.status}: {method} {path}: {data[:200]!r}")
    result: dict[str, Any] = orjson.loads(data)
    return result


async def read_sse(
    conn: HttpConnection, on_event: Callable[[str, bytes, float], bool], max_events: int
) -> bool:
    """Feed the response's SSE events to ``on_event`` until it returns True; read the body to its end."""
    decoder = SseDecoder()
    ended = False
    seen = 0
    async for piece in conn.stream():
        now = time.perf_counter()
        for event in decoder.feed(piece):
            seen += 1
            if seen > max_events:
                raise TurnFailed("too many events")
            if not ended and on_event(event.event, event.data, now):
                ended = True
    return ended
