"""Plain-text tools the matcher and the claim extractor share: sentences with their places in the
original text (so a quote is always a verbatim substring), stemmed tokens, phrase matching, and
the cues that make a sentence specific (numbers, named technologies, first-person actions, outcomes).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import snowballstemmer

from hotseat.interview.analysis.lexicon import (
    ACTION_VERBS,
    NUMBER_WORDS,
    OUTCOME_WORDS,
    STOPWORDS,
    TECH_TERMS,
)

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[\uac00-\ud7a3]+")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_CLAUSE_BREAK = re.compile(r",\s+|\s+(?:and|but|so)\s+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_DIGIT = re.compile(r"\d")
NEGATORS = frozenset({"not", "never", "no", "without", "nobody", "nothing"})
_NEGATOR_WINDOW = 5
# A sentence longer than this is cut at clause breaks, so a quote stays readable.
MAX_QUOTE_CHARS = 240
_STEMMER = snowballstemmer.stemmer("english")


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of one answer: its exact text, its answer's turn id, and its stemmed tokens."""

    text: str
    turn_id: str
    stems: tuple[str, ...]
    lowered: str
    # Where each stem stands, so that finding a phrase looks only where its first word is: the
    # matcher looks for every signal of every point in every sentence.
    positions: Mapping[str, tuple[int, ...]] = field(hash=False, compare=False)

    @classmethod
    def of(cls, text: str, turn_id: str) -> Sentence:
        tokens = stems(text)
        positions: dict[str, list[int]] = {}
        for index, token in enumerate(tokens):
            positions.setdefault(token, []).append(index)
        indexed = {token: tuple(places) for token, places in positions.items()}
        return cls(text, turn_id, tokens, text.lower(), indexed)


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The stem of one lower-case word ("retried" and "retrying" both give "retri")."""
    word = word.replace("’", "'")
    if _HANGUL.search(word):
        return word
    return str(_STEMMER.stemWord(word.split("'")[0]))


_CONTRACTION = re.compile(r"(?i)\b(can|won|shan)['’]t\b|n['’]t\b|['’](d|ll|ve|re|m)\b")
_EXPANDED = {
    "can": "can",
    "won": "will",
    "shan": "shall",
    "d": "would",
    "ll": "will",
    "ve": "have",
    "re": "are",
    "m": "am",
}


def _expand(match: re.Match[str]) -> str:
    negated, short = match.group(1), match.group(2)
    if short:
        return f" {_EXPANDED[short.lower()]}"
    return f"{_EXPANDED[negated.lower()]} not" if negated else " not"


def words(text: str) -> list[str]:
    """Lower-case words, contractions spelt out ("didn't" is "did not", "I'd" is "I would"), so
    negations and signals match either spelling."""
    return [match.group(0).lower() for match in _WORD.finditer(_CONTRACTION.sub(_expand, text))]


def stems(text: str) -> tuple[str, ...]:
    return tuple(stem(word) for word in words(text))


# Texts up to this long are a pack's questions and points or a CV's lines, read on every answer:
# their stems are kept. Answers, longer and each read once or twice, are not.
_KEPT_TEXT_CHARS = 400


def content_stems(text: str) -> frozenset[str]:
    """The stems of the words that carry meaning (no stopwords, no one-letter words)."""
    if len(text) <= _KEPT_TEXT_CHARS:
        return _kept_content_stems(text)
    return _content_stems(text)


def _content_stems(text: str) -> frozenset[str]:
    return frozenset(stem(word) for word in words(text) if word not in STOPWORDS and len(word) > 1)


_kept_content_stems = functools.lru_cache(maxsize=8192)(_content_stems)


def sentences(text: str, turn_id: str = "") -> list[Sentence]:
    """The answer cut into sentences (long ones at clause breaks), each an exact piece of ``text``."""
    pieces: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip().rstrip(";,")
        if not part:
            continue
        if len(part) <= MAX_QUOTE_CHARS:
            pieces.append(part)
            continue
        pieces.extend(_cut(part))
    return [Sentence.of(piece, turn_id) for piece in pieces if words(piece)]


def _cut(text: str) -> list[str]:
    """``text`` in pieces of at most ``MAX_QUOTE_CHARS``, cut at clause breaks where it can be."""
    pieces: list[str] = []
    start = 0
    last_break = None
    for match in _CLAUSE_BREAK.finditer(text):
        if match.start() - start > MAX_QUOTE_CHARS and last_break is not None:
            pieces.append(text[start : last_break[0]].strip())
            start = last_break[1]
        last_break = (match.start(), match.end())
    if len(text) - start > MAX_QUOTE_CHARS and last_break is not None and last_break[1] > start:
        pieces.append(text[start : last_break[0]].strip())
        start = last_break[1]
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


@dataclass(frozen=True, slots=True)
class Phrase:
    """A signal or key term, ready to match: stemmed words, or raw text for Korean."""

    text: str
    stems: tuple[str, ...]
    korean: bool

    @classmethod
    def of(cls, text: str) -> Phrase:
        """The phrase for a signal; kept, as a pack's signals are matched against every answer."""
        return _phrase(text)

    @classmethod
    def stem(cls, stemmed: str) -> Phrase:
        """A phrase of one word already stemmed (a point's own words)."""
        korean = bool(_HANGUL.search(stemmed))
        return cls(stemmed, () if korean else (stemmed,), korean)

    def find(self, sentence: Sentence) -> int | None:
        """Where the phrase starts in the sentence's tokens (0 for Korean text), or None."""
        if self.korean:
            return 0 if self.text.lower() in sentence.lowered else None
        if not self.stems:
            return None
        size = len(self.stems)
        for index in sentence.positions.get(self.stems[0], ()):
            if sentence.stems[index : index + size] == self.stems:
                return index
        return None


@functools.lru_cache(maxsize=8192)
def _phrase(text: str) -> Phrase:
    korean = bool(_HANGUL.search(text))
    return Phrase(text, () if korean else stems(text), korean)


def negated_at(sentence: Sentence, index: int) -> bool:
    """Whether a negation stands just before token ``index`` ("we never had a rollback plan")."""
    window = sentence.stems[max(0, index - _NEGATOR_WINDOW) : index]
    return any(token in NEGATORS for token in window)


@dataclass(frozen=True, slots=True)
class Specificity:
    number: bool
    technology: bool
    action: bool
    outcome: bool

    @property
    def count(self) -> int:
        return sum((self.number, self.technology, self.action, self.outcome))


def specificity(sentence: Sentence, extra_terms: Iterable[str] = ()) -> Specificity:
    """The cues that make a sentence concrete rather than general."""
    tokens = sentence.stems
    lowered_words = words(sentence.text)
    number = bool(_DIGIT.search(sentence.text)) or any(word in NUMBER_WORDS for word in lowered_words)
    terms = TECH_TERMS | {term.lower() for term in extra_terms}
    technology = any(word in terms for word in lowered_words) or _has_named_thing(sentence.text)
    action = _first_person_action(lowered_words)
    outcome = any(token in OUTCOME_WORDS for token in tokens)
    return Specificity(number, technology, action, outcome)


def _has_named_thing(text: str) -> bool:
    """A capitalised or CamelCase word past the sentence's start (a product, tool or team name)."""
    found = [m.group(0) for m in re.finditer(r"\b[A-Z][a-zA-Z0-9]+[A-Z0-9][a-zA-Z0-9]*\b", text)]
    return bool(found)


def _first_person_action(lowered: Sequence[str]) -> bool:
    for index, word in enumerate(lowered):
        if word in ("i", "we", "i'd", "we'd"):
            following = lowered[index + 1 : index + 4]
            if any(w in ACTION_VERBS or (w.endswith("ed") and len(w) > 4) for w in following):
                return True
    return False


def is_korean(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(1 for ch in letters if _HANGUL.match(ch)) / len(letters) > 0.3
