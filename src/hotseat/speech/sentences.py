"""Sentences out of a turn's streamed deltas, each with the range of seqs it came from.

The interviewer's reply is spoken sentence by sentence while it streams: a
sentence goes to the synthesiser as soon as it is known to be complete, not
when the turn ends. Boundaries are found by ``sentence-stream``, the splitter
Piper's authors wrote for exactly this (abbreviations such as "Dr." wait for
the next word; a list item or a blank line ends a sentence too).

A sentence is complete only once the next word has begun, so its ``last``
seq is that of the delta that completed it: at or after the delta that
holds its final character. A resumed stream speaks every sentence whose
``last`` is past the client's seq, so a sentence is never lost, and at most
the one in progress is heard twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sentence_stream import SentenceBoundaryDetector

# Markdown that is written for the eye: code ticks, headings, bullets, emphasis marks, link targets.
_MARKUP = re.compile(
    r"`+|^\s*(?:#+|[-*+])\s+|(?<=\])\([^)]*\)|[\[\]_]{1,2}(?=\S)|(?<=\S)[\]_]{1,2}", re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence to speak, and the seqs of the first and last deltas it spans."""

    text: str
    first: int
    last: int


class SentenceSplitter:
    """Feed deltas in seq order with ``add``; ``finish`` at the turn's terminal event."""

    def __init__(self) -> None:
        self._detector = SentenceBoundaryDetector()
        self._first: int | None = None

    def add(self, seq: int, text: str) -> Iterator[Sentence]:
        """The sentences that the delta ``seq`` completed (often none, sometimes several)."""
        if self._first is None:
            self._first = seq
        for found in self._detector.add_chunk(text):
            yield from self._sentence(found, seq)
            self._first = seq

    def finish(self, seq: int) -> Iterator[Sentence]:
        """What is left when the turn ends (a reply need not end with a full stop)."""
        rest = self._detector.finish()
        if rest:
            yield from self._sentence(rest, seq)
        self._first = None

    def _sentence(self, text: str, seq: int) -> Iterator[Sentence]:
        spoken = speakable(text)
        if spoken:
            yield Sentence(spoken, self._first if self._first is not None else seq, seq)


def speakable(text: str) -> str:
    """``text`` without the marks Markdown adds for the eye, which a voice would read out."""
    return " ".join(_MARKUP.sub("", text).split())
