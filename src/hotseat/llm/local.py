"""The embedded model: a GGUF file run in-process by llama.cpp (llama-cpp-python).

One ``LocalBackend`` owns one model instance and one dedicated worker thread.
Every call into llama.cpp (load, tokenize, generate, free) happens on that
thread, because a llama.cpp context is not thread-safe; the event loop only
ever touches plain Python state under a lock, so it stays responsive while the
model computes. See ``LocalBackend`` for the queueing, cancellation and
context-window policies.

llama-cpp-python is an optional dependency (``pip install 'hotseat[local]'``);
it is imported only when a model is loaded.
"""

from __future__ import annotations

import asyncio
import codecs
import importlib.util
import json
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hotseat.errors import BadRequest, Busy, HotseatError, Internal, Interrupted
from hotseat.llm.base import ChatMessage, GenerationParams, Queued, StreamEnd, StreamItem, Usage
from hotseat.llm.gguf import default_model_path
from hotseat.llm.local_model import FittedPrompt, LocalModel
from hotseat.llm.local_prompt import schema_grammar

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False, slots=True)
class _Turn:
    messages: list[ChatMessage]
    params: GenerationParams
    grammar: LlamaGrammar | None
    loop: asyncio.AbstractEventLoop
    items: asyncio.Queue[StreamItem | HotseatError] = field(default_factory=asyncio.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)  # checked between tokens
    position: int = 0  # the last Queued position sent; 0 = none
    job: Future[None] | None = None

    def push(self, item: StreamItem | HotseatError) -> None:
        """Hand ``item`` to the consumer's event loop (callable from any thread)."""
        try:
            self.loop.call_soon_threadsafe(self.items.put_nowait, item)
        except RuntimeError:  # the consumer's loop is closed: nobody is listening
            self.cancelled.set()


class LocalBackend:
    """The embedded llama.cpp model behind the ``Backend`` interface.

    - One model instance, one worker thread. Turns run one at a time, by
      priority: a waiting turn of a candidate (``params.background`` false)
      always runs before any waiting background turn (an assessment), and a
      background turn starts only when no candidate's turn waits; within each
      kind, in arrival order. A running turn is never interrupted for another.
      A turn that must wait yields ``Queued(position)`` (1 = next to run, so a
      candidate's position counts only the candidates' turns ahead of it) first
      and whenever its position changes. With ``queue_limit`` turns already
      waiting, a new stream raises ``Busy`` before yielding anything; for a
      candidate's turn only the candidates' waiting turns count, so background
      work never turns a candidate away.
    - Tokens cross from the worker to the consumer's event loop as they are
      sampled (``call_soon_threadsafe`` into an ``asyncio.Queue``). Incomplete
      UTF-8 sequences are held back until the character is complete.
    - Cancelling the consumer task, or ``aclose()`` on the stream, stops a
      running generation before the next token is computed, or removes a
      waiting turn from the queue (the turns behind it move up). Prompt
      evaluation itself is not interruptible: a cancel during it lands when
      it ends, before the first token.
    - The prompt is rendered with the chat template stored in the GGUF (ChatML
      if it has none). Message contents are tokenized as plain text, so a
      candidate typing ``<|im_end|>`` cannot forge template tokens.
    - ``params.json_schema`` constrains sampling with a grammar (see
      ``schema_grammar``): the reply is valid JSON for the schema unless it
      hits ``max_tokens`` first (finish reason ``"length"``).

    Context-window policy. The reply is guaranteed ``reserve = min(max_tokens,
    n_ctx // 2)`` tokens, so the prompt may use ``n_ctx - reserve``. A prompt
    over that budget is trimmed, never refused:

    1. system messages and the last message are always kept; the oldest other
       messages are dropped, as few as possible, oldest first;
    2. if the system messages and the last message alone are still too long,
       the middle of the longest of them (by characters) is cut out and
       replaced by ``"[…]"``, repeatedly, until the prompt fits. The head and
       tail of a long message (its framing and its question) survive.

    The reply may then use whatever the prompt left: ``min(max_tokens, n_ctx -
    prompt_tokens)``. Trimming is logged at INFO.
    """

    name = "local"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        queue_limit: int = 16,
        seed: int | None = None,
        top_p: float = 0.95,
    ) -> None:
        """Check the model file; loading waits for ``start()`` or the first turn.

        Args:
            model_path: a GGUF chat model; ``None`` = ``default_model_path()``.
            n_ctx: the context window in tokens (prompt + reply).
            n_threads: llama.cpp compute threads; ``None`` = half the CPUs.
            queue_limit: how many turns may wait behind the running one.
            seed: makes sampling reproducible across a run of turns; ``None`` = random.
            top_p: nucleus sampling; the temperature comes with each request.
        """
        if n_ctx < 128:
            raise ValueError("n_ctx must be at least 128 tokens")
        if queue_limit < 0:
            raise ValueError("queue_limit must be >= 0")
        path = Path(model_path).expanduser() if model_path is not None else default_model_path()
        if not path.is_file():
            raise Internal(
                f"Local model file not found: {path}. Set HOTSEAT_LOCAL_MODEL_PATH to a .gguf file."
            )
        if importlib.util.find_spec("llama_cpp") is None:
            raise Internal("The local backend needs llama-cpp-python: run `pip install 'hotseat[local]'`.")
        self.model_path = path
        self.model = path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.queue_limit = queue_limit
        self.top_p = top_p
        self._rng = random.Random(seed)
        # Owned by the worker thread.
        self._model = LocalModel(path, n_ctx=n_ctx, n_threads=n_threads, seed=seed)
        # Shared with the event loop(s), under _lock.
        self._lock = threading.Lock()
        self._waiting: list[_Turn] = []
        self._running: _Turn | None = None
        self._closed = False
        self._stats = {"turns_completed": 0, "turns_cancelled": 0, "turns_failed": 0, "tokens_generated": 0}
        self._grammars: dict[str, LlamaGrammar] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotseat-local-model")

    # -- public API ---------------------------------------------------------

    async def start(self) -> None:
        """Load the model now (on the worker thread) rather than on the first turn."""
        await self._on_worker(self._model.ensure)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncIterator[StreamItem]:
        """Stream a reply: ``Queued``* while waiting, text deltas, then ``StreamEnd``."""
        turn = self._enqueue(messages, params)
        try:
            while True:
                item = await turn.items.get()
                if isinstance(item, HotseatError):
                    raise item
                yield item
                if isinstance(item, StreamEnd):
                    return
        finally:
            self._leave(turn)

    async def fit(self, messages: Sequence[ChatMessage], params: GenerationParams) -> FittedPrompt:
        """The prompt a turn with these arguments would send, after trimming.

        Runs on the worker thread, so it waits for the generation in progress.
        """
        msgs = list(messages)
        return await self._on_worker(lambda: self._model.fit(msgs, params.max_tokens))

    def info(self) -> dict[str, Any]:
        """Health details: model, context, threads, queue and counters."""
        llm = self._model.loaded
        with self._lock:
            return {
                "model_path": str(self.model_path),
                "loaded": llm is not None,
                "n_ctx": self.n_ctx,
                "n_threads": llm.n_threads if llm is not None else self.n_threads,
                "running": self._running is not None,
                "queue_length": len(self._waiting),
                "queue_limit": self.queue_limit,
                **self._stats,
            }

    async def aclose(self) -> None:
        """Fail waiting turns with ``Interrupted``, stop the running one, free the model."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            doomed = [*self._waiting, *([self._running] if self._running else [])]
            self._waiting.clear()
        for turn in doomed:
            turn.cancelled.set()
            if turn.job is not None:
                turn.job.cancel()
            turn.push(Interrupted("The local model is shutting down."))
        await asyncio.wrap_future(self._worker.submit(self._model.free))
        await asyncio.to_thread(self._worker.shutdown, wait=True)

    # -- event-loop side ----------------------------------------------------

    def _enqueue(self, messages: Sequence[ChatMessage], params: GenerationParams) -> _Turn:
        msgs = list(messages)
        if not msgs:
            raise BadRequest("A chat turn needs at least one message.")
        if params.max_tokens < 1:
            raise BadRequest("max_tokens must be at least 1.")
        grammar = self._grammar(params.json_schema) if params.json_schema is not None else None
        turn = _Turn(msgs, params, grammar, asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                raise Interrupted("The local model is shutting down.")
            must_wait = self._running is not None or bool(self._waiting)
            # The turns that go before this one; only they count against its limit.
            ahead = len(self._waiting) if params.background else self._candidates_waiting()
            if must_wait and ahead >= self.queue_limit:
                raise Busy(
                    f"The local model is busy and its queue is full ({ahead} waiting, "
                    f"limit {self.queue_limit}). Please try again in a moment."
                )
            self._waiting.insert(ahead, turn)
            if must_wait:
                self._announce_positions()  # this turn's, and those of the background turns behind it
            # One job per turn; each runs whichever waiting turn comes first (``_run_next``).
            turn.job = self._worker.submit(self._run_next)
        return turn

    def _candidates_waiting(self) -> int:
        """How many candidates' (not background) turns wait; they are first in ``_waiting``."""
        return next((i for i, turn in enumerate(self._waiting) if turn.params.background), len(self._waiting))

    def _leave(self, turn: _Turn) -> None:
        turn.cancelled.set()
        with self._lock:
            if turn in self._waiting:
                self._waiting.remove(turn)
                if turn.job is not None:
                    # Its job may already have run another turn; then the job of a turn
                    # that is still waiting is left, and finds nothing to run if none is.
                    turn.job.cancel()
                self._announce_positions()

    def _announce_positions(self) -> None:
        """Tell every waiting turn whose position changed (caller holds ``_lock``)."""
        for position, turn in enumerate(self._waiting, start=1):
            if turn.position != position:
                turn.position = position
                turn.push(Queued(position))

    def _grammar(self, schema: dict[str, Any]) -> LlamaGrammar:
        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            grammar = self._grammars[key] = schema_grammar(schema)
        return grammar

    async def _on_worker(self, job: Callable[[], T]) -> T:
        if self._closed:
            raise Interrupted("The local model is shutting down.")
        return await asyncio.wrap_future(self._worker.submit(job))

    # -- worker thread ------------------------------------------------------

    def _run_next(self) -> None:
        """Run the first waiting turn: the earliest candidate's, else the earliest background one."""
        with self._lock:
            while self._waiting and self._waiting[0].cancelled.is_set():
                self._waiting.pop(0)  # left, and its consumer is removing it
            if not self._waiting:
                return
            turn = self._running = self._waiting.pop(0)
            self._announce_positions()
        last: StreamEnd | HotseatError | None
        try:
            last = self._generate(turn)
        except HotseatError as exc:
            last = exc
        except Exception:
            logger.exception("local generation failed")
            last = Internal("The local model failed while generating a reply.")
        with self._lock:  # idle before the consumer hears the end: info() is then accurate
            self._running = None
            if isinstance(last, HotseatError):
                self._stats["turns_failed"] += 1
        if last is not None:
            turn.push(last)

    def _generate(self, turn: _Turn) -> StreamEnd | None:
        """Run one turn; the ``StreamEnd`` to send, or ``None`` if it was cancelled."""
        fitted = self._model.fit(turn.messages, turn.params.max_tokens)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generated = 0
        finish: str | None = "length"
        tokens = self._model.sample(
            fitted,
            seed=self._rng.randrange(2**31),
            temperature=turn.params.temperature,
            top_p=self.top_p,
            grammar=turn.grammar,
        )
        try:
            for token in tokens:
                if turn.cancelled.is_set():
                    finish = None
                    break
                if self._model.is_end_of_generation(token):
                    finish = "stop"
                    break
                generated += 1
                text = decoder.decode(self._model.detokenize([token]))
                if text:
                    turn.push(text)
                if generated >= fitted.max_tokens:
                    break
        finally:
            tokens.close()
        if finish is None:
            self._count(turns_cancelled=1, tokens_generated=generated)
            return None
        tail = decoder.decode(b"", final=True)
        if tail:
            turn.push(tail)
        self._count(turns_completed=1, tokens_generated=generated)
        return StreamEnd(finish, Usage(prompt_tokens=len(fitted.tokens), completion_tokens=generated))

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                self._stats[key] += delta
