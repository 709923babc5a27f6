"""The ``Backend`` interface every model implementation speaks.

A backend turns a list of chat messages into an async stream of items:

- ``str``: new text, only what was generated since the previous item;
- ``Queued(position)``: the request is waiting for a shared resource (the local
  model), 1-based position; sent again whenever the position changes;
- ``StreamEnd(finish_reason, usage)``: always the last item of a stream that
  ended normally.

Failures are raised as ``hotseat.errors`` exceptions (``UpstreamUnavailable``,
``UpstreamTimeout``...), never as a library's own types.

Cancellation is the consumer's job and the backend's promise: the consumer
cancels the task iterating the stream (or calls ``aclose()`` on it), and the
backend releases its upstream at once in a ``finally`` block: an HTTP backend
closes its connection, a local backend stops generating within one token or
leaves its queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """How to generate: the limits, optionally a JSON schema to obey, and the request's priority."""

    max_tokens: int = 512
    temperature: float = 0.7
    # When set, the output must be a JSON document valid against this schema.
    json_schema: dict[str, Any] | None = None
    schema_name: str = "output"
    # Work nobody is waiting for (the model judge), which must never delay a candidate's turn: a
    # backend with one shared model (``local``) runs it only when no other request waits.
    # A server that schedules its own requests (``openai``) ignores it.
    background: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass(frozen=True, slots=True)
class Queued:
    position: int


@dataclass(frozen=True, slots=True)
class StreamEnd:
    finish_reason: str
    usage: Usage | None = None


StreamItem = str | Queued | StreamEnd


@runtime_checkable
class Backend(Protocol):
    """A source of streamed chat completions."""

    name: str
    model: str

    async def start(self) -> None:
        """Get ready before serving (load a model); called once at startup."""
        ...

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> AsyncIterator[StreamItem]:
        """Stream a completion of ``messages``; see the module docstring.

        Refusals (``Busy``...) are raised by the first ``__anext__``, before any item.
        """
        ...

    async def aclose(self) -> None:
        """Release clients, threads and models."""
        ...


@dataclass(slots=True)
class BackendInfo:
    """What ``/api/health`` reports about the live backend."""

    name: str
    model: str
    extra: dict[str, Any] = field(default_factory=dict)
