"""Structured output over the `openai` backend: the three forms, the fallback, the memory of it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from doubles.fault_proxy import FaultProxy, Plan
from doubles.mock_openai import Fault, MockOpenAI, Reply
from hotseat.errors import UpstreamError, UpstreamRateLimited
from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd
from hotseat.llm.openai import OpenAIBackend

MESSAGES = [ChatMessage("system", "You assess answers."), ChatMessage("user", "I fixed a race.")]
SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
STRUCTURED = GenerationParams(max_tokens=32, json_schema=SCHEMA, schema_name="assessment")


def backend_for(base_url: str, max_retries: int = 0) -> OpenAIBackend:
    return OpenAIBackend(base_url=base_url, api_key="k", model="m", read_timeout=5.0, max_retries=max_retries)


async def reply_text(backend: OpenAIBackend, params: GenerationParams = STRUCTURED) -> str:
    texts: list[str] = []
    ended = False
    async for item in backend.stream(MESSAGES, params):
        if isinstance(item, str):
            texts.append(item)
        ended = ended or isinstance(item, StreamEnd)
    assert ended
    return "".join(texts)


def form_of(body: dict[str, Any]) -> str:
    """The form a request asked in: its response_format type, or "prompt"."""
    asked = body.get("response_format")
    return str(asked["type"]) if asked else "prompt"


async def test_openai_form_is_asked_first_with_the_schema() -> None:
    """A server that takes json_schema gets it, strict and named, and the prompt is left as it was."""
    with MockOpenAI(Reply(text='{"score": 4}')) as server:
        backend = backend_for(server.base_url)
        assert await reply_text(backend) == '{"score": 4}'
        await backend.aclose()
        (request,) = server.requests
    assert request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "assessment", "schema": SCHEMA, "strict": True},
    }
    assert request.body["messages"][0]["content"] == "You assess answers."


async def test_a_server_that_500s_on_json_schema_is_asked_as_llama_cpp_python_and_remembered() -> None:
    """llama-cpp-python's server (500 on json_schema, #20): json_object with the schema, from then on."""
    with MockOpenAI(
        Reply(text='{"score": 3}'), response_formats=frozenset({"text", "json_object"})
    ) as server:
        backend = backend_for(server.base_url, max_retries=2)
        assert await reply_text(backend) == '{"score": 3}'
        assert await reply_text(backend) == '{"score": 3}'
        await backend.aclose()
        requests = server.requests
    # The 500 is not retried as it is: it is a refusal of the form, so the next form is asked at once.
    assert [form_of(r.body) for r in requests] == ["json_schema", "json_object", "json_object"]
    assert requests[0].status == 500
    assert requests[1].body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    # The schema is in the prompt too: a server may take json_object and ignore its schema.
    assert orjson.dumps(SCHEMA).decode() in requests[1].body["messages"][0]["content"]


@pytest.mark.parametrize("status", [400, 404, 422, 500, 501])
async def test_a_server_that_takes_no_response_format_is_asked_in_the_prompt(status: int) -> None:
    """Any 4xx/5xx refusal of both forms (not a rate limit or a key) leads to prompt-only, remembered."""
    refusal = Fault(status, message="response_format is not supported")
    with MockOpenAI(
        Reply(text='{"score": 5}'), response_formats=frozenset({"text"}), format_refusal=refusal
    ) as server:
        backend = backend_for(server.base_url)
        assert await reply_text(backend) == '{"score": 5}'
        assert await reply_text(backend) == '{"score": 5}'
        await backend.aclose()
        requests = server.requests
    assert [form_of(r.body) for r in requests] == ["json_schema", "json_object", "prompt", "prompt"]
    system, user = requests[2].body["messages"]
    assert system["role"] == "system" and system["content"].startswith("You assess answers.\n\n")
    assert "JSON schema" in system["content"] and orjson.dumps(SCHEMA).decode() in system["content"]
    assert user == {"role": "user", "content": "I fixed a race."}


async def test_prompt_only_without_a_system_message_adds_one_first() -> None:
    """With no system message to extend, the schema instruction becomes the first message."""
    with MockOpenAI(Reply(text="{}"), response_formats=frozenset({"text"})) as server:
        backend = backend_for(server.base_url)
        async for _ in backend.stream([ChatMessage("user", "Rate me.")], STRUCTURED):
            pass
        await backend.aclose()
        messages = server.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert orjson.dumps(SCHEMA).decode() in messages[0]["content"]


async def test_a_5xx_that_does_not_name_the_format_falls_back_once_but_is_not_remembered() -> None:
    """A bare 502 may be passing: this request goes on in the next form; the next starts at json_schema."""
    with MockOpenAI(Reply(text='{"score": 1}')) as server:
        server.enqueue(Fault(502, message="Bad gateway"))
        backend = backend_for(server.base_url)
        assert await reply_text(backend) == '{"score": 1}'
        assert await reply_text(backend) == '{"score": 1}'
        await backend.aclose()
        forms = [form_of(r.body) for r in server.requests]
    assert forms == ["json_schema", "json_object", "json_schema"]


@pytest.mark.parametrize(
    ("fault", "error", "posts"),
    [
        (Fault(429, message="Rate limit reached for requests"), UpstreamRateLimited, 2),
        (Fault(401, message="Incorrect API key provided"), UpstreamError, 1),
        (Fault(503, message="Overloaded", retry_after=0.05), UpstreamError, 2),
    ],
)
async def test_rate_limits_keys_and_waits_are_not_refusals_of_the_form(
    fault: Fault, error: type[Exception], posts: int
) -> None:
    """429, 401 and a 5xx that names a wait keep the form: retried (budget 1) or failed, never degraded."""
    with MockOpenAI(fault) as server:
        backend = backend_for(server.base_url, max_retries=1)
        with pytest.raises(error):
            await reply_text(backend)
        await backend.aclose()
        forms = [form_of(r.body) for r in server.requests]
    assert forms == ["json_schema"] * posts


async def test_a_dropped_connection_is_asked_again_in_the_next_form_but_not_remembered() -> None:
    """A transport-level refusal (a reset in the answer's head): json_object, for this request only."""
    with MockOpenAI(Reply(text='{"score": 2}')) as server, FaultProxy("127.0.0.1", server.port) as proxy:
        proxy.enqueue(Plan(reset_after=1))
        backend = backend_for(proxy.base_url)
        assert await reply_text(backend) == '{"score": 2}'
        assert await reply_text(backend) == '{"score": 2}'
        await backend.aclose()
        assert proxy.connections[0].outcome == "reset"
        forms = [form_of(r.body) for r in server.requests]
    # The mock answered the first request too; the proxy reset it after one byte of that answer.
    assert forms == ["json_schema", "json_object", "json_schema"]


async def test_a_structured_request_to_a_failing_server_costs_two_posts_more_than_the_budget() -> None:
    """Always 500 (naming nothing): three forms, then the retries of the last: max_retries + 3 POSTs."""
    with MockOpenAI(Fault(500)) as server:
        backend = backend_for(server.base_url, max_retries=1)
        with pytest.raises(UpstreamError):
            await reply_text(backend)
        await backend.aclose()
        forms = [form_of(r.body) for r in server.requests]
    assert forms == ["json_schema", "json_object", "prompt", "prompt"]


async def test_plain_requests_never_carry_a_format() -> None:
    """A request without json_schema sends no response_format and its messages as they are."""
    with MockOpenAI(Reply(text="Hello.")) as server:
        backend = backend_for(server.base_url)
        assert await reply_text(backend, GenerationParams(max_tokens=16)) == "Hello."
        await backend.aclose()
        (request,) = server.requests
    assert "response_format" not in request.body
    assert request.body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
