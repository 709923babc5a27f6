"""One streaming chat-completion reply, read as raw server-sent-event lines.

Used by ``llm/openai.py``: ``SseReply`` turns the body's bytes into text
deltas, the finish reason and the usage; ``drain_then_release`` reads a finished
reply's body to its end, in the background, so that its connection is reused.
"""

from __future__ import annotations

import asyncio
from collections import deque

import aiohttp
import orjson

from hotseat.errors import UpstreamError
from hotseat.llm.base import Usage

# After [DONE], how long the body's end is waited for (in the background) to reuse the connection.
DRAIN_SECONDS = 2.0


class SseReply:
    """One streaming response's body, read as raw SSE lines.

    Typed chunks (the SDK's) cost a pydantic model per token; the raw lines parsed
    with orjson carry the same fields for a fraction of the CPU. Lines are split
    here from whatever bytes have arrived (``readany``: one await per read, no
    iterator layers). aiohttp has already decoded a body sent with
    ``Content-Encoding``.
    """

    def __init__(self, body: aiohttp.StreamReader) -> None:
        self._body = body
        self._loop = asyncio.get_running_loop()
        self.waiting_since: float | None = None  # while a read waits: when it began (StallWatch)
        self._lines: deque[bytes] = deque()
        self._partial = b""  # the start of a line whose end has not arrived
        self.finish_reason = "stop"
        self.usage: Usage | None = None
        self.done = False  # [DONE] has been read: nothing more is expected but the body's end

    async def _next_line(self) -> bytes | None:
        while not self._lines:
            self.waiting_since = self._loop.time()
            chunk = await self._body.readany()
            self.waiting_since = None
            if not chunk:  # the body is over
                if not self._partial:
                    return None
                self._lines.append(self._partial)
                self._partial = b""
                break
            # SSE ends lines with LF, CRLF or CR; a CRLF cut between chunks only adds a blank line.
            lines = (self._partial + chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            self._partial = lines.pop()
            self._lines.extend(lines)
        return self._lines.popleft()

    def stall(self) -> None:
        """Fail the waiting read (and every later one) as aiohttp's own read timeout would."""
        self.waiting_since = None
        self._body.set_exception(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))

    async def next_text(self) -> str | None:
        """The next non-empty text, or None once the reply is over."""
        while (line := await self._next_line()) is not None:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == b"[DONE]":
                self.done = True
                return None
            chunk = orjson.loads(data)
            if chunk.get("error"):
                raise UpstreamError(f"The model server failed mid-reply: {_message(chunk['error'])}")
            if chunk.get("usage"):
                self.usage = Usage(chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"])
            choices = chunk.get("choices")
            if not choices:
                continue
            choice = choices[0]
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            content = (choice.get("delta") or {}).get("content")
            if content:
                return str(content)
        return None


async def drain_then_release(response: aiohttp.ClientResponse) -> None:
    """Read a reply's body to its end, within ``DRAIN_SECONDS``, then release it (reused if it ended)."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while await response.content.readany():
                pass  # nothing is expected after [DONE]; whatever comes is not text of this turn
    except (TimeoutError, aiohttp.ClientError):
        pass  # released below without its end: the connection is closed, not reused
    finally:
        response.release()


def _message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]
