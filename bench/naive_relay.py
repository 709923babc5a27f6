"""The original idea, kept small and faithful: a relay that re-sends the whole text on every token.

A FastAPI app run by uvicorn with default settings (``python -m uvicorn
bench.naive_relay:app``). Each request calls ``AsyncOpenAI(...).chat.completions
.create(stream=True)`` and, through one async generator, sends the WHOLE
accumulated text after every token, over:

- ``/ws``: a WebSocket; each client text frame is a prompt; every reply frame is
  the accumulated text as a plain text frame. The original had no end marker;
  for the load generator to know where a reply ends, this copy adds one frame
  ``{"type":"end"}`` after the last token (the only change to the original).
- ``GET /sse?prompt=...``: ``text/event-stream``, one ``data: <JSON string of the
  accumulated text>`` event per token; the reply ends when the response ends.

There is no turn log, no resume, no cancel, no merging, no persistence: the
baseline that hotseat's design is measured against. Settings come from
``NAIVE_RELAY_BASE_URL`` (the OpenAI-compatible upstream) and ``NAIVE_RELAY_MODEL``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, WebSocket
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI

END_FRAME = '{"type":"end"}'
# The original looped forever; a bound keeps every loop here finite.
MAX_PROMPTS_PER_CONNECTION = 100_000

app = FastAPI()
client = AsyncOpenAI(
    base_url=os.environ.get("NAIVE_RELAY_BASE_URL", "http://127.0.0.1:8001/v1"), api_key="not-needed"
)
MODEL = os.environ.get("NAIVE_RELAY_MODEL", "mock")


async def generate(prompt: str) -> AsyncIterator[str]:
    """Yield the whole reply so far, once per token."""
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )
    text = ""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
            yield text


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    for _ in range(MAX_PROMPTS_PER_CONNECTION):
        prompt = await websocket.receive_text()
        async for text in generate(prompt):
            await websocket.send_text(text)
        await websocket.send_text(END_FRAME)  # added for the benchmark: the original had no end marker


@app.get("/sse")
async def sse(prompt: str) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        async for text in generate(prompt):
            yield f"data: {json.dumps(text)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
