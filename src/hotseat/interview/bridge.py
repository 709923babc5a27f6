"""The model's part of a guided turn: one short sentence, checked before anyone sees it.

A small model asked for "one sentence acknowledging the answer" often writes a list, a heading,
a question of its own, a judgement, an echo of its instructions or the same words again and
again. ``clean_bridge`` keeps the first sentence only if it is none of those, in the
interview's language; otherwise it returns "" and the turn uses an authored acknowledgement.
The bridge is held until it is whole and checked (it is a dozen words), because a bad one
must never be shown; the planned words follow it in the same turn.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from hotseat.errors import HotseatError
from hotseat.interview.analysis.text import is_korean, words
from hotseat.interview.fencing import fence
from hotseat.interview.packs import language_name
from hotseat.llm.base import Backend, ChatMessage, GenerationParams, Queued, StreamEnd, StreamItem, Usage

MAX_BRIDGE_WORDS = 20
MIN_BRIDGE_WORDS = 2
# Enough for one sentence; the model is stopped once this much has come.
BRIDGE_MAX_CHARS = 240
BRIDGE_PARAMS = GenerationParams(max_tokens=40, temperature=0.3)
_ANSWER_CHARS = 600
_SENTENCE_DONE = re.compile(r"\S[.!?。]\s|\S[^\S\n]*\n")
_SENTENCE = re.compile(r"^(.+?[.!。])(?:\s|$)")
_FORBIDDEN_CHARACTERS = re.compile(r"[:;*#<>\[\]{}()|_`\"/\\=@]|\d\.")
_FORBIDDEN_WORDS = frozenset(
    """
    interviewer candidate assistant task prompt instruction instructions ai model language score
    scores rating grade question questions sorry apologize apologise cannot can't great
    excellent perfect impressive wonderful amazing awesome fantastic brilliant wrong incorrect
    poor bad help assist happy glad concise thorough detailed solid strong weak vague clear good
    nice
    """.split()  # noqa: SIM905 (a word list reads best as words)
)
# An acknowledgement speaks to the candidate.
_ADDRESSED = frozenset({"you", "your", "you're", "you've", "thanks", "thank"})
_KOREAN_FORBIDDEN = ("면접관", "지원자", "점수", "질문", "훌륭", "완벽", "틀렸")


def bridge_messages(task: str, language: str, last_answer: str | None) -> list[ChatMessage]:
    """A prompt small enough for the embedded model: one task, and the answer to acknowledge."""
    system = (
        f"You are a friendly, concise job interviewer. {task} Write exactly one short sentence of "
        f"at most 15 words, in {language_name(language)}. Do not ask a question. Do not praise, "
        "judge or score. No lists, no quotes."
    )
    messages = [ChatMessage("system", system)]
    if last_answer:
        messages.append(ChatMessage("user", fence("ANSWER", last_answer[:_ANSWER_CHARS])))
    else:
        messages.append(ChatMessage("user", "Hello."))
    return messages


def clean_bridge(text: str, language: str, answer: str | None = None) -> str:
    """The model's bridge if it is one clean sentence in ``language``; "" if it must be dropped.

    Beyond shape and language: an English bridge must speak to the candidate ("you", "thanks"...),
    must not be about the interviewer itself ("I'm sorry", "I'd be happy to help") and must not
    echo four words in a row of the answer (a small model often repeats its input).
    """
    first_line = text.strip().split("\n", 1)[0].strip().strip("'“”‘’").strip()
    match = _SENTENCE.match(first_line + " ")
    if match is None:
        return ""
    sentence = match.group(1).strip()
    tokens = words(sentence)
    if not MIN_BRIDGE_WORDS <= len(tokens) <= MAX_BRIDGE_WORDS:
        return ""
    if "?" in sentence or _FORBIDDEN_CHARACTERS.search(sentence):
        return ""
    if any(token in _FORBIDDEN_WORDS for token in tokens):
        return ""
    long_words = [token for token in tokens if len(token) > 3]
    if len(long_words) != len(set(long_words)):
        return ""  # the same word twice in a dozen is a small model looping
    if answer and _echoes(tokens, words(answer)):
        return ""
    korean = language.split("-", 1)[0].lower() == "ko"
    if korean:
        if not is_korean(sentence) or any(word in sentence for word in _KOREAN_FORBIDDEN):
            return ""
    elif (
        not sentence.isascii()
        or tokens[0] in ("i", "i'm", "i'd", "i've", "i'll", "as")
        or not any(token in _ADDRESSED for token in tokens)
    ):
        return ""
    return sentence[0].upper() + sentence[1:]


def _echoes(bridge: list[str], answer: list[str], run: int = 4) -> bool:
    said = {tuple(answer[i : i + run]) for i in range(len(answer) - run + 1)}
    return any(tuple(bridge[i : i + run]) in said for i in range(len(bridge) - run + 1))


async def guided_stream(
    backend: Backend,
    bridge: Sequence[ChatMessage] | None,
    *,
    fallback: str,
    planned: str,
    language: str,
    answer: str | None = None,
    params: GenerationParams = BRIDGE_PARAMS,
) -> AsyncIterator[StreamItem]:
    """A guided turn: the model's checked bridge (or ``fallback``), then the planned words."""
    usage: Usage | None = None
    said = ""
    if bridge is not None:
        parts: list[str] = []
        size = 0
        try:
            stream = backend.stream(bridge, params)
            try:
                async for item in stream:
                    if isinstance(item, str):
                        parts.append(item)
                        size += len(item)
                        so_far = "".join(parts)
                        if size >= BRIDGE_MAX_CHARS or _SENTENCE_DONE.search(so_far):
                            break  # one sentence is all a bridge may be: stop the model now
                    elif isinstance(item, Queued):
                        yield item
                    elif isinstance(item, StreamEnd):
                        usage = item.usage
            finally:
                # Stops the model at once when the bridge is long enough (the contract of Backend.stream).
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()
        except HotseatError:
            # A bridge is a nicety: a busy or failing model leaves the authored words to stand alone.
            parts = []
        said = clean_bridge("".join(parts), language, answer)
    opening = said or fallback
    if opening:
        yield opening + " "
    yield planned
    yield StreamEnd("stop", usage)
