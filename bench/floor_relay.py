"""The least a relay on hotseat's stack can do per stream: a floor to measure hotseat's turns against.

Not in the issue. The naive relay shows what the original idea cost; this one
asks what any relay built from the same parts would cost if it did nothing but
relay: FastAPI under uvicorn as hotseat runs it (uvloop, httptools, no access log, no
WebSocket compression, the same garbage-collector settings), ``AsyncOpenAI``
with ``stream=True`` over the SDK's aiohttp transport, the raw response read as
bytes and each chunk parsed with orjson, exactly as hotseat's backend does; and
every token sent on its own as it arrives. There is no session, no database, no
turn log, no resume, no cancel, no metrics, no identity, no limits: the cost
of those is what hotseat adds to this floor.

Same routes and frames as ``bench.naive_relay`` except that a frame carries only
the new text: ``/ws`` (text frames, then ``{"type":"end"}``) and ``GET
/sse?prompt=...`` (``data: <JSON string>`` per token). Settings come from
``FLOOR_RELAY_BASE_URL`` and ``FLOOR_RELAY_MODEL``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator

import openai
import orjson
from fastapi import FastAPI, WebSocket
from fastapi.responses import StreamingResponse

END_FRAME = '{"type":"end"}'
MAX_PROMPTS_PER_CONNECTION = 100_000

app = FastAPI()
client = openai.AsyncOpenAI(
    base_url=os.environ.get("FLOOR_RELAY_BASE_URL", "http://127.0.0.1:8001/v1"),
    api_key="not-needed",
    http_client=openai.DefaultAioHttpClient(),
)
MODEL = os.environ.get("FLOOR_RELAY_MODEL", "mock")
# As ``hotseat serve`` does (hotseat/serving.py): the start-up heap frozen, fewer young and middle
# collections.
gc.collect()
gc.freeze()
gc.set_threshold(20_000, 100, gc.get_threshold()[2])


async def generate(prompt: str) -> AsyncIterator[str]:
    """Yield each token's text as it arrives."""
    messages = [{"role": "user", "content": prompt}]
    async with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=[], stream=True, extra_body={"messages": messages}
    ) as response:
        partial = b""
        async for chunk in response.iter_bytes():
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                choices = orjson.loads(line[6:]).get("choices") or ()
                text = choices[0].get("delta", {}).get("content") if choices else None
                if text:
                    yield text


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    for _ in range(MAX_PROMPTS_PER_CONNECTION):
        prompt = await websocket.receive_text()
        async for text in generate(prompt):
            await websocket.send_text(text)
        await websocket.send_text(END_FRAME)


@app.get("/sse")
async def sse(prompt: str) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        async for text in generate(prompt):
            yield b"data: " + orjson.dumps(text) + b"\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
