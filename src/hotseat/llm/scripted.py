"""A scripted backend: real code behind the real interface, for tests and demos.

Replies are queued with ``enqueue`` and streamed token by token with an
optional pause between tokens, so the layers above (runner, transports, page)
can be tested deterministically without a model.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hotseat.errors import HotseatError
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd, StreamItem, Usage

_TOKEN = re.compile(r"\s*\S+|\s+$")


def split_tokens(text: str) -> list[str]:
    """Split text into word-sized tokens that join back to exactly ``text``."""
    return _TOKEN.findall(text)


@dataclass(slots=True)
class ScriptedReply:
    text: str = "Thank you. Could you tell me more about that?"
    token_delay: float = 0.0
    # Raised after ``fail_after`` tokens, when set: a stream that breaks mid-way.
    error: HotseatError | None = None
    fail_after: int = 0
    finish_reason: str = "stop"
    # When given, nothing streams until it is set: lets a test act while a turn is surely running.
    hold: threading.Event | None = None


def example_for_schema(schema: dict[str, Any]) -> Any:
    """The simplest value valid against a (small, JSON-Schema) ``schema``."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: example_for_schema(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_for_schema(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return "example"


@dataclass(slots=True)
class ScriptedBackend:
    """Streams queued replies; when the queue is empty, streams ``default``.

    Structured requests (with a JSON schema) take from their own queue,
    ``structured``, so tests need not interleave them with turns; when it is
    empty they get the simplest document valid against the schema.
    """

    name: str = "scripted"
    model: str = "scripted"
    default: ScriptedReply = field(default_factory=ScriptedReply)
    replies: deque[ScriptedReply] = field(default_factory=deque)
    structured: deque[ScriptedReply] = field(default_factory=deque)
    calls: list[tuple[list[ChatMessage], GenerationParams]] = field(default_factory=list)
    closed_streams: int = 0

    def enqueue(self, *replies: ScriptedReply | str) -> None:
        for reply in replies:
            self.replies.append(ScriptedReply(text=reply) if isinstance(reply, str) else reply)

    def enqueue_structured(self, *replies: ScriptedReply | str) -> None:
        for reply in replies:
            self.structured.append(ScriptedReply(text=reply) if isinstance(reply, str) else reply)

    def _next_reply(self, params: GenerationParams) -> ScriptedReply:
        if params.json_schema is None:
            return self.replies.popleft() if self.replies else self.default
        if self.structured:
            return self.structured.popleft()
        return ScriptedReply(text=json.dumps(example_for_schema(params.json_schema)))

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        self.calls.append((list(messages), params))
        reply = self._next_reply(params)
        tokens = split_tokens(reply.text)[: params.max_tokens]
        try:
            # A threading.Event, set from the test's thread: polled, since it cannot be awaited.
            while reply.hold is not None and not reply.hold.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            for index, token in enumerate(tokens):
                if reply.error is not None and index == reply.fail_after:
                    raise reply.error
                if reply.token_delay:
                    await asyncio.sleep(reply.token_delay)
                yield token
            if reply.error is not None and reply.fail_after >= len(tokens):
                raise reply.error
            prompt_tokens = sum(len(m.content.split()) for m in messages)
            yield StreamEnd(reply.finish_reason, Usage(prompt_tokens, len(tokens)))
        finally:
            self.closed_streams += 1

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
