"""Spelling the candidate's own terms the way they write them, after recognition.

Hints bias Whisper towards a term, but a small model can still hear the
sound and spell it its own way: "GrafQL", "poster SQL", "itempotency". A run
of one to three transcript words is replaced by a hinted term when it sounds
the same (Metaphone codes, jellyfish) and is spelt nearly the same
(rapidfuzz): both must agree, so "salary" (sounds like "Celery", spelt
unlike it) stays, and a plural never becomes the singular or back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import jellyfish
from rapidfuzz import fuzz

# Both similarities, out of 100. Measured on tests/speech/test_recognition.py's answers: lower
# thresholds began to turn ordinary words into terms.
SOUND_SIMILAR = 90
SPELLING_SIMILAR = 75
# Shorter terms (AWS, S3, gRPC) have too few letters to match by likeness; only by case.
MIN_FUZZY_CHARS = 5
MAX_WINDOW = 3

_WORD = re.compile(r"\S+")
_EDGE = re.compile(r"^([^\w]*)(.*?)([^\w]*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    key: str  # letters and digits, lower case
    sound: str


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def correct_terms(text: str, terms: Sequence[str]) -> str:
    """``text`` with each near-miss of one of ``terms`` written as the term."""
    known = [_Term(t, _key(t), jellyfish.metaphone(_key(t))) for t in terms if _key(t)]
    if not known or not text:
        return text
    words = _WORD.findall(text)
    out: list[str] = []
    i = 0
    while i < len(words):
        # The shortest run first: "an itempotency key" is "an idempotency key", not "an idempotency".
        for size in range(1, min(MAX_WINDOW, len(words) - i) + 1):
            window = words[i : i + size]
            term = _match(window, known)
            if term is not None:
                lead = _EDGE.match(window[0])
                trail = _EDGE.match(window[-1])
                out.append((lead.group(1) if lead else "") + term + (trail.group(3) if trail else ""))
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _match(window: Sequence[str], known: Sequence[_Term]) -> str | None:
    keys = [_key(word) for word in window]
    key = "".join(keys)
    if not key:
        return None
    for term in known:
        if key == term.key:
            return term.text
        if len(term.key) < MIN_FUZZY_CHARS or key.rstrip("s") == term.key.rstrip("s"):
            continue
        if abs(len(key) - len(term.key)) > max(2, len(term.key) // 3):
            continue
        if len(keys) > 1 and not _pieces_of(keys, term.key):
            continue
        if (
            fuzz.ratio(key, term.key) >= SPELLING_SIMILAR
            and fuzz.ratio(jellyfish.metaphone(key), term.sound) >= SOUND_SIMILAR
        ):
            return term.text
    return None


def _pieces_of(keys: Sequence[str], term: str) -> bool:
    """Whether several words are the term heard in pieces ("poster SQL", "Promethe is").

    The first must be spelt like the term's beginning and the last like its end, so that a
    word beside the term ("an itempotency") is not swallowed, and the first must not be the
    term already, singular or plural ("dashboard is" stays).
    """
    first, last = keys[0], keys[-1]
    return (
        first.rstrip("s") != term.rstrip("s")
        and fuzz.ratio(first, term[: len(first)]) >= SPELLING_SIMILAR
        and fuzz.ratio(last, term[-len(last) :]) >= 50
    )
