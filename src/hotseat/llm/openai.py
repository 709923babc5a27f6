"""Backend for any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, LiteLLM.

Sends ``POST {base_url}/chat/completions`` with ``stream=True`` and
``stream_options={"include_usage": True}`` over one aiohttp session, and reads
the reply's server-sent events as they come. This is the request the official
SDK's ``AsyncOpenAI`` sends, without the SDK: its per-request set-up (options
models, URL parsing twice, header merging) cost several times this module's
whole request and parsing, a visible share of a turn's CPU (the numbers and
``bench/upstream_request.py`` are in docs/performance.md). The SDK stays a test
dependency: tests/doubles/test_mock_openai.py checks with it that the mock
upstream speaks OpenAI's format.

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
asked in the next (``hotseat.llm.structured``), at once; see ``Failed``.

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
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson

from hotseat import __version__
from hotseat.errors import (
    HotseatError,
    UpstreamTimeout,
)
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd, StreamItem
from hotseat.llm.openai_retry import (
    MAX_RETRY_AFTER_SECONDS,
    Failed,
    backoff,
    dropped,
    retry_after,
    worth_retrying,
)
from hotseat.llm.sse_reply import SseReply, drain_then_release
from hotseat.llm.structured import Form, names_a_format, response_format, wire_messages
from hotseat.llm.upstream_failures import UpstreamFailures
from hotseat.stall_watch import StallWatch
from hotseat.urls import without_credentials

logger = logging.getLogger(__name__)

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
        # A request past them waits for one, within the connect timeout.
        self._max_connections = max_connections
        self._read_timeout = read_timeout
        self._failures = UpstreamFailures(
            self.base_url, model, connect_timeout, read_timeout, max_connections
        )
        self._max_retries = max_retries
        # 0 is no deadline of our own (only the read timeout between bytes applies).
        self._first_token_timeout = first_token_timeout or None
        # ``connect`` bounds the DNS lookup and the connection. The read timeout is not aiohttp's
        # ``sock_read``, which re-arms a timer for every chunk, a cost paid on every token
        # (measured in docs/performance.md): the response head has a deadline (``_open``), and
        # the body's reads are watched all together (``hotseat.stall_watch``).
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout)
        self._stalls = StallWatch(read_timeout, "upstream-stall-watch")
        self._http: aiohttp.ClientSession | None = None  # made on first use, inside the event loop
        # Replies that ended with [DONE], waiting for their body's end to reuse the connection.
        self._draining: dict[asyncio.Task[None], aiohttp.ClientResponse] = {}
        # The structured-output form a structured request is asked in first: the one that
        # last worked with this server, if the forms before it were refused for good (``Failed``).
        self._form = Form.JSON_SCHEMA

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        form = self._form if params.json_schema is not None else None
        request = self._request(messages, params, form)
        # Whether every form this request left was refused for good (``Failed.lasting``).
        lasting = True
        retries = 0
        streaming = False
        try:
            while True:
                async with contextlib.AsyncExitStack() as stack:
                    try:
                        reply, first = await self._first_text(stack, request)
                    except Failed as failed:
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
                        delay = failed.delay if failed.delay is not None else backoff(retries)
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
            raise self._failures.translate(exc, streaming) from exc

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
        it within the read timeout). Raises ``Failed`` for a failure before any
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
            raise Failed(self._failures.translate(exc, streaming=True)) from exc
        except TimeoutError as exc:
            raise Failed(
                UpstreamTimeout(
                    f"The model server sent no text within {self._first_token_timeout:g} s; "
                    "retry, or raise HOTSEAT_UPSTREAM_FIRST_TOKEN_TIMEOUT."
                )
            ) from exc

    async def _open(self, request: dict[str, Any]) -> aiohttp.ClientResponse:
        """A 2xx streaming response to one POST, its body unread; else ``Failed``, said why."""
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
            raise Failed(
                self._failures.translate(exc, streaming=False),
                # A connection dropped without an answer may be how a server refuses a
                # form; it is as likely a stale kept-alive connection, so not lasting.
                refuses_form=dropped(exc),
            ) from exc
        status, headers = response.status, response.headers
        wait = retry_after(headers)
        # The server's own word that the refusal is passing (a wait, or "retry") is not about the form.
        passing = wait is not None or headers.get("x-should-retry") == "true"
        waits = wait is not None and 0 < wait <= MAX_RETRY_AFTER_SECONDS
        raise Failed(
            self._failures.refused(status, wait),
            retryable=worth_retrying(status, headers),
            delay=wait if waits else None,
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
