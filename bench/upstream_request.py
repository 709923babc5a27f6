"""CPU per upstream request: the OpenAI SDK against hotseat's backend and a bare aiohttp POST.

A turn's model request is a fixed cost on top of its tokens. This starts the mock
upstream with one-token replies (``--tokens``, ``--delay-ms``: longer ones, for the
cost per token) and, in this one process, sends ``--requests`` streaming
chat-completion requests ``--concurrency`` at a time four ways, each reading the
whole reply:

- ``sdk``: ``AsyncOpenAI(...).chat.completions.with_streaming_response.create`` over
  the SDK's aiohttp transport, the body read raw (how hotseat sent requests before
  it dropped the SDK);
- ``sdk-lines``: the same request, read through the SDK's public streaming API
  (``iter_lines()``), each ``data:`` line parsed with orjson: what hotseat would
  do if it went back to the SDK without its typed chunks (#19);
- ``hotseat``: ``OpenAIBackend.stream``, the request and the SSE parsing hotseat does;
- ``aiohttp``: ``ClientSession.post`` and the body read, nothing else (the floor).

It prints this process's CPU time per request (``time.process_time``), and per token.
The mock runs in its own process, so its CPU is not counted. Each way runs twice,
interleaved.

    .venv/bin/python -m bench.upstream_request [--requests 3000] [--concurrency 20]
    .venv/bin/python -m bench.upstream_request --tokens 400 --delay-ms 10 --requests 200 --concurrency 200
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import openai
import orjson
import uvloop

from bench import servers
from hotseat.llm.base import ChatMessage, GenerationParams
from hotseat.llm.openai import OpenAIBackend

MESSAGES = [
    ChatMessage("system", "You are a brilliant interviewer. " * 20),
    ChatMessage("user", "I fixed a race in our job queue."),
]
PARAMS = GenerationParams(max_tokens=100_000)  # the mock's --tokens decides


def _body() -> dict[str, object]:
    return {
        "model": "mock",
        "messages": [{"role": m.role, "content": m.content} for m in MESSAGES],
        "max_tokens": PARAMS.max_tokens,
        "temperature": PARAMS.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def _measure(way: str, base_url: str, requests: int, concurrency: int) -> float:
    """CPU microseconds per request, after a warm-up."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", http_client=openai.DefaultAioHttpClient())
    backend = OpenAIBackend(base_url=base_url, api_key="k", model="mock")
    session = aiohttp.ClientSession()
    url = base_url + "/chat/completions"
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}

    async def sdk() -> None:
        extra = {key: value for key, value in _body().items() if key != "stream"}
        async with client.chat.completions.with_streaming_response.create(
            model=openai.omit, messages=[], stream=True, extra_body=extra
        ) as response:
            async for _ in response.http_response.stream:
                pass

    async def sdk_lines() -> None:
        extra = {key: value for key, value in _body().items() if key != "stream"}
        async with client.chat.completions.with_streaming_response.create(
            model=openai.omit, messages=[], stream=True, extra_body=extra
        ) as response:
            async for line in response.iter_lines():
                if line.startswith("data:") and (data := line[5:].strip()) != "[DONE]":
                    orjson.loads(data)

    async def hotseat() -> None:
        async for _ in backend.stream(MESSAGES, PARAMS):
            pass

    async def bare() -> None:
        async with session.post(url, data=orjson.dumps(_body()), headers=headers) as response:
            async for _ in response.content.iter_any():
                pass

    ways = {"sdk": sdk, "sdk-lines": sdk_lines, "hotseat": hotseat, "aiohttp": bare}
    one: Callable[[], Awaitable[None]] = ways[way]
    try:
        await asyncio.gather(*(one() for _ in range(20)))  # warm-up: connections, caches
        gate = asyncio.Semaphore(concurrency)

        async def gated() -> None:
            async with gate:
                await one()

        started = time.process_time()
        await asyncio.gather(*(gated() for _ in range(requests)))
        return 1e6 * (time.process_time() - started) / requests
    finally:
        await client.close()
        await backend.aclose()
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=1, help="tokens per reply")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="pause between tokens")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="hotseat-upstream-request-"))
    mock = servers.start_mock(tokens=args.tokens, delay_ms=args.delay_ms, ttft_ms=0, logs=logs)
    try:
        base_url = f"http://{servers.HOST}:{mock.port}/v1"
        for way in ("sdk", "sdk-lines", "hotseat", "aiohttp") * 2:
            cpu = uvloop.run(_measure(way, base_url, args.requests, args.concurrency))
            print(f"{way:9} {cpu:6.0f} us CPU per request, {cpu / args.tokens:6.2f} per token")
    finally:
        mock.stop()


if __name__ == "__main__":
    main()
