"""The llama.cpp model itself, as the local backend's worker thread uses it.

Loaded on first use; prompts rendered with the GGUF's chat template (message contents tokenized as
plain text, so a candidate cannot forge template tokens) and fitted to the context window; sampled
tokens turned back into bytes. Not thread-safe, like a llama.cpp context: only the worker calls it.
"""

from __future__ import annotations

import ctypes
import logging
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotseat.errors import BadRequest
from hotseat.llm.base import ChatMessage
from hotseat.llm.gguf import load_model
from hotseat.llm.local_prompt import trim_to_fit

if TYPE_CHECKING:
    from llama_cpp.llama import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

logger = logging.getLogger(__name__)

# Sampling settings that are not per-request: llama.cpp's usual defaults.
_TOP_K = 40
_MIN_P = 0.05
# The marker left where the middle of an over-long message was cut out.
_CUT_MARKER = "\n[…]\n"
# Private-use characters: they never occur in real text and survive a template's ``| trim``.
_SENTINEL = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True, slots=True)
class FittedPrompt:
    """What a turn sends to the model once the context policy has been applied."""

    messages: list[ChatMessage]  # the messages kept (some may be dropped or cut)
    tokens: list[int]  # the prompt, rendered with the model's chat template
    max_tokens: int  # the reply budget: min(params.max_tokens, n_ctx - len(tokens))


class LocalModel:
    """One GGUF model in llama.cpp; every method runs on the backend's one worker thread."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int | None, seed: int | None) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self._llm: Llama | None = None
        self._template: Any = None
        self._vocab: Any = None
        self._piece = ctypes.create_string_buffer(256)

    @property
    def loaded(self) -> Llama | None:
        """The model if it is loaded, without loading it (for health details)."""
        return self._llm

    def sample(
        self,
        fitted: FittedPrompt,
        *,
        seed: int,
        temperature: float,
        top_p: float,
        grammar: LlamaGrammar | None,
    ) -> Generator[int, Any, None]:
        """The reply's tokens as llama.cpp samples them; close the iterator to stop early."""
        llm = self.ensure()
        llm.set_seed(seed)
        return llm.generate(
            fitted.tokens,
            temp=max(0.0, temperature),
            top_k=_TOP_K,
            top_p=top_p,
            min_p=_MIN_P,
            repeat_penalty=1.0,
            grammar=grammar,
        )

    def ensure(self) -> Llama:
        """The model, loaded on first use (its chat template and vocabulary with it)."""
        if self._llm is None:
            import llama_cpp
            from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter

            llm = load_model(self.path, n_ctx=self.n_ctx, n_threads=self.n_threads, seed=self.seed)

            def token_text(token: int) -> str:
                return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

            template = llm.metadata.get("tokenizer.chat_template") or CHATML_CHAT_TEMPLATE
            self._template = Jinja2ChatFormatter(
                template, eos_token=token_text(llm.token_eos()), bos_token=token_text(llm.token_bos())
            )
            self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
            self._llm = llm
            logger.info("local model loaded: %s (n_ctx=%d, threads=%d)", self.path, self.n_ctx, llm.n_threads)
        return self._llm

    def free(self) -> None:
        """Release the model's memory; the next use loads it again."""
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        """Token ids to bytes (``Llama.detokenize`` garbles pieces longer than 32 bytes)."""
        import llama_cpp

        out = bytearray()
        for token in tokens:
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
            if n < 0:
                self._piece = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(
                    self._vocab, token, self._piece, len(self._piece), 0, False
                )
            out += self._piece.raw[:n]
        return bytes(out)

    def is_end_of_generation(self, token: int) -> bool:
        """Whether ``token`` ends a reply (end of turn or of text, per the vocabulary)."""
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def fit(self, messages: list[ChatMessage], max_tokens: int) -> FittedPrompt:
        """The messages trimmed to leave the reply its reserve, rendered; see ``LocalBackend``."""
        llm = self.ensure()
        n_ctx = llm.n_ctx()
        budget = n_ctx - min(max_tokens, n_ctx // 2)
        kept = trim_to_fit(messages, budget, lambda msgs: len(self._render(msgs)), self._cut_middle)
        if kept != messages:
            logger.info(
                "local prompt trimmed to %d tokens: %d of %d messages kept",
                budget,
                len(kept),
                len(messages),
            )
        tokens = self._render(kept)
        return FittedPrompt(kept, tokens, min(max_tokens, n_ctx - len(tokens)))

    def _render(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Prompt tokens: template text may hold special tokens, message contents may not."""
        llm = self.ensure()
        placeholders = [{"role": m.role, "content": f"\ue000{i}\ue001"} for i, m in enumerate(messages)]
        parts = _SENTINEL.split(self._apply_template(placeholders))
        indices = [int(index) for index in parts[1::2]]
        if sorted(indices) != list(range(len(messages))):  # a template that rewrites contents
            prompt = self._apply_template([{"role": m.role, "content": m.content} for m in messages])
            return llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        tokens: list[int] = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                if part:
                    tokens += llm.tokenize(part.encode("utf-8"), add_bos=False, special=True)
            else:
                content = messages[int(part)].content
                if content:
                    tokens += llm.tokenize(content.encode("utf-8"), add_bos=False, special=False)
        return tokens

    def _apply_template(self, messages: list[dict[str, str]]) -> str:
        try:
            prompt: str = self._template(messages=messages).prompt
        except Exception as exc:  # jinja2 errors, or the template's own raise_exception()
            raise BadRequest(f"The local model's chat template rejected the conversation: {exc}") from exc
        return prompt

    def _cut_middle(self, text: str, n_tokens: int) -> str:
        """``text`` with at least ``n_tokens`` tokens (plus the marker's) removed from its middle."""
        llm = self.ensure()
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        marker = len(llm.tokenize(_CUT_MARKER.encode("utf-8"), add_bos=False, special=False))
        keep = len(tokens) - n_tokens - marker - 2  # slack: retokenizing at the seams may merge differently
        if keep <= 0:
            return _CUT_MARKER.strip() if text != _CUT_MARKER.strip() else text
        head = self.detokenize(tokens[: (keep + 1) // 2]).decode("utf-8", "ignore")
        tail = self.detokenize(tokens[len(tokens) - keep // 2 :]).decode("utf-8", "ignore")
        return head + _CUT_MARKER + tail
