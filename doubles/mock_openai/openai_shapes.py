"""What OpenAI's chat completions look like on the wire: streamed chunks, whole replies, errors.

Shapes follow the OpenAI API as the official SDK parses them (tests/doubles/test_mock_openai.py
reads them with the SDK's own types).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from doubles.mock_openai.http1 import chunk

_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("timeout_error", "timeout"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    431: ("invalid_request_error", "headers_too_large"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}


def error_payload(
    status: int, message: str, error_type: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI error body; type and code default to what OpenAI sends for ``status``."""
    default_type, default_code = _ERROR_KINDS.get(status, ("api_error", None))
    return {
        "error": {
            "message": message,
            "type": error_type or default_type,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }


DONE = chunk(b"data: [DONE]\n\n")
TERMINATOR = b"0\r\n\r\n"
DONE_AND_TERMINATOR = DONE + TERMINATOR
MALFORMED_EVENT = chunk(b"data: {not json\n\n")


def count_prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's length in words, the mock's stand-in for tokens in ``usage``."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    count = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            count += len(content.split())
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    count += len(part["text"].split())
    return count


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    """The request's token limit under either of its names, or None."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


Ending: TypeAlias = Literal["finish", "hang", "cut", "malformed"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one request's reply will send: its tokens, pacing and how it ends."""

    words: tuple[str, ...]
    encoded: tuple[bytes, ...]
    ttft: float
    delay: float
    ending: Ending
    finish_reason: str
    end_pause: float = 0.0


class StreamFrames:
    """The byte framing of one streamed response, built once per request.

    Every content chunk is ``head + json(token) + tail``; only the token varies, so the
    per-token cost is one join of pre-built pieces.
    """

    __slots__ = ("_fixed_len", "_head", "_tail", "include_usage", "prefix", "usage_null")

    def __init__(self, ident: str, created: int, model: str, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.prefix = (
            b'data: {"id":%b,"object":"chat.completion.chunk","created":%d,"model":%b,'
            b'"system_fingerprint":null,"choices":['
            % (json.dumps(ident).encode(), created, json.dumps(model, ensure_ascii=False).encode())
        )
        # OpenAI sends "usage": null on every chunk once the client asked for usage.
        self.usage_null = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._head = self.prefix + b'{"index":0,"delta":{"content":'
        self._tail = b'},"logprobs":null,"finish_reason":null}]' + self.usage_null
        self._fixed_len = len(self._head) + len(self._tail)

    def role(self) -> bytes:
        return chunk(
            self.prefix
            + b'{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
            + b'"logprobs":null,"finish_reason":null}]'
            + self.usage_null
        )

    def token(self, encoded: bytes) -> bytes:
        return b"".join(
            (b"%x\r\n" % (self._fixed_len + len(encoded)), self._head, encoded, self._tail, b"\r\n")
        )

    def ending(
        self, finish_reason: str, prompt_tokens: int, completion_tokens: int, *, terminate: bool = True
    ) -> bytes:
        parts = [
            chunk(
                self.prefix
                + b'{"index":0,"delta":{},"logprobs":null,"finish_reason":%b}]'
                % json.dumps(finish_reason).encode()
                + self.usage_null
            )
        ]
        if self.include_usage:
            usage = b'],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}\n\n' % (
                prompt_tokens,
                completion_tokens,
                prompt_tokens + completion_tokens,
            )
            parts.append(chunk(self.prefix + usage))
        # [DONE] and the terminator go out in the same write (unless told otherwise): a client that
        # drains the body after [DONE] to reuse the connection must not wait for a separate packet.
        parts.append(DONE_AND_TERMINATOR if terminate else DONE)
        return b"".join(parts)


def completion(ident: str, model: str, plan: Plan, prompt_tokens: int) -> dict[str, Any]:
    """A whole (non-streamed) chat completion of the planned words."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(plan.words), "refusal": None},
                "logprobs": None,
                "finish_reason": plan.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(plan.words),
            "total_tokens": prompt_tokens + len(plan.words),
        },
    }


def models(model: str) -> dict[str, Any]:
    """The ``GET /v1/models`` list: the one model the mock serves."""
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": 0, "owned_by": "hotseat-mock"}],
    }
