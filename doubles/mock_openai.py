"""A real, scriptable OpenAI-compatible HTTP server for tests and load benchmarks.

The test suite points hotseat's ``openai`` backend at it to
exercise real sockets, real SSE parsing and real failure modes: rate limits,
connections cut mid-reply, upstreams that go silent, malformed events, and
clients that hang up. Load benchmarks run it as a separate process
(``python -m doubles.mock_openai --tokens 200 --delay-ms 20``) as an
upstream that can hold thousands of concurrent streams for little CPU.

It is deliberately written on bare ``asyncio`` streams with a minimal HTTP/1.1
implementation (keep-alive, chunked responses) rather than on an ASGI stack:
per-token work is a byte concatenation and a socket write, so the mock is never
the bottleneck of the system it measures. It depends on the standard library
only.

Scripting: each chat request consumes one behaviour from a FIFO
(:meth:`MockOpenAI.enqueue`); when the FIFO is empty, :attr:`MockOpenAI.default`
is used. Every chat request is recorded in :attr:`MockOpenAI.requests` with the
outcome the server observed, so tests can prove, for example, that cancelling
a turn really closed the upstream request.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import http
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias

__all__ = [
    "LLAMA_CPP_PYTHON_REFUSAL",
    "Behaviour",
    "Cut",
    "Fault",
    "Hang",
    "Malformed",
    "MockOpenAI",
    "Outcome",
    "Reply",
    "RequestRecord",
    "main",
    "split_text",
]

logger = logging.getLogger(__name__)

Outcome: TypeAlias = Literal["completed", "client_closed", "cut", "error", "server_stopped"]
"""What the server observed for one chat request.

``completed``: everything scripted was sent. ``client_closed``: the client hung up
before the response was complete. ``cut``: a :class:`Cut` closed the connection.
``error``: an error response was sent (a :class:`Fault`, or an unparseable body).
``server_stopped``: the mock was stopped while the request was in flight.
"""

_MAX_HEAD = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_READ_SIZE = 64 * 1024
# Enough for a benchmark's burst of connects; the kernel caps it at somaxconn anyway.
_BACKLOG = 4096

# Any leading whitespace belongs to the word after it; trailing whitespace becomes its own
# token, so that "".join(split_text(t)) == t for every string.
_TOKEN_RE = re.compile(r"\s*\S+|\s+\Z")


def split_text(text: str) -> list[str]:
    """Split ``text`` into word-like tokens that keep their whitespace, losslessly."""
    tokens: list[str] = _TOKEN_RE.findall(text)
    return tokens


@functools.lru_cache(maxsize=256)
def _generated_tokens(count: int) -> tuple[str, ...]:
    return tuple(f" tok{i}" for i in range(1, count + 1))


def _encode_tokens(tokens: Sequence[str]) -> tuple[bytes, ...]:
    return tuple(json.dumps(t, ensure_ascii=False).encode() for t in tokens)


@functools.lru_cache(maxsize=256)
def _generated_encoded(count: int) -> tuple[bytes, ...]:
    return _encode_tokens(_generated_tokens(count))


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Reply:
    """Stream a successful reply.

    Tokens come from ``tokens``, else from ``text`` split with :func:`split_text`, else
    ``token_count`` deterministic tokens ``" tok1"``, ``" tok2"``, ... ``ttft`` is the
    pause before the first token, ``delay`` the pause between tokens (seconds).
    ``end_pause`` is a pause between ``[DONE]`` and the end of the body (the chunked
    terminator): uvicorn-based servers write them separately, and a proxy may do its
    bookkeeping in between.
    """

    tokens: list[str] | None = None
    text: str | None = None
    token_count: int = 20
    delay: float = 0.0
    ttft: float = 0.0
    finish_reason: str = "stop"
    end_pause: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens is not None and self.text is not None:
            raise ValueError("Reply takes tokens or text, not both")
        if self.token_count < 0 or self.delay < 0 or self.ttft < 0 or self.end_pause < 0:
            raise ValueError("Reply token_count, delay, ttft and end_pause must not be negative")

    @functools.cached_property
    def resolved_tokens(self) -> tuple[str, ...]:
        """The tokens this reply streams, in order."""
        if self.tokens is not None:
            return tuple(self.tokens)
        if self.text is not None:
            return tuple(split_text(self.text))
        return _generated_tokens(self.token_count)

    @functools.cached_property
    def encoded_tokens(self) -> tuple[bytes, ...]:
        """The tokens as JSON string literals, encoded once and reused by every request."""
        if self.tokens is None and self.text is None:
            return _generated_encoded(self.token_count)
        return _encode_tokens(self.resolved_tokens)


@dataclass(frozen=True)
class Fault:
    """Answer with HTTP ``status`` and an OpenAI-shaped error body, before any streaming."""

    status: int
    retry_after: float | None = None
    message: str = "The mock upstream was scripted to fail this request."
    error_type: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Hang:
    """Stream ``after_tokens`` tokens, then go silent until the client hangs up or the server stops."""

    after_tokens: int = 0
    delay: float = 0.0


@dataclass(frozen=True)
class Cut:
    """Stream ``after_tokens`` tokens, then close the TCP connection mid-body.

    No chunked terminator and no ``[DONE]`` are sent, so the client sees an incomplete
    body. A non-streaming request gets its headers and half of its JSON body.
    """

    after_tokens: int
    delay: float = 0.0


@dataclass(frozen=True)
class Malformed:
    """Stream ``after_tokens`` tokens, then a ``data: {not json`` event, then end the stream normally."""

    after_tokens: int
    delay: float = 0.0


Behaviour: TypeAlias = Reply | Fault | Hang | Cut | Malformed

# How llama-cpp-python's OpenAI-compatible server answers ``response_format: json_schema``:
# its request model only knows "text" and "json_object", and its validation errors are 500s.
LLAMA_CPP_PYTHON_REFUSAL = Fault(
    500,
    message="1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
    error_type="internal_server_error",
)


@dataclass
class RequestRecord:
    """One chat request as the server saw it.

    ``outcome`` is ``None`` while the request is in flight; use
    :meth:`MockOpenAI.wait_for_outcome` rather than polling it.
    """

    index: int
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    behaviour: Behaviour | None = None
    status: int | None = None
    outcome: Outcome | None = None
    tokens_sent: int = 0


# --------------------------------------------------------------------------- HTTP plumbing


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Conn:
    """One client connection: a byte buffer over the reader, so that bytes read while
    watching for EOF during a response are not lost to the next request."""

    __slots__ = ("buf", "closing", "eof", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        # Set when the server itself closes the socket (Cut), so the EOF that follows is
        # not mistaken for the client hanging up.
        self.closing = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(_READ_SIZE)
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def read_head(self) -> bytes | None:
        scanned = 0
        while True:
            end = self.buf.find(b"\r\n\r\n", max(0, scanned - 3))
            if end >= 0:
                head = bytes(self.buf[:end])
                del self.buf[: end + 4]
                return head
            if len(self.buf) > _MAX_HEAD:
                raise _HttpError(431, "Request headers are too large.")
            scanned = len(self.buf)
            if not await self._fill():
                return None

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), n)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return line
            if len(self.buf) > _MAX_HEAD:
                raise _HttpError(400, "Chunk-size line is too long.")
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), None)

    async def watch_eof(self) -> None:
        """Return when the client closes its side.

        A hanging stream writes nothing, so write errors alone would never reveal a
        client that went away; reading is the only reliable signal.
        """
        while await self._fill():
            if len(self.buf) > _MAX_BODY:
                # A client flooding us mid-response is not a client we need to keep.
                return


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    # latin-1 maps every byte, so decoding cannot fail on hostile input.
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _HttpError(400, "Malformed HTTP request line.")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _HttpError(400, "Malformed HTTP header line.")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


async def _read_body(conn: _Conn, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            line = await conn.read_line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _HttpError(400, "Malformed chunk size in request body.") from None
            if size == 0:
                while await conn.read_line():
                    pass  # trailers carry nothing we use
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                raise _HttpError(413, "Request body is too large.")
            parts.append(await conn.read_exact(size))
            await conn.read_exact(2)
    raw_length = headers.get("content-length")
    if raw_length is None:
        return b""
    try:
        length = int(raw_length)
    except ValueError:
        raise _HttpError(400, "Malformed Content-Length header.") from None
    if length < 0:
        raise _HttpError(400, "Malformed Content-Length header.")
    if length > _MAX_BODY:
        raise _HttpError(413, "Request body is too large.")
    return await conn.read_exact(length)


@functools.lru_cache(maxsize=64)
def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


def _response_head(status: int, headers: Sequence[tuple[str, str]], *, keep_alive: bool) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in headers]
    if not keep_alive:
        lines.append("connection: close\r\n")
    lines.append("server: hotseat-mock-openai\r\n\r\n")
    return _status_line(status) + "".join(lines).encode("latin-1")


def _json_response(
    status: int, payload: Any, *, keep_alive: bool, extra: Sequence[tuple[str, str]] = ()
) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body))), *extra]
    return _response_head(status, headers, keep_alive=keep_alive) + body


_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("timeout_error", "timeout"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    431: ("invalid_request_error", "headers_too_large"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}


def _error_payload(
    status: int, message: str, error_type: str | None = None, code: str | None = None
) -> dict[str, Any]:
    default_type, default_code = _ERROR_KINDS.get(status, ("api_error", None))
    return {
        "error": {
            "message": message,
            "type": error_type or default_type,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(payload), payload)


_DONE = _chunk(b"data: [DONE]\n\n")
_TERMINATOR = b"0\r\n\r\n"
_DONE_AND_TERMINATOR = _DONE + _TERMINATOR
_MALFORMED_EVENT = _chunk(b"data: {not json\n\n")


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    count = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            count += len(content.split())
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    count += len(part["text"].split())
    return count


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


_Ending: TypeAlias = Literal["finish", "hang", "cut", "malformed"]


@dataclass(frozen=True, slots=True)
class _Plan:
    words: tuple[str, ...]
    encoded: tuple[bytes, ...]
    ttft: float
    delay: float
    ending: _Ending
    finish_reason: str
    end_pause: float = 0.0


class _StreamFrames:
    """The byte framing of one streamed response, built once per request.

    Every content chunk is ``head + json(token) + tail``; only the token varies, so the
    per-token cost is one join of pre-built pieces.
    """

    __slots__ = ("_fixed_len", "_head", "_tail", "include_usage", "prefix", "usage_null")

    def __init__(self, ident: str, created: int, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.prefix = (
            b'data: {"id":%b,"object":"chat.completion.chunk","created":%d,"model":%b,'
            b'"system_fingerprint":null,"choices":['
            % (json.dumps(ident).encode(), created, json.dumps(model, ensure_ascii=False).encode())
        )
        # OpenAI sends "usage": null on every chunk once the client asked for usage.
        self.usage_null = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._head = self.prefix + b'{"index":0,"delta":{"content":'
        self._tail = b'},"logprobs":null,"finish_reason":null}]' + self.usage_null
        self._fixed_len = len(self._head) + len(self._tail)

    def role(self) -> bytes:
        return _chunk(
            self.prefix
            + b'{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
            + b'"logprobs":null,"finish_reason":null}]'
            + self.usage_null
        )

    def token(self, encoded: bytes) -> bytes:
        return b"".join(
            (b"%x\r\n" % (self._fixed_len + len(encoded)), self._head, encoded, self._tail, b"\r\n")
        )

    def ending(
        self, finish_reason: str, prompt_tokens: int, completion_tokens: int, *, terminate: bool = True
    ) -> bytes:
        parts = [
            _chunk(
                self.prefix
                + b'{"index":0,"delta":{},"logprobs":null,"finish_reason":%b}]'
                % json.dumps(finish_reason).encode()
                + self.usage_null
            )
        ]
        if self.include_usage:
            usage = b'],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}\n\n' % (
                prompt_tokens,
                completion_tokens,
                prompt_tokens + completion_tokens,
            )
            parts.append(_chunk(self.prefix + usage))
        # [DONE] and the terminator go out in the same write (unless told otherwise): a client that
        # drains the body after [DONE] to reuse the connection must not wait for a separate packet.
        parts.append(_DONE_AND_TERMINATOR if terminate else _DONE)
        return b"".join(parts)


async def _close_writer(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    if abort:
        writer.transport.abort()
    else:
        writer.close()
    try:
        # Bounded, because a graceful close waits for a client that may not be reading.
        async with asyncio.timeout(5.0):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()


# --------------------------------------------------------------------------- the server


class MockOpenAI:
    """A scriptable OpenAI-compatible server; see the module docstring.

    Run it in a background thread (:meth:`start_in_thread`, or ``with MockOpenAI() as
    mock``) from synchronous tests, or inside a running loop with ``await mock.start()``
    / ``await mock.aclose()`` (or ``async with``). :meth:`enqueue`, :attr:`default`,
    :attr:`requests` and the ``wait_*`` methods are safe to use from any thread.
    """

    def __init__(
        self,
        default: Behaviour | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "mock-model",
        honour_max_tokens: bool = False,
        keep_records: bool = True,
        response_formats: frozenset[str] | None = None,
        format_refusal: Fault = LLAMA_CPP_PYTHON_REFUSAL,
    ) -> None:
        """``honour_max_tokens`` truncates a :class:`Reply` to the request's ``max_tokens``
        (finish reason ``"length"``). ``keep_records=False`` keeps only counters, for
        long benchmark runs that must not accumulate every request body.

        ``response_formats``, when set, is the ``response_format`` types the server
        takes (``"text"`` for a request without one): any other request is answered
        with ``format_refusal`` (by default as llama-cpp-python's server refuses
        ``json_schema``) without consuming a scripted behaviour."""
        self.default: Behaviour = default if default is not None else Reply()
        self.host = host
        self.model = model
        self.honour_max_tokens = honour_max_tokens
        self.keep_records = keep_records
        self.response_formats = response_formats
        self.format_refusal = format_refusal
        self.connections_accepted = 0
        self.outcome_counts: collections.Counter[str] = collections.Counter()
        self.tokens_sent_total = 0
        self._requested_port = port
        self._port: int | None = None
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._records: list[RequestRecord] = []
        self._request_count = 0
        # One condition guards the queue and the records and wakes every waiter.
        self._cond = threading.Condition()
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._server: asyncio.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- scripting

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Append behaviours; each chat request consumes the oldest one."""
        with self._cond:
            self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """How many enqueued behaviours have not been consumed yet."""
        with self._cond:
            return len(self._queue)

    def reset(self) -> None:
        """Forget the queue, the records and the default; for reuse between tests with no
        request in flight."""
        with self._cond:
            self._queue.clear()
            self._records.clear()
            self._request_count = 0
            self.default = Reply()
            self.outcome_counts.clear()
            self.tokens_sent_total = 0

    def _take_behaviour(self) -> Behaviour:
        with self._cond:
            return self._queue.popleft() if self._queue else self.default

    # ----------------------------------------------------------------- observing

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot list of the chat requests so far; the records themselves are live."""
        with self._cond:
            return list(self._records)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` is true; it is re-checked whenever a request
        arrives, sends tokens or ends. Raises ``TimeoutError`` after ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"mock upstream: condition not met within {timeout} s")

    async def wait_until_async(self, predicate: Callable[[], bool]) -> None:
        """:meth:`wait_until` for async code, without blocking its loop or a thread.

        Bound it with ``asyncio.timeout``.
        """
        loop = asyncio.get_running_loop()
        while True:
            waker = (loop, asyncio.Event())
            with self._cond:
                if predicate():
                    return
                self._async_waiters.add(waker)
            try:
                await waker[1].wait()
            finally:
                with self._cond:
                    self._async_waiters.discard(waker)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        """Block until at least ``count`` chat requests have arrived; return them all."""
        self.wait_until(lambda: len(self._records) >= count, timeout)
        return self.requests

    def wait_for_outcome(self, index: int, timeout: float = 5.0) -> Outcome:
        """Block until chat request number ``index`` (0-based) has arrived and ended."""

        def decided() -> bool:
            return len(self._records) > index and self._records[index].outcome is not None

        try:
            self.wait_until(decided, timeout)
        except TimeoutError:
            with self._cond:
                state = repr(self._records[index]) if len(self._records) > index else "not arrived"
            raise TimeoutError(
                f"mock upstream: request {index} undecided after {timeout} s ({state})"
            ) from None
        outcome = self._records[index].outcome
        assert outcome is not None
        return outcome

    async def wait_for_outcome_async(self, index: int) -> Outcome:
        """:meth:`wait_for_outcome` for async code; bound it with ``asyncio.timeout``."""

        def decided() -> bool:
            return len(self._records) > index and self._records[index].outcome is not None

        await self.wait_until_async(decided)
        outcome = self._records[index].outcome
        assert outcome is not None
        return outcome

    def _notify(self) -> None:
        """Wake every waiter; call with ``self._cond`` held."""
        self._cond.notify_all()
        for loop, event in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed
                loop.call_soon_threadsafe(event.set)

    def _new_record(self, headers: dict[str, str]) -> RequestRecord:
        with self._cond:
            record = RequestRecord(index=self._request_count, headers=headers)
            self._request_count += 1
            if self.keep_records:
                self._records.append(record)
            self._notify()
        return record

    def _add_tokens(self, record: RequestRecord, count: int) -> None:
        with self._cond:
            record.tokens_sent += count
            self.tokens_sent_total += count
            self._notify()

    def _decide(self, record: RequestRecord, outcome: Outcome) -> None:
        with self._cond:
            if record.outcome is None:
                record.outcome = outcome
                self.outcome_counts[outcome] += 1
            self._notify()

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The bound TCP port (the OS picks one when constructed with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("mock upstream is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` for an OpenAI client, e.g. ``http://127.0.0.1:PORT/v1``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = "::1" if host == "::" else host
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> Self:
        """Bind and start serving in the running event loop."""
        if self._server is not None:
            raise RuntimeError("mock upstream is already started")
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._requested_port, backlog=_BACKLOG
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        """Stop listening, drop every open connection and wait until they are gone."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        server.close()
        tasks = list(self._conn_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()
        self._stopping = False

    async def serve_forever(self, stop: asyncio.Event | None = None) -> None:
        """Start, serve until ``stop`` is set (or this task is cancelled), then close."""
        await self.start()
        try:
            if stop is None:
                await _forever()
            else:
                await stop.wait()
        finally:
            await self.aclose()

    @classmethod
    def start_in_thread(cls, default: Behaviour | None = None, **kwargs: Any) -> MockOpenAI:
        """Construct a mock and run it on its own event loop in a daemon thread."""
        return cls(default, **kwargs).run_in_thread()

    def run_in_thread(self, timeout: float = 10.0) -> Self:
        """Run this mock on its own event loop in a daemon thread; returns once it is bound."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("mock upstream is already started")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._thread_main, args=(loop, ready), name="mock-openai", daemon=True
        )
        thread.start()
        try:
            ready.result(timeout)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            raise
        self._loop, self._thread = loop, thread
        return self

    def _thread_main(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a mock started with :meth:`start_in_thread`; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def __enter__(self) -> Self:
        if self._thread is None:
            self.run_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- HTTP serving

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        self.connections_accepted += 1
        reusable = False
        try:
            reusable = await self._serve_connection(_Conn(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away between or inside requests
        except asyncio.CancelledError:
            # Python 3.11's start_server callback calls task.exception() on this task, which
            # raises (and logs a traceback) if the task ends cancelled; aclose() is the only
            # canceller and only needs the task gone.
            if not self._stopping:
                raise
        except Exception:
            logger.exception("mock upstream: unexpected failure while serving a connection")
        finally:
            self._conn_tasks.discard(task)
            await _close_writer(writer, abort=not reusable)

    async def _serve_connection(self, conn: _Conn) -> bool:
        """Serve requests until the connection ends; False when it must be aborted."""
        while True:
            try:
                head = await conn.read_head()
                if head is None:
                    return True
                method, target, version, headers = _parse_head(head)
                keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if headers.get("expect", "").lower() == "100-continue":
                    conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await _read_body(conn, headers)
            except _HttpError as exc:
                # The framing is unknown after a bad request, so the connection cannot be reused.
                conn.writer.write(
                    _json_response(exc.status, _error_payload(exc.status, exc.message), keep_alive=False)
                )
                await conn.writer.drain()
                return True
            path = target.split("?", 1)[0]
            if path == "/v1/chat/completions":
                if method != "POST":
                    await self._send_error(conn, 405, f"Use POST for {path}.", keep_alive)
                elif not await self._handle_chat(conn, headers, body, keep_alive):
                    return False
            elif path == "/v1/models":
                if method != "GET":
                    await self._send_error(conn, 405, f"Use GET for {path}.", keep_alive)
                else:
                    conn.writer.write(_json_response(200, self._models_payload(), keep_alive=keep_alive))
                    await conn.writer.drain()
            else:
                await self._send_error(conn, 404, f"Invalid URL ({method} {path})", keep_alive)
            if not keep_alive:
                return True

    def _models_payload(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "hotseat-mock"}],
        }

    async def _send_error(
        self,
        conn: _Conn,
        status: int,
        message: str,
        keep_alive: bool,
        *,
        extra: Sequence[tuple[str, str]] = (),
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        payload = _error_payload(status, message, error_type, code)
        conn.writer.write(_json_response(status, payload, keep_alive=keep_alive, extra=extra))
        await conn.writer.drain()

    async def _handle_chat(self, conn: _Conn, headers: dict[str, str], raw: bytes, keep_alive: bool) -> bool:
        """Serve one chat request; False when the connection is no longer usable."""
        record = self._new_record(headers)
        try:
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("the top-level JSON value must be an object")
            except ValueError as exc:  # also covers JSONDecodeError and UnicodeDecodeError
                record.status = 400
                await self._send_error(
                    conn,
                    400,
                    f"We could not parse the JSON body of your request: {exc}",
                    keep_alive,
                    code="invalid_json",
                )
                self._decide(record, "error")
                return True
            record.body = body
            behaviour = self._refusal(body) or self._take_behaviour()
            record.behaviour = behaviour
            if isinstance(behaviour, Fault):
                record.status = behaviour.status
                extra = (
                    [] if behaviour.retry_after is None else [("retry-after", f"{behaviour.retry_after:g}")]
                )
                await self._send_error(
                    conn,
                    behaviour.status,
                    behaviour.message,
                    keep_alive,
                    extra=extra,
                    error_type=behaviour.error_type,
                    code=behaviour.code,
                )
                self._decide(record, "error")
                return True
            plan = self._plan(body, behaviour)
            if body.get("stream") is True:
                work = self._stream(conn, record, body, plan, keep_alive)
            else:
                work = self._complete(conn, record, body, plan, keep_alive)
            outcome = await self._guarded(conn, work)
            self._decide(record, outcome)
            return outcome == "completed"
        except asyncio.CancelledError:
            self._decide(record, "server_stopped")
            raise
        except ConnectionError:
            self._decide(record, "client_closed")
            raise
        except BaseException:
            self._decide(record, "error")
            raise

    def _refusal(self, body: dict[str, Any]) -> Fault | None:
        """``format_refusal`` if the request asks for a ``response_format`` the server does not take."""
        if self.response_formats is None:
            return None
        asked = body.get("response_format")
        kind = asked.get("type") if isinstance(asked, dict) else "text"
        return None if kind in self.response_formats else self.format_refusal

    def _plan(self, body: dict[str, Any], behaviour: Reply | Hang | Cut | Malformed) -> _Plan:
        if isinstance(behaviour, Reply):
            words, encoded = behaviour.resolved_tokens, behaviour.encoded_tokens
            finish_reason = behaviour.finish_reason
            limit = _max_tokens(body) if self.honour_max_tokens else None
            if limit is not None and limit < len(words):
                words, encoded, finish_reason = words[:limit], encoded[:limit], "length"
            return _Plan(
                words, encoded, behaviour.ttft, behaviour.delay, "finish", finish_reason, behaviour.end_pause
            )
        ending: _Ending
        if isinstance(behaviour, Hang):
            ending = "hang"
        elif isinstance(behaviour, Cut):
            ending = "cut"
        else:
            ending = "malformed"
        count = max(0, behaviour.after_tokens)
        return _Plan(
            _generated_tokens(count), _generated_encoded(count), 0.0, behaviour.delay, ending, "stop"
        )

    async def _guarded(self, conn: _Conn, work: Coroutine[Any, Any, Outcome]) -> Outcome:
        """Run ``work`` while watching the socket; a client hang-up cancels it."""
        work_task = asyncio.create_task(work)
        watch_task = asyncio.create_task(conn.watch_eof())
        try:
            await asyncio.wait((work_task, watch_task), return_when=asyncio.FIRST_COMPLETED)
            if not work_task.done():
                if not conn.closing:
                    work_task.cancel()
                # Cancelled or not, wait for it: it may be mid-write, and a Cut's own EOF
                # must let the Cut finish and report itself.
                await asyncio.wait((work_task,))
            if work_task.cancelled():
                return "client_closed"
            exc = work_task.exception()
            if exc is None:
                return work_task.result()
            if isinstance(exc, ConnectionError):
                return "client_closed"
            raise exc
        finally:
            for task in (work_task, watch_task):
                task.cancel()
            await asyncio.wait((work_task, watch_task))
            if not watch_task.cancelled():
                watch_task.exception()  # mark retrieved; the watcher swallows socket errors

    async def _send_tokens(
        self, conn: _Conn, record: RequestRecord, plan: _Plan, frames: _StreamFrames
    ) -> None:
        writer = conn.writer
        if plan.delay <= 0:
            if plan.encoded:
                writer.write(b"".join([frames.token(t) for t in plan.encoded]))
                await writer.drain()
                self._add_tokens(record, len(plan.encoded))
            return
        for i, encoded in enumerate(plan.encoded):
            if i:
                await asyncio.sleep(plan.delay)
            writer.write(frames.token(encoded))
            await writer.drain()
            self._add_tokens(record, 1)

    async def _cut(self, conn: _Conn) -> Outcome:
        conn.closing = True
        # A graceful close still flushes what was written, so the client reliably gets the
        # promised tokens and then an EOF in the middle of the body.
        await _close_writer(conn.writer, abort=False)
        return "cut"

    async def _stream(
        self, conn: _Conn, record: RequestRecord, body: dict[str, Any], plan: _Plan, keep_alive: bool
    ) -> Outcome:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        model = body.get("model")
        frames = _StreamFrames(
            f"chatcmpl-mock{record.index}",
            int(time.time()),
            model if isinstance(model, str) else self.model,
            include_usage,
        )
        head = _response_head(
            200,
            [
                ("content-type", "text/event-stream; charset=utf-8"),
                ("transfer-encoding", "chunked"),
                ("cache-control", "no-cache"),
            ],
            keep_alive=keep_alive,
        )
        record.status = 200
        # Headers go out at once, as real servers do; ttft delays the first token only.
        conn.writer.write(head + frames.role())
        await conn.writer.drain()
        if plan.ttft > 0:
            await asyncio.sleep(plan.ttft)
        await self._send_tokens(conn, record, plan, frames)
        if plan.ending == "hang":
            await _forever()
        if plan.ending == "cut":
            return await self._cut(conn)
        if plan.ending == "malformed":
            conn.writer.write(_MALFORMED_EVENT)
        pause = plan.end_pause
        conn.writer.write(
            frames.ending(plan.finish_reason, _prompt_tokens(body), len(plan.encoded), terminate=not pause)
        )
        await conn.writer.drain()
        if pause:
            await asyncio.sleep(pause)
            conn.writer.write(_TERMINATOR)
            await conn.writer.drain()
        return "completed"

    async def _complete(
        self, conn: _Conn, record: RequestRecord, body: dict[str, Any], plan: _Plan, keep_alive: bool
    ) -> Outcome:
        if plan.ending == "hang":
            await _forever()
        # A non-streaming server answers only when generation is done.
        pause = plan.ttft + plan.delay * max(0, len(plan.words) - 1)
        if pause > 0:
            await asyncio.sleep(pause)
        if plan.ending == "malformed":
            headers = [("content-type", "application/json"), ("content-length", "9")]
            conn.writer.write(_response_head(200, headers, keep_alive=keep_alive) + b"{not json")
            record.status = 200
            await conn.writer.drain()
            return "completed"
        model = body.get("model")
        prompt_tokens = _prompt_tokens(body)
        payload = {
            "id": f"chatcmpl-mock{record.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model if isinstance(model, str) else self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(plan.words), "refusal": None},
                    "logprobs": None,
                    "finish_reason": plan.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(plan.words),
                "total_tokens": prompt_tokens + len(plan.words),
            },
        }
        response = _json_response(200, payload, keep_alive=keep_alive)
        record.status = 200
        if plan.ending == "cut":
            # Headers promise the full length; half the body then EOF is an incomplete message.
            conn.writer.write(response[: len(response) - len(response) // 4])
            await conn.writer.drain()
            return await self._cut(conn)
        conn.writer.write(response)
        await conn.writer.drain()
        self._add_tokens(record, len(plan.words))
        return "completed"


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fixed :class:`Reply` forever; the upstream for load benchmarks."""
    parser = argparse.ArgumentParser(
        prog="python -m doubles.mock_openai",
        description="OpenAI-compatible mock upstream that streams a fixed reply, for load benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed on start)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per reply")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="pause between tokens")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="pause before the first token")
    parser.add_argument("--model", default="mock-model")
    parser.add_argument(
        "--ignore-max-tokens",
        action="store_true",
        help="always stream --tokens tokens instead of min(max_tokens, --tokens)",
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (must be installed)")
    args = parser.parse_args(argv)

    mock = MockOpenAI(
        Reply(token_count=args.tokens, delay=args.delay_ms / 1000, ttft=args.ttft_ms / 1000),
        host=args.host,
        port=args.port,
        model=args.model,
        honour_max_tokens=not args.ignore_max_tokens,
        keep_records=False,
    )
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.uvloop:
        import uvloop

        loop_factory = uvloop.new_event_loop

    async def run() -> None:
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            # Benchmark harnesses stop the mock with SIGTERM; still print the summary.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await mock.start()
        print(f"mock upstream listening on {mock.base_url}", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            await mock.aclose()

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(run())
    except KeyboardInterrupt:
        pass
    counts = ", ".join(f"{name}={n}" for name, n in sorted(mock.outcome_counts.items())) or "none"
    print(
        f"mock upstream stopped: connections={mock.connections_accepted} requests: {counts}; "
        f"tokens sent={mock.tokens_sent_total}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
