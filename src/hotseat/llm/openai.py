"""Backend for any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, LiteLLM.

Sends ``POST {base_url}/chat/completions`` with ``stream=True`` and
``stream_options={"include_usage": True}`` over one aiohttp session, and reads
the reply's server-sent events as they come. This is the request the official
SDK's ``AsyncOpenAI`` sends, without the SDK: its per-request set-up (options
models, URL parsing twice, header merging, httpx2 over aiohttp) made a request
cost about 520 µs of CPU, against 110–120 µs for this module's whole request
and parsing, some 15% of a turn's CPU (``bench/upstream_request.py``,
docs/performance.md). The SDK stays
a test dependency: tests/doubles/test_mock_openai.py checks with it that the
mock upstream speaks OpenAI's format.

One retry loop with one budget (``stream``), and only before the first text, so
a candidate never sees a reply start twice. Each of these spends one retry of
``max_retries``, whichever happens, in any order:

- a request that fails to connect, times out, or is answered 408, 409, 429 or
  5xx is sent again, with exponential back-off (0.5 s doubling, at most 8 s,
  less up to a quarter at random), honouring ``retry-after`` (or
  ``retry-after-ms``) up to 120 s and ``x-should-retry``, as the SDK does; a
  longer ``retry-after`` fails the turn at once;
- a reply whose head arrived but that sends no text within
  ``first_token_timeout`` (a server that hangs after accepting the request), or
  whose connection breaks or stalls before its first text, is requested again.

So a request is sent at most ``max_retries + 1`` times. A structured request
(``GenerationParams.json_schema``) may take up to two more, which are not
retries but other questions: a server that refuses the form it was asked in is
asked in the next (``hotseat.llm.structured``), at once; see ``_Failed``.

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
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd, StreamItem
from hotseat.llm.sse_reply import SseReply, drain_then_release
from hotseat.llm.structured import Form, names_a_format, response_format, wire_messages
from hotseat.stall_watch import StallWatch
from hotseat.urls import without_credentials

logger = logging.getLogger(__name__)

# The SDK's limits: a longer retry-after is not waited for, and statuses worth a second try.
MAX_RETRY_AFTER_SECONDS = 120.0
_RETRIED_STATUSES = frozenset({408, 409, 429})
# Error bodies are read for their mention of the structured-output form, never more than this.
_ERROR_BODY_BYTES = 64 * 1024
# Refusals that say nothing about the structured-output form asked in: a key that is refused,
# a rate limit, a request timeout or conflict (statuses the SDK retries as they are).
_NOT_ABOUT_THE_FORM = frozenset({401, 403, 407, 408, 409, 429})


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
        # The structured-output form a structured request is asked in first: the one that
        # last worked with this server, if the forms before it were refused for good (``_Failed``).
        self._form = Form.JSON_SCHEMA

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        form = self._form if params.json_schema is not None else None
        request = self._request(messages, params, form)
        # Whether every form this request left was refused for good (``_Failed.lasting``).
        lasting = True
        retries = 0
        streaming = False
        try:
            while True:
                async with contextlib.AsyncExitStack() as stack:
                    try:
                        reply, first = await self._first_text(stack, request)
                    except _Failed as failed:
                        if form is not None and form is not Form.PROMPT and failed.refuses_form:
                            logger.warning(
                                "upstream refused structured output as %s (%s); asking as %s",
                                form.name,
                                failed.error.message,
                                Form(form + 1).name,
                            )
                            form, lasting = Form(form + 1), lasting and failed.lasting
                            request = self._request(messages, params, form)
                            continue  # another question, not a retry: no budget, no back-off
                        if not failed.retryable or retries >= self._max_retries:
                            raise failed.error from failed.__cause__
                        retries += 1
                        delay = failed.delay if failed.delay is not None else _backoff(retries)
                        logger.warning(
                            "upstream failed before any text (%s); retry %d in %.1f s",
                            failed.error.message,
                            retries,
                            delay,
                        )
                        # Leaving the block first closes whatever response there was.
                    else:
                        if form is not None and lasting:
                            self._form = form
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

    def _request(
        self, messages: Sequence[ChatMessage], params: GenerationParams, form: Form | None
    ) -> dict[str, Any]:
        """The request's JSON; ``form`` is how structured output is asked for (None: it is not)."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": wire_messages(messages, params, form),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if form is not None and (fmt := response_format(form, params)) is not None:
            request["response_format"] = fmt
        return request

    async def _first_text(
        self, stack: contextlib.AsyncExitStack, request: dict[str, Any]
    ) -> tuple[SseReply, str | None]:
        """Send the request once, then read up to its first text within the first-token deadline.

        The deadline starts only once the response head is in (``_open`` waits for
        it within the read timeout). Raises ``_Failed`` for a failure before any
        text: nothing was said yet, so the caller may ask again.
        """
        response = await self._open(request)
        reply = SseReply(response.content)
        stack.callback(self._let_go, response, reply)
        self._stalls.watch(reply)
        stack.callback(self._stalls.forget, reply)
        try:
            async with asyncio.timeout(self._first_token_timeout):
                return reply, await reply.next_text()
        except aiohttp.ClientError as exc:  # before TimeoutError: aiohttp's read timeout is both
            raise _Failed(self._translate(exc, streaming=True)) from exc
        except TimeoutError as exc:
            raise _Failed(
                UpstreamTimeout(
                    f"The model server sent no text within {self._first_token_timeout:g} s; "
                    "retry, or raise HOTSEAT_UPSTREAM_FIRST_TOKEN_TIMEOUT."
                )
            ) from exc

    async def _open(self, request: dict[str, Any]) -> aiohttp.ClientResponse:
        """A 2xx streaming response to one POST, its body unread; else ``_Failed``, said why."""
        try:
            # The head, connecting included, within the read timeout.
            async with asyncio.timeout(self._read_timeout):
                response = await self._session().post(
                    self._url, data=orjson.dumps(request), headers=self._headers
                )
            if response.ok:
                return response
            body = await self._error_body(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Failed(
                self._translate(exc, streaming=False),
                # A connection dropped without an answer may be how a server refuses a
                # form; it is as likely a stale kept-alive connection, so not lasting.
                refuses_form=_dropped(exc),
            ) from exc
        status, headers = response.status, response.headers
        retry_after = _retry_after(headers)
        # The server's own word that the refusal is passing (a wait, or "retry") is not about the form.
        passing = retry_after is not None or headers.get("x-should-retry") == "true"
        waits = retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER_SECONDS
        raise _Failed(
            self._refused(status, retry_after),
            retryable=_worth_retrying(status, headers),
            delay=retry_after if waits else None,
            refuses_form=status not in _NOT_ABOUT_THE_FORM and not passing,
            lasting=status < 500 or names_a_format(body),
        )

    async def _error_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The start of a refusal's body (for its mention of the format), within the read timeout."""
        body = b""
        async with response, asyncio.timeout(self._read_timeout):
            while len(body) < _ERROR_BODY_BYTES:
                piece = await response.content.read(_ERROR_BODY_BYTES - len(body))
                if not piece:
                    break
                body += piece
        return body

    def _let_go(self, response: aiohttp.ClientResponse, reply: SseReply) -> None:
        """Give the reply's connection back once the turn is done with it.

        After ``[DONE]`` the body's end (the chunked terminator) may not have arrived
        yet: servers built on uvicorn write it separately, and a proxy may finish its
        bookkeeping first. Released then, aiohttp would close the connection, and the
        next turn would pay a new connection (a TLS handshake, with a remote server).
        So that end is waited for in the background, for up to ``DRAIN_SECONDS`` (``llm/sse_reply.py``);
        the turn's own end is not delayed. Any other early release (a cancel, a
        failure) closes the connection, as its body may go on for a long time.
        """
        if not reply.done or response.content.is_eof():
            response.release()
            return
        drain = asyncio.create_task(drain_then_release(response), name="upstream-drain")
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


class _Failed(Exception):
    """One request failed before any text; what to report, and what may be tried next.

    ``retryable``: the same request may be sent again (spending a retry), after
    ``delay`` seconds if the server named a wait. ``refuses_form``: the server may
    have refused the structured-output form asked in, so the next form may be
    tried. ``lasting``: that refusal is about the form, so later requests should
    start at the next form too: a 4xx, or a 5xx whose body names the format
    (llama-cpp-python's 500 does); not a 5xx that says nothing of it, which may
    be a passing failure that should not cost a server its best form for good.
    """

    def __init__(
        self,
        error: HotseatError,
        *,
        retryable: bool = True,
        delay: float | None = None,
        refuses_form: bool = False,
        lasting: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.delay = delay
        self.refuses_form = refuses_form
        self.lasting = lasting


def _backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s ... up to 8 s, less up to a quarter at random (as the SDK does)."""
    return min(0.5 * 2.0 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())


def _dropped(exc: Exception) -> bool:
    """A connection that was made, then closed or reset without an answer (not a timeout)."""
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc, aiohttp.ClientConnectorError | TimeoutError
    )


def _worth_retrying(status: int, headers: Mapping[str, str]) -> bool:
    """As the SDK decides: the server's ``x-should-retry`` first, then the status."""
    retry_after = _retry_after(headers)
    if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
        return False
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return status in _RETRIED_STATUSES or status >= 500


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
