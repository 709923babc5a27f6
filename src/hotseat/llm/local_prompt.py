"""What the embedded model is asked: a prompt trimmed to its context, and a grammar for a schema.

Pure functions, kept apart from ``llm/local.py``'s queue and worker thread:
``trim_to_fit`` is the context-window policy (``LocalBackend`` describes it),
``schema_grammar`` the constraint that makes a structured reply valid JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hotseat.errors import BadRequest
from hotseat.llm.base import ChatMessage

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar


def schema_grammar(schema: dict[str, Any]) -> LlamaGrammar:
    """A GBNF grammar that only admits JSON documents valid against ``schema``.

    Built with llama-cpp-python's JSON-schema converter, with two fixes:
    integers bounded by ``minimum``/``maximum`` (which the converter ignores)
    become an ``enum`` when the range is small, and string characters exclude
    raw control characters (the converter allows them; ``json.loads`` rejects
    them). Raises ``BadRequest`` for a schema the converter cannot handle.
    """
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(json.dumps(_bounded_integers_as_enums(schema)))
    except Exception as exc:
        raise BadRequest(f"Unsupported JSON schema for the local model: {exc}") from exc
    gbnf = gbnf.replace('char ::= [^"\\\\] |', 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |', 1)
    return LlamaGrammar.from_string(gbnf, verbose=False)


def _bounded_integers_as_enums(node: Any) -> Any:
    if isinstance(node, list):
        return [_bounded_integers_as_enums(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _bounded_integers_as_enums(value) for key, value in node.items()}
    if node.get("type") == "integer" and "enum" not in node:
        low, high = node.get("minimum"), node.get("maximum")
        if isinstance(node.get("exclusiveMinimum"), int | float):
            low = int(node["exclusiveMinimum"]) + 1
        if isinstance(node.get("exclusiveMaximum"), int | float):
            high = -int(-node["exclusiveMaximum"]) - 1
        if isinstance(low, int | float) and isinstance(high, int | float) and 0 <= high - low <= 256:
            rest = {k: v for k, v in node.items() if k not in _INTEGER_BOUNDS}
            return {**rest, "enum": list(range(-int(-low), int(high) + 1))}
    return node


_INTEGER_BOUNDS = {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}


def trim_to_fit(
    messages: Sequence[ChatMessage],
    budget: int,
    count: Callable[[Sequence[ChatMessage]], int],
    cut_middle: Callable[[str, int], str],
) -> list[ChatMessage]:
    """The messages to send so that ``count(messages) <= budget``; see ``LocalBackend``.

    ``count`` measures a whole prompt in tokens; ``cut_middle(text, n)`` removes
    at least ``n`` tokens from the middle of ``text``.
    """
    kept = list(messages)
    if count(kept) <= budget:
        return kept
    # 1. Drop the oldest non-system messages (never the last message).
    droppable = [i for i, message in enumerate(kept[:-1]) if message.role != "system"]

    def without_oldest(k: int) -> list[ChatMessage]:
        gone = set(droppable[:k])
        return [message for i, message in enumerate(kept) if i not in gone]

    if droppable and count(without_oldest(len(droppable))) <= budget:
        low, high = 1, len(droppable)  # the smallest k that fits, by bisection
        while low < high:
            middle = (low + high) // 2
            if count(without_oldest(middle)) <= budget:
                high = middle
            else:
                low = middle + 1
        return without_oldest(low)
    # 2. Only system messages and the last one are left: cut the middle of the longest.
    kept = without_oldest(len(droppable))
    for _ in range(2 * len(kept) + 2):
        excess = count(kept) - budget
        if excess <= 0:
            return kept
        longest = max(range(len(kept)), key=lambda i: len(kept[i].content))
        shorter = cut_middle(kept[longest].content, excess)
        if shorter == kept[longest].content:
            break
        kept[longest] = replace(kept[longest], content=shorter)
    if count(kept) <= budget:
        return kept
    raise BadRequest(f"The conversation cannot be made to fit the local model's context ({budget} tokens).")
