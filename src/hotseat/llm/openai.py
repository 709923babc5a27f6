"""Backend for any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, LiteLLM.

Sends ``POST {base_url}/chat/completions`` with ``stream=True`` and
``stream_options={"include_usage": True}`` over one aiohttp session, and reads
the reply's server-sent events as they come. This is the request the official
SDK's ``AsyncOpenAI`` sends, without the SDK: its per-request set-up (options
models, URL parsing twice, header merging, httpx2 over aiohttp) made a request
cost about 520 µs of CPU, against 110–120 µs for this module's whole request
and parsing, some 15% of a turn's CPU (``bench/upstream_request.py``,
docs/performance.md). The SDK stays
a test dependency: tests/testing/test_mock_openai.py checks with it that the
mock upstream speaks OpenAI's format.

Retries happen only before the first text, so a candidate never sees a reply
start twice:

- a request that fails to connect, times out, or is answered 408, 409, 429 or
  5xx is sent again, up to ``max_retries`` times, with exponential back-off
  (0.5 s doubling, at most 8 s, less up to a quarter at random), honouring
  ``retry-after`` (or ``retry-after-ms``) up to 120 s and ``x-should-retry``,
  as the SDK does; a longer ``retry-after`` fails the turn at once;
- a reply whose head arrived but that sends no text within
  ``first_token_timeout`` (a server that hangs after accepting the request), or
  whose connection breaks or stalls before its first text, is requested again,
  with the same budget and back-off.

Once text has streamed, a failure ends the turn and keeps the partial text; the
candidate retries the turn.

Connections are kept for the next turns: after ``[DONE]``, the end of the body is
waited for in the background (``_let_go``), so a server that sends it a little
later keeps its connection, and the next turn skips a new connection (and a TLS
handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from hotseat import __version__
from hotseat.errors import (
    HotseatError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd, StreamItem, Usage
from hotseat.stall_watch import StallWatch
from hotseat.urls import without_credentials

logger = logging.getLogger(__name__)

# The SDK's limits: a longer retry-after is not waited for, and statuses worth a second try.
MAX_RETRY_AFTER_SECONDS = 120.0
_RETRIED_STATUSES = frozenset({408, 409, 429})
# Error bodies are read for their mention of response_format, never more than this.
_ERROR_BODY_BYTES = 64 * 1024
# After [DONE], how long the body's end is waited for (in the background) to reuse the connection.
_DRAIN_SECONDS = 2.0


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 2,
        first_token_timeout: float = 0.0,
        max_connections: int = 1000,
    ) -> None:
        self.model = model
        # user:password@ in the URL is sent as basic auth (aiohttp refuses it in the URL beside an
        # Authorization header) and never shown: error messages name base_url, and reach clients.
        self.base_url, credentials = without_credentials(base_url)
        self._url = self.base_url.rstrip("/") + "/chat/completions"
        authorization = f"Bearer {api_key or 'not-needed'}"
        if credentials is not None and not api_key:  # both at once are refused by the settings
            authorization = aiohttp.encode_basic_auth(*credentials)
        self._headers = {
            # Local servers (vLLM, Ollama, llama.cpp) accept any key, but some insist on the header.
            "Authorization": authorization,
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": f"hotseat/{__version__}",
        }
        self._connect_timeout = connect_timeout
        # A request past them waits for one, within the connect timeout.
        self._max_connections = max_connections
        self._read_timeout = read_timeout
        self._max_retries = max_retries
        # 0 is no deadline of our own (only the read timeout between bytes applies).
        self._first_token_timeout = first_token_timeout or None
        # ``connect`` bounds the DNS lookup and the connection. The read timeout is not aiohttp's
        # ``sock_read``, which re-arms a timer for every chunk (1.3-1.6 us per read,
        # docs/performance.md): the response head has a deadline (``_open``), and the body's
        # reads are watched all together (``hotseat.stall_watch``).
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout)
        self._stalls = StallWatch(read_timeout, "upstream-stall-watch")
        self._http: aiohttp.ClientSession | None = None  # made on first use, inside the event loop
        # Replies that ended with [DONE], waiting for their body's end to reuse the connection.
        self._draining: dict[asyncio.Task[None], aiohttp.ClientResponse] = {}
        # Flipped off the first time the server rejects ``response_format: json_schema``.
        self._schema_supported = True

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.json_schema is not None and self._schema_supported:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": params.schema_name, "schema": params.json_schema, "strict": True},
            }
        streaming = False
        try:
            attempt = 0
            while True:
                async with contextlib.AsyncExitStack() as stack:
                    try:
                        reply, first = await self._first_text(stack, request)
                    except _NoText as silent:
                        if attempt >= self._max_retries:
                            raise silent.error from silent.__cause__
                        attempt += 1
                        logger.warning("upstream sent no text (%s); retry %d", silent.error.code, attempt)
                        # Leaving the block first closes the silent response.
                        delay = _backoff(attempt)
                    else:
                        streaming = True
                        text = first
                        while text is not None:
                            yield text
                            text = await reply.next_text()
                        yield StreamEnd(reply.finish_reason, reply.usage)
                        return
                await asyncio.sleep(delay)
        except HotseatError:
            raise
        except Exception as exc:
            raise self._translate(exc, streaming) from exc

    async def _first_text(
        self, stack: contextlib.AsyncExitStack, request: dict[str, Any]
    ) -> tuple[_Reply, str | None]:
        """Open the reply, then read up to its first text within the first-token deadline.

        Opening retries refusals and waits for the response head (the read
        timeout), so the deadline starts only once the head is in. Raises
        ``_NoText`` when a retry is safe: nothing was said yet, and the server
        went silent, or the connection broke or stalled, after the response began.
        """
        response = await self._open(request)
        reply = _Reply(response.content)
        stack.callback(self._let_go, response, reply)
        self._stalls.watch(reply)
        stack.callback(self._stalls.forget, reply)
        try:
            async with asyncio.timeout(self._first_token_timeout):
                return reply, await reply.next_text()
        except aiohttp.ClientError as exc:  # before TimeoutError: aiohttp's read timeout is both
            raise _NoText(self._translate(exc, streaming=True)) from exc
        except TimeoutError as exc:
            raise _NoText(
                UpstreamTimeout(
                    f"The model server sent no text within {self._first_token_timeout:g} s, "
                    f"{self._max_retries + 1} time(s); retry, or raise HOTSEAT_UPSTREAM_FIRST_TOKEN_TIMEOUT."
                )
            ) from exc

    async def _open(self, request: dict[str, Any]) -> aiohttp.ClientResponse:
        """A 2xx streaming response, its body unread; retried as the module says.

        A 400 that mentions ``response_format`` is asked again once without it, and
        structured output is not asked for again: the caller validates plain text.
        """
        attempt = 0
        while True:
            try:
                # The head, connecting included, within the read timeout.
                async with asyncio.timeout(self._read_timeout):
                    response = await self._session().post(
                        self._url, data=orjson.dumps(request), headers=self._headers
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt >= self._max_retries:
                    raise
                delay = _backoff(attempt + 1)
                logger.warning("upstream request failed (%s); retry %d", type(exc).__name__, attempt + 1)
            else:
                if response.ok:
                    return response
                body = await self._error_body(response)
                if (
                    response.status == 400
                    and "response_format" in request
                    and _mentions_response_format(body)
                ):
                    logger.warning(
                        "upstream rejected response_format json_schema; falling back to prompt-only"
                    )
                    self._schema_supported = False
                    del request["response_format"]
                    continue
                retry_after = _retry_after(response.headers)
                if attempt >= self._max_retries or not _worth_retrying(response.status, response.headers):
                    raise self._refused(response.status, retry_after)
                if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_SECONDS:
                    delay = retry_after
                else:
                    delay = _backoff(attempt + 1)
                logger.warning(
                    "upstream answered HTTP %d; retry %d in %.1f s", response.status, attempt + 1, delay
                )
            attempt += 1
            await asyncio.sleep(delay)

    async def _error_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The start of a refusal's body (for its mention of response_format), within the read timeout."""
        body = b""
        async with response, asyncio.timeout(self._read_timeout):
            while len(body) < _ERROR_BODY_BYTES:
                piece = await response.content.read(_ERROR_BODY_BYTES - len(body))
                if not piece:
                    break
                body += piece
        return body

    def _let_go(self, response: aiohttp.ClientResponse, reply: _Reply) -> None:
        """Give the reply's connection back once the turn is done with it.

        After ``[DONE]`` the body's end (the chunked terminator) may not have arrived
        yet: servers built on uvicorn write it separately, and a proxy may finish its
        bookkeeping first. Released then, aiohttp would close the connection, and the
        next turn would pay a new connection (a TLS handshake, with a remote server).
        So that end is waited for in the background, for up to ``_DRAIN_SECONDS``;
        the turn's own end is not delayed. Any other early release (a cancel, a
        failure) closes the connection, as its body may go on for a long time.
        """
        if not reply.done or response.content.is_eof():
            response.release()
            return
        drain = asyncio.create_task(_drain(response), name="upstream-drain")
        self._draining[drain] = response
        drain.add_done_callback(self._draining.pop)

    async def drained(self) -> None:
        """Wait until every connection drained after ``[DONE]`` has been given back."""
        while self._draining:
            await asyncio.wait(list(self._draining))

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=5.0),
                timeout=self._timeout,
            )
        return self._http

    def _refused(self, status: int, retry_after: float | None) -> HotseatError:
        """The documented error for an HTTP status the server answered with, after any retries."""
        if status == 429:
            return UpstreamRateLimited(
                "The model server is rate-limiting requests; wait a moment and retry.",
                retry_after=retry_after,
            )
        if status in (401, 403):
            return UpstreamError("The model server refused the API key; check HOTSEAT_OPENAI_API_KEY.")
        if status == 404:
            return UpstreamError(f"The model server does not know model {self.model!r}; check HOTSEAT_MODEL.")
        return UpstreamError(f"The model server failed (HTTP {status}); retry the turn.")

    def _translate(self, exc: Exception, streaming: bool) -> HotseatError:
        """Map transport and parsing failures to the documented upstream error codes."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return UpstreamTimeout(
                f"No connection to the model server at {self.base_url} within "
                f"{self._connect_timeout:g} s (it did not accept one, or all {self._max_connections} "
                "were busy); check that it is running, or raise HOTSEAT_UPSTREAM_CONNECT_TIMEOUT "
                "or HOTSEAT_UPSTREAM_MAX_CONNECTIONS."
            )
        if isinstance(exc, TimeoutError):  # no head in time, or a body read that stalled
            return UpstreamTimeout(
                f"The model server did not answer within {self._read_timeout:g} s; retry, or raise "
                "HOTSEAT_UPSTREAM_READ_TIMEOUT."
            )
        if isinstance(exc, aiohttp.ClientError | OSError):
            if streaming:
                return UpstreamError("The connection to the model server broke mid-reply; retry the turn.")
            return UpstreamUnavailable(
                f"Cannot reach the model server at {self.base_url}; check that it is running and "
                "HOTSEAT_OPENAI_BASE_URL."
            )
        if isinstance(exc, ValueError | LookupError | TypeError | AttributeError):
            # Not JSON (orjson's error is a ValueError), or JSON of another shape than a chunk's.
            return UpstreamError("The model server sent a malformed reply; retry the turn.")
        logger.exception("unexpected upstream failure")
        return UpstreamError("The model server failed unexpectedly; retry the turn.")

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self._stalls.stop()
        draining = list(self._draining.items())
        for drain, response in draining:
            drain.cancel()
            response.release()  # closes it: a drain cancelled before it began would not
        await asyncio.gather(*(drain for drain, _ in draining), return_exceptions=True)
        if self._http is not None:
            await self._http.close()


class _Reply:
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


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a reply's body to its end, within ``_DRAIN_SECONDS``, then release it (reused if it ended)."""
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            while await response.content.readany():
                pass  # nothing is expected after [DONE]; whatever comes is not text of this turn
    except (TimeoutError, aiohttp.ClientError):
        pass  # released below without its end: the connection is closed, not reused
    finally:
        response.release()


class _NoText(Exception):
    """The reply failed before any text: safe to request it again. ``error`` is what to report if not."""

    def __init__(self, error: HotseatError) -> None:
        super().__init__(error.message)
        self.error = error


def _backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s ... up to 8 s, less up to a quarter at random (as the SDK does)."""
    return min(0.5 * 2.0 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())


def _mentions_response_format(body: bytes) -> bool:
    text = body.decode("utf-8", "replace").lower()
    return "response_format" in text or "json_schema" in text


def _worth_retrying(status: int, headers: Mapping[str, str]) -> bool:
    """As the SDK decides: the server's ``x-should-retry`` first, then the status."""
    retry_after = _retry_after(headers)
    if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
        return False
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return status in _RETRIED_STATUSES or status >= 500


def _message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else MAX_RETRY_AFTER_SECONDS + 1
    date = headers.get("retry-after")
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        when = email.utils.parsedate_tz(date) if date else None
        if when is not None:
            return float(email.utils.mktime_tz(when) - time.time())
    return None
