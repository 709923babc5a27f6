"""The mock OpenAI upstream speaks the real protocol and fails in the scripted ways."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from doubles.mock_openai import Cut, Fault, Hang, Malformed, MockOpenAI, Reply, split_text

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You interview."},
    {"role": "user", "content": "Hello there"},
]


@pytest.fixture
def mock() -> Iterator[MockOpenAI]:
    with MockOpenAI.start_in_thread() as running:
        yield running


@pytest.fixture
def client(mock: MockOpenAI) -> Iterator[openai.OpenAI]:
    # No retries: every scripted behaviour must surface exactly once.
    with openai.OpenAI(base_url=mock.base_url, api_key="test", max_retries=0, timeout=5.0) as sdk:
        yield sdk


def _stream_text(client: openai.OpenAI) -> tuple[str, list[str | None], openai.types.CompletionUsage | None]:
    stream = client.chat.completions.create(
        model="mock-model",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text: list[str] = []
    finishes: list[str | None] = []
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
    return "".join(text), finishes, usage


def _collect(stream: openai.Stream[ChatCompletionChunk], into: list[str]) -> None:
    for chunk in stream:
        into.append(chunk.choices[0].delta.content or "")


def test_streamed_reply_reassembles_to_text_with_usage(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """A streamed Reply arrives token by token through the SDK, then finish_reason and usage."""
    text = "  Tell me about\na time you\tdisagreed.  "
    mock.enqueue(Reply(text=text))
    got, finishes, usage = _stream_text(client)
    assert got == text
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    assert usage is not None
    assert usage.completion_tokens == len(split_text(text))
    assert usage.prompt_tokens == 4  # words across all message contents
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    record = mock.requests[0]
    assert mock.wait_for_outcome(0) == "completed"
    assert record.body["messages"] == MESSAGES
    assert record.body["stream_options"] == {"include_usage": True}
    assert record.tokens_sent == len(split_text(text))


@pytest.mark.parametrize("text", ["", " ", "a", " a b  ", "x\n\ny\n", "\t lead", "trail \n"])
def test_split_text_loses_nothing(text: str) -> None:
    """Splitting text into tokens keeps every character, whitespace included."""
    assert "".join(split_text(text)) == text


def test_default_reply_when_queue_is_empty(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """With nothing enqueued, each request gets the (settable) default reply."""
    got, _, usage = _stream_text(client)
    assert got == "".join(f" tok{i}" for i in range(1, 21))
    assert usage is not None
    assert usage.completion_tokens == 20
    mock.default = Reply(tokens=["Hi", "!"], finish_reason="length")
    mock.enqueue(Reply(text="queued first"))
    assert _stream_text(client)[0] == "queued first"
    got, finishes, _ = _stream_text(client)
    assert got == "Hi!"
    assert finishes[-1] == "length"
    # The client can hold [DONE] a moment before the server records the outcome: wait for it.
    assert [mock.wait_for_outcome(i) for i in range(3)] == ["completed"] * 3


def test_fault_429_raises_rate_limit_error_with_retry_after(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """A Fault(429) reaches the SDK as RateLimitError with OpenAI's error body and retry-after."""
    mock.enqueue(Fault(429, retry_after=1.5, message="slow down"))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)
    assert caught.value.response.headers["retry-after"] == "1.5"
    assert caught.value.body == {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert mock.wait_for_outcome(0) == "error"
    assert mock.requests[0].status == 429


def test_cut_breaks_the_stream_after_the_promised_tokens(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """A Cut delivers N tokens, then the SDK fails on the incomplete chunked body."""
    mock.enqueue(Cut(after_tokens=3))
    stream = client.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        _collect(stream, received)
    assert "".join(received) == " tok1 tok2 tok3"
    assert mock.wait_for_outcome(0) == "cut"
    assert mock.requests[0].tokens_sent == 3


def test_hang_then_client_close_is_recorded(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """A client closing a silent (hanging) stream is seen by the server as client_closed."""
    mock.enqueue(Hang(after_tokens=2))
    stream = client.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)
    chunks = iter(stream)
    contents = [next(chunks).choices[0].delta.content for _ in range(3)]
    assert contents == ["", " tok1", " tok2"]
    assert mock.requests[0].outcome is None  # still hanging, not finished
    stream.close()
    assert mock.wait_for_outcome(0) == "client_closed"
    assert mock.requests[0].tokens_sent == 2


def test_client_close_during_slow_reply_is_recorded(mock: MockOpenAI) -> None:
    """Hanging up mid-way through a slow Reply is client_closed, not completed."""
    mock.enqueue(Reply(token_count=1000, delay=0.01))
    with (
        httpx.Client(base_url=mock.base_url, timeout=5.0) as http,
        http.stream("POST", "/chat/completions", json={"messages": MESSAGES, "stream": True}) as response,
    ):
        lines = response.iter_lines()
        while "tok2" not in next(lines):
            pass
    assert mock.wait_for_outcome(0) == "client_closed"
    assert 2 <= mock.requests[0].tokens_sent < 1000


def test_malformed_event_is_delivered_then_stream_ends(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """A Malformed event reaches the client verbatim, and the SDK rejects it as bad JSON."""
    mock.enqueue(Malformed(after_tokens=2), Malformed(after_tokens=1))
    stream = client.chat.completions.create(model="mock-model", messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        _collect(stream, received)
    assert "".join(received) == " tok1 tok2"
    with httpx.Client(base_url=mock.base_url, timeout=5.0) as http:
        response = http.post("/chat/completions", json={"messages": MESSAGES, "stream": True})
    events = [event for event in response.text.split("\n\n") if event]
    # role chunk, one token, the malformed event, then a normal finish and [DONE]
    assert events[2] == "data: {not json"
    assert json.loads(events[3].removeprefix("data: "))["choices"][0]["finish_reason"] == "stop"
    assert events[4:] == ["data: [DONE]"]
    assert [mock.wait_for_outcome(i) for i in range(2)] == ["completed", "completed"]


def test_fifty_concurrent_streams(mock: MockOpenAI) -> None:
    """Fifty simultaneous streams through AsyncOpenAI all complete with the right text."""
    mock.default = Reply(token_count=30, delay=0.001)

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=mock.base_url, api_key="test", max_retries=0) as sdk:

            async def one(i: int) -> str:
                stream = await sdk.chat.completions.create(
                    model=f"m{i}",
                    messages=[{"role": "user", "content": f"request {i}"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                return "".join(parts)

            return await asyncio.gather(*(one(i) for i in range(50)))

    results = asyncio.run(run())
    assert results == ["".join(f" tok{i}" for i in range(1, 31))] * 50
    records = mock.wait_for_requests(50)
    assert sorted(r.body["model"] for r in records) == sorted(f"m{i}" for i in range(50))
    assert {mock.wait_for_outcome(i) for i in range(50)} == {"completed"}


def test_non_streaming_models_and_errors(mock: MockOpenAI, client: openai.OpenAI) -> None:
    """Non-streaming chat, the model list, 404s and bad JSON use OpenAI's shapes."""
    mock.enqueue(Reply(text="All at once."))
    completion = client.chat.completions.create(model="mock-model", messages=MESSAGES)
    assert completion.choices[0].message.content == "All at once."
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 3
    assert [m.id for m in client.models.list()] == ["mock-model"]
    with httpx.Client(base_url=mock.base_url, timeout=5.0) as http:
        missing = http.get("/nope")
        bad = http.post(
            "/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert missing.status_code == 404
    assert set(missing.json()["error"]) >= {"message", "type", "code"}
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert mock.wait_for_outcome(1) == "error"


def test_keep_alive_reuses_one_connection(mock: MockOpenAI) -> None:
    """Sequential streams from AsyncOpenAI (as hotseat uses it) share one TCP connection."""

    async def run() -> list[str]:
        async with openai.AsyncOpenAI(base_url=mock.base_url, api_key="test", max_retries=0) as sdk:
            texts = []
            for _ in range(3):
                stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
                texts.append("".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))
            return texts

    assert asyncio.run(run()) == ["".join(f" tok{i}" for i in range(1, 21))] * 3
    assert mock.connections_accepted == 1


def test_honour_max_tokens_truncates_with_length() -> None:
    """With honour_max_tokens, max_tokens caps the reply and finish_reason becomes length."""
    with (
        MockOpenAI.start_in_thread(Reply(token_count=10), honour_max_tokens=True) as mock,
        openai.OpenAI(base_url=mock.base_url, api_key="test", max_retries=0, timeout=5.0) as sdk,
    ):
        completion = sdk.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4)
    assert completion.choices[0].message.content == " tok1 tok2 tok3 tok4"
    assert completion.choices[0].finish_reason == "length"


def test_async_api_in_an_existing_loop() -> None:
    """start/aclose run the mock inside the caller's loop, and async waiting does not block it."""

    async def run() -> None:
        async with (
            MockOpenAI(Hang()) as mock,
            openai.AsyncOpenAI(base_url=mock.base_url, api_key="test", max_retries=0) as sdk,
        ):
            stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            await stream.close()
            async with asyncio.timeout(5):
                assert await mock.wait_for_outcome_async(0) == "client_closed"
            # A second request left hanging is settled by stopping the server.
            reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
            body = json.dumps({"messages": MESSAGES, "stream": True}).encode()
            writer.write(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%b"
                % (len(body), body)
            )
            await writer.drain()
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            await mock.aclose()
            writer.close()
            await writer.wait_closed()
            assert mock.requests[1].outcome == "server_stopped"

    asyncio.run(run())


def test_stop_closes_the_listening_socket() -> None:
    """After stop(), the port refuses connections: nothing is left running."""
    mock = MockOpenAI.start_in_thread()
    port = mock.port
    mock.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_stop_settles_hanging_streams_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """stop() ends hanging streams as server_stopped without logging errors."""
    mock = MockOpenAI.start_in_thread(Hang(after_tokens=1))
    with (
        httpx.Client(base_url=mock.base_url, timeout=5.0) as http,
        http.stream("POST", "/chat/completions", json={"messages": MESSAGES, "stream": True}) as response,
    ):
        lines = response.iter_lines()
        while "tok1" not in next(lines):
            pass
        mock.stop()
        with pytest.raises(httpx.TransportError):
            list(lines)
    assert mock.requests[0].outcome == "server_stopped"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
