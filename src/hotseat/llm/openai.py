"""Backend for any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, LiteLLM.

Uses the official SDK's ``AsyncOpenAI`` with ``stream=True`` and
``stream_options={"include_usage": True}``. The SDK retries connection errors,
429s and 5xx before any token has been produced (honouring ``retry-after``);
once text has streamed, a failure ends the turn and keeps the partial text.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx2
import openai
import orjson
from openai import AsyncOpenAI
from openai._response import AsyncAPIResponse

from hotseat.errors import (
    HotseatError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd, StreamItem, Usage

logger = logging.getLogger(__name__)


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self._read_timeout = read_timeout
        self._client = AsyncOpenAI(
            base_url=base_url,
            # Local servers (vLLM, Ollama, llama.cpp) accept any key, but the SDK insists on one.
            api_key=api_key or "not-needed",
            timeout=httpx2.Timeout(read_timeout, connect=connect_timeout),
            max_retries=max_retries,
        )
        # Flipped off the first time the server rejects ``response_format: json_schema``.
        self._schema_supported = True

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.json_schema is not None and self._schema_supported:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": params.schema_name, "schema": params.json_schema, "strict": True},
            }
        streaming = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    response = await stack.enter_async_context(self._raw_stream(request))
                except openai.BadRequestError as exc:
                    if "response_format" not in request or not _mentions_response_format(exc):
                        raise
                    # The server does not do structured output: ask for plain text; the caller validates.
                    logger.warning(
                        "upstream rejected response_format json_schema; falling back to prompt-only"
                    )
                    self._schema_supported = False
                    del request["response_format"]
                    response = await stack.enter_async_context(self._raw_stream(request))
                streaming = True
                finish_reason = "stop"
                usage: Usage | None = None
                # The SDK's typed chunks cost a pydantic model per token; the raw SSE lines
                # parsed with orjson carry the same fields for a fraction of the CPU.
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, `event:` lines
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = orjson.loads(data)
                    if chunk.get("error"):
                        raise UpstreamError(f"The model server failed mid-reply: {_message(chunk['error'])}")
                    if chunk.get("usage"):
                        usage = Usage(chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"])
                    choices = chunk.get("choices")
                    if not choices:
                        continue
                    choice = choices[0]
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        yield content
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
            yield StreamEnd(finish_reason, usage)
        except HotseatError:
            raise
        except Exception as exc:
            raise self._translate(exc, streaming) from exc

    def _translate(self, exc: Exception, streaming: bool) -> HotseatError:
        """Map SDK and transport failures to the documented upstream error codes."""
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            return UpstreamTimeout(
                f"The model server did not answer within {self._read_timeout:g} s; retry, or raise "
                "HOTSEAT_UPSTREAM_READ_TIMEOUT."
            )
        if streaming and isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
            return UpstreamError("The connection to the model server broke mid-reply; retry the turn.")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamUnavailable(
                f"Cannot reach the model server at {self.base_url}; check that it is running and "
                "HOTSEAT_OPENAI_BASE_URL."
            )
        if isinstance(exc, openai.RateLimitError):
            return UpstreamRateLimited(
                "The model server is rate-limiting requests; wait a moment and retry.",
                retry_after=_retry_after(exc.response),
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return UpstreamError("The model server refused the API key; check HOTSEAT_OPENAI_API_KEY.")
        if isinstance(exc, openai.NotFoundError):
            return UpstreamError(f"The model server does not know model {self.model!r}; check HOTSEAT_MODEL.")
        if isinstance(exc, openai.APIStatusError):
            return UpstreamError(f"The model server failed (HTTP {exc.status_code}); retry the turn.")
        if isinstance(exc, httpx2.TransportError):
            return UpstreamUnavailable(f"Cannot talk to the model server at {self.base_url}.")
        if isinstance(exc, openai.APIError | ValueError):
            return UpstreamError("The model server sent a malformed reply; retry the turn.")
        logger.exception("unexpected upstream failure")
        return UpstreamError("The model server failed unexpectedly; retry the turn.")

    def _raw_stream(self, request: dict[str, Any]) -> AbstractAsyncContextManager[AsyncAPIResponse[Any]]:
        """The streaming HTTP response itself; HTTP errors (and SDK retries) happen on entering."""
        return self._client.chat.completions.with_streaming_response.create(**request)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.close()


def _mentions_response_format(exc: openai.BadRequestError) -> bool:
    return "response_format" in str(exc).lower() or "json_schema" in str(exc).lower()


def _message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
