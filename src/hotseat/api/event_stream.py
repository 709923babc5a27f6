"""``EventStream``: a Server-Sent Events response on Starlette's public ``Response``.

The body is already SSE bytes (each log event is framed once, ``streaming.events``), so
what a response adds is small: the headers, keep-alive comments while idle, the end of the
response when the client disconnects, and a bound on every send. Three asyncio tasks do it
(the stream, the pings, the disconnect listener); the first to end ends the response.

Why not sse-starlette: its public ``EventSourceResponse`` runs an anyio task group per
response (memory every idle connection keeps, S4 in docs/performance.md), opens an anyio
cancel scope per send for its timeout (CPU on every token), and patches uvicorn's exit handler
when imported; hotseat had to override its private hooks to avoid all three. Starlette's
own ``StreamingResponse`` neither pings nor, under uvicorn (ASGI 2.3), ends without its
task group. The protocol here is docs/protocol.md's "Server-Sent Events".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from hotseat.api.send_watchdog import SendGuard

logger = logging.getLogger(__name__)

_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


class ClientStoppedReading(TimeoutError):
    """A send waited longer than ``HOTSEAT_SEND_TIMEOUT_SECONDS``: the client stopped reading."""


class EventStream(Response):
    """``body`` (SSE bytes) as a ``text/event-stream`` response, with pings every ``ping`` seconds.

    ``guard`` bounds every send (the app's send watchdog); ``on_close`` runs once when the
    response is over, however it ended (a client gone, a send stalled, the stream done).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncGenerator[bytes, None],
        *,
        ping: float,
        guard: SendGuard,
        on_close: Callable[[], Awaitable[None]],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.body_iterator = body
        self.status_code = status_code
        self.background = None
        # X-Accel-Buffering: a proxy such as nginx must not hold events back to fill its buffer.
        fixed = {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
        self.init_headers({**fixed, **(headers or {})})
        self.ping_seconds = ping
        self.guard = guard
        self.on_close = on_close
        # The end and a ping never race: no ping follows the end (uvicorn would refuse it).
        self._lock = asyncio.Lock()
        self._ended = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await self._send(send, start)
            await self._race(receive, send)
        except ClientStoppedReading:
            # An expected end, not a server error.
            logger.info("dropped an SSE client that stopped reading")
        finally:
            self.guard.close()
            await self.body_iterator.aclose()  # its finally runs now, whoever ended the response
            await self.on_close()

    async def _race(self, receive: Receive, send: Send) -> None:
        parts = [self._stream(send), _disconnected(receive)]
        if self.ping_seconds > 0:
            parts.append(self._ping(send))
        tasks = [asyncio.create_task(part) for part in parts]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise cast(BaseException, task.exception())

    async def _stream(self, send: Send) -> None:
        async for chunk in self.body_iterator:
            await self._send(send, {"type": "http.response.body", "body": chunk, "more_body": True})
        async with self._lock:
            await self._send(send, _END)
            self._ended = True

    async def _ping(self, send: Send) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            # A comment line, as EventSource ignores it; the format is the one sse-starlette sent.
            comment = f": ping - {datetime.now(UTC)}\r\n\r\n".encode()
            async with self._lock:
                if self._ended:
                    return
                await self._send(send, {"type": "http.response.body", "body": comment, "more_body": True})

    async def _send(self, send: Send, message: Message) -> None:
        with self.guard:
            await send(message)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
