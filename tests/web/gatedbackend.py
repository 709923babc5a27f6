"""A scripted backend whose replies can stream in parts, each released by the test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from hotseat.llm.base import ChatMessage, GenerationParams, Queued, StreamEnd, StreamItem, Usage
from hotseat.llm.scripted import ScriptedBackend, split_tokens


@dataclass
class GatedReply:
    """A reply streamed in parts, each after its gate opens: the test decides when text arrives.

    ``parts[0]`` streams at once (after ``queued`` positions, if any, each held until its gate
    in ``queue_gates`` opens); ``parts[i]`` streams once ``gates[i - 1]`` is set. No sleeps in
    the tests: they open a gate when the page shows what they wanted to act on.
    """

    parts: list[str]
    gates: list[threading.Event] = field(default_factory=list)
    token_delay: float = 0.005
    queued: list[int] = field(default_factory=list)
    queue_gates: list[threading.Event] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)


async def _wait(gate: threading.Event) -> None:
    # A threading.Event, set from the test's thread: polled, since it cannot be awaited.
    while not gate.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.005)


class GatedBackend(ScriptedBackend):
    """The scripted backend, plus ``GatedReply`` replies (enqueue them like any other)."""

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        head = self.replies[0] if params.json_schema is None and self.replies else None
        if not isinstance(head, GatedReply):
            async for item in super().stream(messages, params):
                yield item
            return
        self.replies.popleft()
        self.calls.append((list(messages), params))
        tokens = 0
        try:
            for position, gate in zip(head.queued, head.queue_gates, strict=True):
                yield Queued(position)
                await _wait(gate)
            for index, part in enumerate(head.parts):
                if index:
                    await _wait(head.gates[index - 1])
                for token in split_tokens(part):
                    await asyncio.sleep(head.token_delay)
                    tokens += 1
                    yield token
            yield StreamEnd("stop", Usage(sum(len(m.content.split()) for m in messages), tokens))
        finally:
            self.closed_streams += 1
