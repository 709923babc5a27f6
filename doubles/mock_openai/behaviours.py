"""What the mock does with one chat request (Reply, Fault, Hang, Cut, Malformed) and what it saw."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Outcome: TypeAlias = Literal["completed", "client_closed", "cut", "error", "server_stopped"]
"""What the server observed for one chat request.

``completed``: everything scripted was sent. ``client_closed``: the client hung up
before the response was complete. ``cut``: a :class:`Cut` closed the connection.
``error``: an error response was sent (a :class:`Fault`, or an unparseable body).
``server_stopped``: the mock was stopped while the request was in flight.
"""

# Any leading whitespace belongs to the word after it; trailing whitespace becomes its own
# token, so that "".join(split_text(t)) == t for every string.
_TOKEN_RE = re.compile(r"\s*\S+|\s+\Z")


def split_text(text: str) -> list[str]:
    """Split ``text`` into word-like tokens that keep their whitespace, losslessly."""
    tokens: list[str] = _TOKEN_RE.findall(text)
    return tokens


@functools.lru_cache(maxsize=256)
def generated_tokens(count: int) -> tuple[str, ...]:
    """``count`` deterministic tokens, `` tok1`` to `` tok<count>``: the filler of unscripted replies."""
    return tuple(f" tok{i}" for i in range(1, count + 1))


def encode_tokens(tokens: Sequence[str]) -> tuple[bytes, ...]:
    """Each token as a JSON string literal, ready to splice into a chunk."""
    return tuple(json.dumps(t, ensure_ascii=False).encode() for t in tokens)


@functools.lru_cache(maxsize=256)
def generated_encoded(count: int) -> tuple[bytes, ...]:
    """The encoded :func:`generated_tokens`, cached because benchmarks ask for the same count each time."""
    return encode_tokens(generated_tokens(count))


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
        return generated_tokens(self.token_count)

    @functools.cached_property
    def encoded_tokens(self) -> tuple[bytes, ...]:
        """The tokens as JSON string literals, encoded once and reused by every request."""
        if self.tokens is None and self.text is None:
            return generated_encoded(self.token_count)
        return encode_tokens(self.resolved_tokens)


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
