"""The forms in which an OpenAI-compatible server is asked for structured output.

Servers disagree on how to ask for a JSON document that follows a schema:

1. ``Form.JSON_SCHEMA``: OpenAI's ``response_format: {"type": "json_schema",
   "json_schema": {"name", "schema", "strict"}}``, which OpenAI, vLLM, Ollama and
   llama.cpp's ``llama-server`` accept;
2. ``Form.JSON_OBJECT``: ``{"type": "json_object", "schema": ...}``, what
   llama-cpp-python's own server accepts (it answers the first form with HTTP
   500, "Input should be 'text' or 'json_object'");
3. ``Form.PROMPT``: no ``response_format`` at all, for servers that take neither.

In the last two forms the schema is also written into the prompt: a server may
accept ``json_object`` and ignore its ``schema`` (OpenAI's own JSON mode does),
and in the prompt-only form it is all the model has. The caller validates the
reply in every form.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import orjson

from hotseat.llm.base import ChatMessage, GenerationParams


class Form(enum.IntEnum):
    """How structured output is asked for, in the order the forms are tried."""

    JSON_SCHEMA = 0
    JSON_OBJECT = 1
    PROMPT = 2


def response_format(form: Form, params: GenerationParams) -> dict[str, Any] | None:
    """The request's ``response_format`` in ``form``; None for the prompt-only form."""
    if form is Form.JSON_SCHEMA:
        return {
            "type": "json_schema",
            "json_schema": {"name": params.schema_name, "schema": params.json_schema, "strict": True},
        }
    if form is Form.JSON_OBJECT:
        return {"type": "json_object", "schema": params.json_schema}
    return None


def wire_messages(
    messages: Sequence[ChatMessage], params: GenerationParams, form: Form | None
) -> list[dict[str, str]]:
    """The request's ``messages``; outside ``Form.JSON_SCHEMA`` the schema is added to the prompt.

    The instruction goes at the end of the first system message (or in a new one,
    first): some chat templates accept only one system message, and only first.
    """
    wire = [{"role": m.role, "content": m.content} for m in messages]
    if form is None or form is Form.JSON_SCHEMA or params.json_schema is None:
        return wire
    instruction = (
        "Reply with one JSON document and nothing else (no prose, no code fence). "
        f"It must be valid against this JSON schema:\n{orjson.dumps(params.json_schema).decode()}"
    )
    for message in wire:
        if message["role"] == "system":
            message["content"] = f"{message['content']}\n\n{instruction}"
            return wire
    return [{"role": "system", "content": instruction}, *wire]


def names_a_format(body: bytes) -> bool:
    """Whether an error body talks about the requested format (so its refusal is no accident)."""
    text = body.decode("utf-8", "replace").lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object", "schema"))
