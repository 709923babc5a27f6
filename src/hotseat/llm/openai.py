"""Backend for any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, LiteLLM.

Uses the official SDK's ``AsyncOpenAI`` with ``stream=True`` and
``stream_options={"include_usage": True}``, over the SDK's aiohttp transport
(``openai.DefaultAioHttpClient``, the ``openai[aiohttp]`` extra). httpx2's
default transport opens an anyio cancel scope for every socket read, which made
reading the reply body the largest CPU cost per token (docs/performance.md).
Retries happen only before the first text, so a candidate never sees a reply
start twice:

- the SDK retries connection errors, 408/409/429 and 5xx (``max_retries``,
  exponential back-off, honouring ``retry-after`` up to 120 s);
- this backend retries a reply whose head arrived but that sends no text
  within ``first_token_timeout`` (a server that hangs after accepting the
  request), or whose connection breaks or stalls before its first text, with
  the same budget and a back-off of its own.

Once text has streamed, a failure ends the turn and keeps the partial text; the
candidate retries the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import aiohttp
import httpx2
import openai
import orjson
from openai import AsyncOpenAI
from openai._response import AsyncAPIResponse

from hotseat.errors import (
    HotseatError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd, StreamItem, Usage

logger = logging.getLogger(__name__)


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
    ) -> None:
        self.model = model
        self.base_url = base_url
        self._read_timeout = read_timeout
        self._max_retries = max_retries
        # 0 is no deadline of our own (only the read timeout between bytes applies).
        self._first_token_timeout = first_token_timeout or None
        timeout = httpx2.Timeout(read_timeout, connect=connect_timeout)
        self._client = AsyncOpenAI(
            base_url=base_url,
            # Local servers (vLLM, Ollama, llama.cpp) accept any key, but the SDK insists on one.
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
            # aiohttp under the SDK (see the module docstring; its errors: _timed_out).
            http_client=openai.DefaultAioHttpClient(timeout=timeout),
        )
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

        Opening is the SDK's part: it retries refusals and waits for the
        response head (the read timeout), honouring ``retry-after``, so the
        deadline starts only once the head is in. Raises ``_NoText`` when a
        retry is safe: nothing was said yet, and the server went silent, or the
        connection broke or stalled, after the response began.
        """
        reply = _Reply(await self._open(stack, request))
        # Closed before the response is (callbacks run last-in first-out): left suspended, its
        # generators would each be closed later by a task of the loop's own.
        stack.push_async_callback(reply.aclose)
        try:
            async with asyncio.timeout(self._first_token_timeout):
                return reply, await reply.next_text()
        except TimeoutError as exc:
            raise _NoText(
                UpstreamTimeout(
                    f"The model server sent no text within {self._first_token_timeout:g} s, "
                    f"{self._max_retries + 1} time(s); retry, or raise HOTSEAT_UPSTREAM_FIRST_TOKEN_TIMEOUT."
                )
            ) from exc
        except (httpx2.TransportError, openai.APIConnectionError) as exc:
            raise _NoText(self._translate(exc, streaming=True)) from exc

    async def _open(self, stack: contextlib.AsyncExitStack, request: dict[str, Any]) -> AsyncAPIResponse[Any]:
        """The streaming response, entered on ``stack``; falls back to plain text once if needed."""
        try:
            return await stack.enter_async_context(self._raw_stream(request))
        except openai.BadRequestError as exc:
            if "response_format" not in request or not _mentions_response_format(exc):
                raise
            # The server does not do structured output: ask for plain text; the caller validates.
            logger.warning("upstream rejected response_format json_schema; falling back to prompt-only")
            self._schema_supported = False
            del request["response_format"]
            return await stack.enter_async_context(self._raw_stream(request))

    def _translate(self, exc: Exception, streaming: bool) -> HotseatError:
        """Map SDK and transport failures to the documented upstream error codes."""
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) and _timed_out(exc):
            return UpstreamTimeout(
                f"The model server did not answer within {self._read_timeout:g} s; retry, or raise "
                "HOTSEAT_UPSTREAM_READ_TIMEOUT."
            )
        if streaming and isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            return UpstreamError("The connection to the model server broke mid-reply; retry the turn.")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamUnavailable(
                f"Cannot reach the model server at {self.base_url}; check that it is running and "
                "HOTSEAT_OPENAI_BASE_URL."
            )
        if isinstance(exc, openai.RateLimitError):
            return UpstreamRateLimited(
                "The model server is rate-limiting requests; wait a moment and retry.",
                retry_after=_retry_after(exc.response),
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return UpstreamError("The model server refused the API key; check HOTSEAT_OPENAI_API_KEY.")
        if isinstance(exc, openai.NotFoundError):
            return UpstreamError(f"The model server does not know model {self.model!r}; check HOTSEAT_MODEL.")
        if isinstance(exc, openai.APIStatusError):
            return UpstreamError(f"The model server failed (HTTP {exc.status_code}); retry the turn.")
        if isinstance(exc, httpx2.TransportError):
            return UpstreamUnavailable(f"Cannot talk to the model server at {self.base_url}.")
        if isinstance(exc, openai.APIError | ValueError):
            return UpstreamError("The model server sent a malformed reply; retry the turn.")
        logger.exception("unexpected upstream failure")
        return UpstreamError("The model server failed unexpectedly; retry the turn.")

    def _raw_stream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncAPIResponse[Any]]:
        """The streaming HTTP response itself; HTTP errors (and SDK retries) happen on entering.

        Everything but ``stream`` travels in ``extra_body``, which the SDK sends as it is and
        which wins over the (empty) ``messages`` argument; ``model`` is passed as omitted, which
        ``create`` accepts (it checks only that the argument is there). The SDK's type-driven
        transform of these plain strings and numbers changes nothing and cost, per turn, about a
        third of its request set-up for the messages, 30 us for the other fields, and 40 us for
        the model alone: it hashes the model's type, a union with a literal of every OpenAI model
        name, on each call (docs/performance.md).
        """
        extra = {key: value for key, value in request.items() if key != "stream"}
        return self._client.chat.completions.with_streaming_response.create(
            model=cast(str, openai.omit), messages=[], stream=True, extra_body=extra
        )

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.close()


class _Reply:
    """One streaming response, read as raw SSE lines.

    The SDK's typed chunks cost a pydantic model per token; the raw lines parsed
    with orjson carry the same fields for a fraction of the CPU. The lines are split
    here from the body's bytes: the SDK's ``iter_lines`` decodes text and lines in
    three more generator layers per chunk.

    The bytes come from the HTTP response's own stream (``httpx2.Response.stream``,
    the transport's, which maps aiohttp's errors to httpx2's), not through the SDK's
    ``iter_bytes``, httpx2's ``aiter_bytes`` and ``aiter_raw``: those three generator
    layers only pass an uncompressed chunk on, and each is resumed, and its awaitable
    allocated, for every token. A compressed body (``Content-Encoding``) is read
    through them, as they decode it.
    """

    def __init__(self, response: AsyncAPIResponse[Any]) -> None:
        http = response.http_response
        encoding = http.headers.get("content-encoding", "identity").strip().lower()
        self._chunks: AsyncIterator[bytes]
        if encoding == "identity" and isinstance(http.stream, httpx2.AsyncByteStream):
            self._chunks = aiter(http.stream)
        else:
            self._chunks = response.iter_bytes()
        self._lines: deque[bytes] = deque()
        self._partial = b""  # the start of a line whose end has not arrived
        self.finish_reason = "stop"
        self.usage: Usage | None = None

    async def _next_line(self) -> bytes | None:
        while not self._lines:
            chunk = await anext(self._chunks, None)
            if chunk is None:
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

    async def aclose(self) -> None:
        """Close the body's generators (a reply is done at ``[DONE]``, before the body ends)."""
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()

    async def next_text(self) -> str | None:
        """The next non-empty text, or None once the reply is over."""
        while (line := await self._next_line()) is not None:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == b"[DONE]":
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


class _NoText(Exception):
    """The reply failed before any text: safe to request it again. ``error`` is what to report if not."""

    def __init__(self, error: HotseatError) -> None:
        super().__init__(error.message)
        self.error = error


def _backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s ... up to 8 s, less up to a quarter at random (as the SDK does)."""
    return min(0.5 * 2.0 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())


def _timed_out(exc: BaseException) -> bool:
    """Whether a failure the SDK reports as a timeout was one.

    The SDK's aiohttp transport turns every aiohttp connection error, a refused
    connection or a failed DNS lookup included, into ``httpx2.ConnectTimeout``.
    The aiohttp error it chains tells what really happened.
    """
    cause: BaseException | None = exc
    for _ in range(8):  # the chain is SDK error -> httpx2 error -> aiohttp error
        if cause is None:
            break
        if isinstance(cause, aiohttp.ClientError):
            return isinstance(cause, TimeoutError)
        cause = cause.__cause__ or cause.__context__
    return True


def _mentions_response_format(exc: openai.BadRequestError) -> bool:
    return "response_format" in str(exc).lower() or "json_schema" in str(exc).lower()


def _message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
