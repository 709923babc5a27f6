"""The candidate's own vocabulary, to bias speech recognition towards it.

Whisper tiny.en heard "idempotency key" as "iPOT&C key" and "PostgreSQL" as
"Posture SQL"; given those words in its prompt (the text the decoder reads
first), it heard both right. The words a candidate is likely to
say are in their CV, the job description, and the question they are
answering, so those are read for terms:

- names written the way only a technical name is: inner capitals
  (PostgreSQL, GraphQL), acronyms (AWS, CI/CD), digits (S3, OAuth2), dots,
  pluses or hashes (Node.js, C++, C#);
- capitalised words in mid-sentence (Kafka, Kubernetes, Terraform);
- long lowercase words that are not everyday CV prose (idempotency).

Terms from the question come first, then the job description's, then the
CV's; the list is capped, because Whisper reads at most 223 prompt tokens
and a long prompt of unrelated words makes it worse, not better.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

# About 150 Whisper tokens: room for the terms and none wasted on the tail of a long CV.
MAX_HINT_CHARS = 400
# A lowercase word this long is often a term of the trade; shorter ones are mostly plain English.
_LONG_WORD = 9

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[./+#-][A-Za-z0-9+#]+)*[+#]*")
_LOOK_BACK = 32
_SENTENCE_START = re.compile(r"(?:^|[.!?:;•\n]\s*|\s[-*]\s+)$")
_TECHNICAL = re.compile(
    r"""
    [a-z][A-Z]            # an inner capital: PostgreSQL, gRPC, JavaScript
    | ^[A-Z]{2,}s?$       # an acronym: AWS, SQL, APIs
    | \d                  # digits: S3, EC2, OAuth2, p99
    | [./+#]              # Node.js, CI/CD, C++, C#
    """,
    re.VERBOSE,
)

# Long words of everyday CV and interview prose, which Whisper hears well without help.
_COMMON = frozenset(
    """
    accomplished achievement achievements additionally afterwards application applications appropriate
    approximately architecture assessment assignments background beginning behaviour behavior business
    candidate candidates challenge challenges colleagues collaborated collaboration collaborative
    communication communicate companies completely conference considered consistent continuous contributed
    contribution conversation coordinated customers decisions delivered delivering department described
    describing designing developed developer developers developing development difference different
    difficult direction discussion education efficient engineering engineers environment especially
    established everything excellent expectations experience experiences experienced explained following
    functional generally government important improvement improvements including increased independent
    individual information initiative interested interview interviews introduced leadership management
    managers mentoring necessary objectives operations opportunities opportunity organisation organization
    particular particularly performance personally positions possible practices presented previously
    priorities problems processes production professional programme programming progress projects provided
    questions reasonable recognised recognized reduced relationships reliability requirements research
    responsibilities responsibility responsible something sometimes stakeholder stakeholders strategies
    strategy successful successfully supported technical technologies technology something throughout
    together understand understanding university worked working
    """.split()  # noqa: SIM905 - a word list reads better as words
)
_STOP = frozenset(
    ("I", "A", "The", "This", "That", "These", "Those", "We", "Our", "My", "It", "In", "On", "At")
)


def terms(text: str) -> list[str]:
    """The terms in ``text`` that recognition may need help with, in order of first appearance."""
    return list(_terms(text))


# Kept per text: a recording's partial transcripts read the same CV every 1.5 s, on the event loop,
# and its final transcript once more; a handful of CVs are in use at a time.
@functools.lru_cache(maxsize=64)
def _terms(text: str) -> tuple[str, ...]:
    found: dict[str, str] = {}
    for match in _TOKEN.finditer(text):
        word = match.group().rstrip(".-/")
        if len(word) < 2 or word in _STOP:
            continue
        if _TECHNICAL.search(word):
            keep = True
        elif word[0].isupper():
            keep = word[1:].islower() and not _starts_sentence(text, match.start())
        else:
            keep = len(word) >= _LONG_WORD and word.lower() not in _COMMON
        if keep:
            found.setdefault(word.lower(), word)
    return tuple(found.values())


def _starts_sentence(text: str, at: int) -> bool:
    # Only the characters just before the word matter; searching all of them made terms()
    # quadratic in the CV's length (a second per recording for a 50,000-character CV).
    return _SENTENCE_START.search(text[max(0, at - _LOOK_BACK) : at]) is not None


def select(sources: Iterable[str | None], *, max_chars: int = MAX_HINT_CHARS) -> list[str]:
    """The terms of ``sources`` (most important first), each once, at most ``max_chars`` in all."""
    chosen: list[str] = []
    seen: set[str] = set()
    used = 0
    for source in sources:
        for term in terms(source or ""):
            key = term.lower()
            if key in seen:
                continue
            if used + len(term) + 2 > max_chars:
                return chosen
            seen.add(key)
            chosen.append(term)
            used += len(term) + 2
    return chosen


def prompt(chosen: Sequence[str], language: str = "en") -> str:
    """The terms as Whisper's prompt: in English, a sentence that lists them.

    Whisper reads its prompt as the text said just before, so a plain sentence primes both the
    spelling and ordinary sentence style: on tests/speech/test_recognition.py's answers it
    measured 9.6 % WER, a bare comma list 11.4 % (and 15.6 % against 9.5 % on answers not used
    to choose it). In another language an English sentence would pull towards English, so
    there the terms stay a comma list.
    """
    if not chosen:
        return ""
    listed = ", ".join(chosen)
    return f"I worked with {listed}." if language == "en" else listed


def point_text(point: object) -> str:
    """An assessment point's text: a plain string, or an object with a ``.point`` attribute."""
    return str(getattr(point, "point", point))


def question_sources(question: object) -> Sequence[str]:
    """The texts of a pack question: the question, then its assessment points."""
    texts = [str(getattr(question, "question", "") or "")]
    texts.extend(point_text(point) for point in getattr(question, "assessment", None) or ())
    return texts
