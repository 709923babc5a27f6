"""The `openai` backend (chat completions, stream=True, over aiohttp) against a real OpenAI-format server."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import socket
import time
import zlib

import aiohttp
import pytest

from doubles.mock_openai import Cut, Fault, Hang, Malformed, MockOpenAI, Reply
from hotseat.errors import UpstreamError, UpstreamRateLimited, UpstreamTimeout, UpstreamUnavailable
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd
from hotseat.llm.openai import OpenAIBackend
from hotseat.llm.openai_retry import retry_after, worth_retrying
from hotseat.llm.upstream_failures import UpstreamFailures

MESSAGES = [ChatMessage("system", "You are an interviewer."), ChatMessage("user", "Hi there")]


def backend_for(upstream: MockOpenAI, **overrides: float) -> OpenAIBackend:
    options: dict[str, float] = {"read_timeout": 5.0, "max_retries": 0, **overrides}
    return OpenAIBackend(
        base_url=upstream.base_url,
        api_key="test-key",
        model="mock-model",
        connect_timeout=2.0,
        read_timeout=options["read_timeout"],
        max_retries=int(options["max_retries"]),
    )


async def collect(
    backend: OpenAIBackend, params: GenerationParams | None = None
) -> tuple[list[str], StreamEnd]:
    texts: list[str] = []
    end: StreamEnd | None = None
    async for item in backend.stream(MESSAGES, params or GenerationParams(max_tokens=64)):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, StreamEnd):
            end = item
    assert end is not None
    return texts, end


async def read_into(backend: OpenAIBackend, received: list[str]) -> None:
    """Append the stream's text items to ``received`` until it ends or raises."""
    async for item in backend.stream(MESSAGES, GenerationParams()):
        if isinstance(item, str):
            received.append(item)


async def test_streams_deltas_and_usage(upstream: MockOpenAI) -> None:
    """Text arrives token by token, then StreamEnd with the finish reason and usage."""
    upstream.enqueue(Reply(text="Tell me about a hard bug you fixed."))
    backend = backend_for(upstream)
    texts, end = await collect(backend)
    await backend.aclose()
    assert texts == ["Tell", " me", " about", " a", " hard", " bug", " you", " fixed."]
    assert end.finish_reason == "stop"
    assert end.usage is not None and end.usage.completion_tokens == 8
    (request,) = upstream.requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["model"] == "mock-model"
    assert request.headers["authorization"] == "Bearer test-key"


async def test_cancelling_the_consumer_closes_the_upstream_request(upstream: MockOpenAI) -> None:
    """Cancelling the task that reads the stream closes the HTTP request: the server sees it go."""
    upstream.enqueue(Reply(token_count=10_000, delay=0.01))
    backend = backend_for(upstream)
    received: list[str] = []
    three_in = asyncio.Event()

    async def consume() -> None:
        async for item in backend.stream(MESSAGES, GenerationParams(max_tokens=20_000)):
            if isinstance(item, str):
                received.append(item)
                if len(received) == 3:
                    three_in.set()

    task = asyncio.create_task(consume())
    await three_in.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    outcome = await upstream.wait_for_outcome_async(0)
    await backend.aclose()
    assert outcome == "client_closed"
    assert upstream.requests[0].tokens_sent < 10_000


@pytest.mark.parametrize(
    ("behaviour", "error", "fragment"),
    [
        (Fault(429, retry_after=7), UpstreamRateLimited, "rate-limiting"),
        (Fault(500), UpstreamError, "HTTP 500"),
        (Fault(503), UpstreamError, "HTTP 503"),
        (Fault(401), UpstreamError, "API key"),
        (Fault(404), UpstreamError, "model"),
    ],
)
async def test_http_failures_map_to_documented_codes(
    upstream: MockOpenAI, behaviour: Fault, error: type[Exception], fragment: str
) -> None:
    """Upstream HTTP errors become upstream_* errors with a message a person can act on."""
    upstream.enqueue(behaviour)
    backend = backend_for(upstream)
    with pytest.raises(error) as raised:
        await collect(backend)
    await backend.aclose()
    assert fragment in str(raised.value)
    if isinstance(raised.value, UpstreamRateLimited):
        assert raised.value.retry_after == 7


async def test_retries_before_the_first_token(upstream: MockOpenAI) -> None:
    """A 500 before any text is retried (with back-off) and the reply then streams normally."""
    upstream.enqueue(Fault(500), Reply(text="Recovered fine."))
    backend = backend_for(upstream, max_retries=2)
    texts, _ = await collect(backend)
    await backend.aclose()
    assert "".join(texts) == "Recovered fine."
    assert len(upstream.requests) == 2


async def test_cut_mid_stream_is_upstream_error_after_partial_text(upstream: MockOpenAI) -> None:
    """A connection cut mid-reply raises upstream_error after the text that did arrive."""
    upstream.enqueue(Cut(after_tokens=3))
    backend = backend_for(upstream)
    received: list[str] = []
    with pytest.raises(UpstreamError) as raised:
        await read_into(backend, received)
    await backend.aclose()
    assert len(received) == 3
    assert raised.value.code == "upstream_error"


async def test_hang_before_first_token_times_out(upstream: MockOpenAI) -> None:
    """A server that goes silent gives upstream_timeout after the read timeout."""
    upstream.enqueue(Hang(after_tokens=0))
    backend = backend_for(upstream, read_timeout=0.3)
    with pytest.raises(UpstreamTimeout):
        await collect(backend)
    await backend.aclose()


async def test_hang_mid_stream_times_out_with_partial_text(upstream: MockOpenAI) -> None:
    """A server that stalls mid-reply gives upstream_timeout after the text so far."""
    upstream.enqueue(Hang(after_tokens=2))
    backend = backend_for(upstream, read_timeout=0.3)
    received: list[str] = []
    with pytest.raises(UpstreamTimeout):
        await read_into(backend, received)
    await backend.aclose()
    assert len(received) == 2


async def test_malformed_chunk_is_upstream_error(upstream: MockOpenAI) -> None:
    """A chunk that is not JSON gives upstream_error, not a crash."""
    upstream.enqueue(Malformed(after_tokens=2))
    backend = backend_for(upstream)
    with pytest.raises(UpstreamError) as raised:
        await collect(backend)
    await backend.aclose()
    assert "malformed" in str(raised.value)


async def test_connection_refused_is_upstream_unavailable() -> None:
    """Nothing listening at the base URL gives upstream_unavailable naming the URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", api_key="", model="m", max_retries=0)
    with pytest.raises(UpstreamUnavailable) as raised:
        await collect(backend)
    await backend.aclose()
    assert f"127.0.0.1:{port}" in str(raised.value)


async def test_a_server_that_always_fails_gets_max_retries_plus_one_posts() -> None:
    """One retry budget (#19): an upstream that always answers 500 gets max_retries + 1 POSTs, no more."""
    with MockOpenAI(Fault(500)) as failing:
        backend = backend_for(failing, max_retries=2)
        with pytest.raises(UpstreamError) as raised:
            await collect(backend)
        await backend.aclose()
        assert "HTTP 500" in str(raised.value)
        assert len(failing.requests) == 3


async def test_refusals_and_silent_replies_share_one_budget(upstream: MockOpenAI) -> None:
    """A 500, then a reply silent past the first-token deadline, then a 503: three tries of budget two."""
    upstream.enqueue(Fault(500), Hang(after_tokens=0), Fault(503), Reply(text="never asked for"))
    backend = OpenAIBackend(
        base_url=upstream.base_url, api_key="k", model="m", read_timeout=5.0, max_retries=2,
        first_token_timeout=0.2,
    )  # fmt: skip
    with pytest.raises(UpstreamError) as raised:
        await collect(backend)
    await backend.aclose()
    assert "HTTP 503" in str(raised.value)
    assert len(upstream.requests) == 3
    assert upstream.pending == 1


@pytest.mark.parametrize(
    ("aiohttp_error", "streaming", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), False, UpstreamTimeout),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), False, UpstreamTimeout),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), True, UpstreamTimeout),
        (aiohttp.ServerDisconnectedError(), False, UpstreamUnavailable),
        (aiohttp.ServerDisconnectedError(), True, UpstreamError),
        (aiohttp.ClientPayloadError("Response payload is not completed"), True, UpstreamError),
    ],
)
def test_the_aiohttp_error_decides_the_code(
    aiohttp_error: aiohttp.ClientError, streaming: bool, expected: type[Exception]
) -> None:
    """aiohttp's timeouts are timeouts; a broken connection is unavailable before the reply, broken after."""
    failures = UpstreamFailures(
        "http://127.0.0.1:9/v1", "m", connect_timeout=10.0, read_timeout=60.0, max_connections=1
    )
    assert type(failures.translate(aiohttp_error, streaming=streaming)) is expected


# An OpenAI-format body as some servers frame it: CRLF and bare CR line ends, a comment, an
# `event:` line, a chunk without content, usage in its own chunk, and pieces cut mid-line and
# between a CR and its LF.
_AWKWARD_BODY = [
    b': keep-alive\r\n\r\ndata: {"choices":[{"delta":{"role":"assistant"}}]}\r\n\r\nda',
    b'ta: {"choices":[{"delta":{"content":"Hel"}}]}\r',
    b'\n\r\nevent: message\rdata: {"choices":[{"delta":{"content":"lo, "}}]}\n\n',
    b'data: {"choices":[{"delta":{"content":"w\xc3',  # a UTF-8 character cut in two
    b'\xa9rld"},"finish_reason":"length"}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":7,',
    b'"completion_tokens":3}}\n\ndata: [DONE]',  # the last line has no line end
]


async def _serve_awkward_sse(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, gzip: bool = False
) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)  # the request body, read so the client is not reset mid-send
    encoding = b"content-encoding: gzip\r\n" if gzip else b""
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" + encoding + b"connection: close\r\n\r\n"
    )
    # Flushed per piece, as a compressing proxy in front of a streaming server would.
    compressor = zlib.compressobj(wbits=31)  # 31: the gzip format
    for piece in _AWKWARD_BODY:
        writer.write(compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH) if gzip else piece)
        await writer.drain()
        await asyncio.sleep(0.02)
    if gzip:
        writer.write(compressor.flush())
    writer.close()


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_sse_framing_of_any_server_is_read_exactly(gzip: bool) -> None:
    """Lines split across reads, CRLF or CR endings, comments and a missing final line end all
    give the same text, finish reason and usage (a real socket, written piece by piece); a
    body sent with ``Content-Encoding: gzip`` too (it is read through the decoding path)."""
    server = await asyncio.start_server(functools.partial(_serve_awkward_sse, gzip=gzip), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = OpenAIBackend(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="k",
        model="m",
        connect_timeout=2.0,
        read_timeout=5.0,
        max_retries=0,
    )
    try:
        texts, end = await collect(backend)
    finally:
        await backend.aclose()
        server.close()
        await server.wait_closed()
    assert "".join(texts) == "Hello, wérld"
    assert end.finish_reason == "length"
    assert end.usage is not None and (end.usage.prompt_tokens, end.usage.completion_tokens) == (7, 3)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # milliseconds win, as in the SDK
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_as_the_sdk_reads_it(headers: dict[str, str], seconds: float | None) -> None:
    """retry-after-ms, then retry-after in seconds; a value that is neither is no value."""
    assert retry_after(headers) == seconds


def test_retry_after_as_a_date_is_the_time_until_then() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after({"retry-after": when})
    assert seconds is not None and 25 < seconds <= 31


@pytest.mark.parametrize(
    ("status", "headers", "retried"),
    [
        (500, {}, True),
        (503, {}, True),
        (429, {"retry-after": "3"}, True),
        (429, {"retry-after": "150"}, False),  # past 120 s: fail now, with retry_after for the client
        (408, {}, True),
        (409, {}, True),
        (400, {}, False),
        (401, {}, False),
        (400, {"x-should-retry": "true"}, True),  # the server's word wins over the status
        (503, {"x-should-retry": "false"}, False),
    ],
)
def test_which_refusals_are_retried(status: int, headers: dict[str, str], retried: bool) -> None:
    assert worth_retrying(status, headers) is retried


async def test_a_request_past_the_connection_cap_waits_then_times_out(upstream: MockOpenAI) -> None:
    """With every allowed connection busy, a request waits for one, up to the connect timeout."""
    upstream.enqueue(Reply(token_count=10_000, delay=0.01), Reply(text="Second."))
    backend = OpenAIBackend(
        base_url=upstream.base_url,
        api_key="k",
        model="mock-model",
        connect_timeout=0.3,
        read_timeout=5.0,
        max_retries=0,
        max_connections=1,
    )
    first_in = asyncio.Event()

    async def hold_the_connection() -> None:
        async for item in backend.stream(MESSAGES, GenerationParams(max_tokens=20_000)):
            if isinstance(item, str):
                first_in.set()

    holder = asyncio.create_task(hold_the_connection())
    await first_in.wait()
    with pytest.raises(UpstreamTimeout) as raised:
        await collect(backend)
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    texts, _ = await collect(backend)  # the connection is free again
    await backend.aclose()
    assert "all 1 were busy" in str(raised.value)
    assert "".join(texts) == "Second."
    assert len(upstream.requests) == 2


async def test_a_body_that_ends_after_done_keeps_its_connection(upstream: MockOpenAI) -> None:
    """The body's end arriving after [DONE] (as from servers built on uvicorn) is waited for, so the
    next turn reuses the connection instead of opening one (with a TLS handshake, against a remote
    server)."""
    upstream.enqueue(*(Reply(text=f"Answer {n}.", end_pause=0.05) for n in range(3)))
    backend = backend_for(upstream)
    for n in range(3):
        texts, _ = await collect(backend)
        assert "".join(texts) == f"Answer {n}."
        await backend.drained()
    await backend.aclose()
    assert upstream.connections_accepted == 1


async def test_the_reply_ends_without_waiting_for_the_body_to_end(upstream: MockOpenAI) -> None:
    """The turn ends at [DONE], while the server still holds the body open."""
    upstream.enqueue(Reply(text="Done already.", end_pause=60))
    backend = backend_for(upstream)
    texts, end = await collect(backend)
    assert "".join(texts) == "Done already." and end.finish_reason == "stop"
    assert upstream.requests[0].outcome is None  # the server is still in its pause
    await backend.aclose()  # stops waiting for the body's end, and closes the connection
    assert upstream.wait_for_outcome(0) == "client_closed"


async def test_a_cancelled_reply_closes_its_connection(upstream: MockOpenAI) -> None:
    """A reply left before [DONE] is not drained (its body could go on for long): the next turn
    gets a new connection."""
    upstream.enqueue(Reply(token_count=10_000, delay=0.01), Reply(text="Next."))
    backend = backend_for(upstream)
    stream = backend.stream(MESSAGES, GenerationParams(max_tokens=20_000))
    assert isinstance(await anext(stream), str)
    await stream.aclose()
    texts, _ = await collect(backend)
    await backend.aclose()
    assert "".join(texts) == "Next."
    assert upstream.connections_accepted == 2
