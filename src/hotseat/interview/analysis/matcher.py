"""The matcher: an analysis that needs no model, explainable and deterministic.

For each assessment point it looks, sentence by sentence, for the point's authored ``signals``
(key terms and phrasings, matched on word stems so "retried" finds "retry") and, more weakly, for
the meaningful words of the point's own text. A point is

- ``demonstrated`` when the answers carry enough distinct evidence for it (``DEMONSTRATED``),
  one sentence of it a strong one;
- ``partial`` when they touch it (``PARTIAL``);
- ``contradicted`` when every sentence that touches it negates it ("we never had a rollback plan");
- ``not_shown`` otherwise.

The quotes are the sentences that carried the evidence, cut from the answer as written, and the
finding is ``specific`` when those sentences are concrete (one or more of: a number, a named
technology, a first-person action, an outcome) and not vague: a sentence that hedges or
generalises ("maybe", "I think", "or something", "always") is half the evidence and never concrete,
whatever tools it names. The rubric turns that into a score.

The answers are off topic when they touch no point and share almost no words with the question.
An answer that never places itself at work (no work word, no named technology, no telling word
of the question's, no skill or name from the CV) is off topic and is no evidence for any point,
however its sentences match a point's shape: "I'd have bought a flat instead of renting" shows
nothing about a decision at work. Korean answers
are not held to that (the word lists are English). A short "I don't know" is recorded as declined.
CV claims are confirmed when an answer sentence shares enough of a claim's words (or its metric),
contradicted when that sentence negates them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hotseat.interview.analysis.claims import Claim
from hotseat.interview.analysis.lexicon import GENERIC_WORDS, TECH_TERMS, VAGUE_PHRASES, WORK_WORDS
from hotseat.interview.analysis.model import (
    Analysis,
    ClaimFinding,
    ClaimState,
    PointFinding,
    Quote,
    Relevance,
    Verdict,
)
from hotseat.interview.analysis.text import (
    NEGATORS,
    Phrase,
    Sentence,
    content_stems,
    is_korean,
    negated_at,
    sentences,
    specificity,
    stem,
    words,
)
from hotseat.interview.packs import Point, Question

# Evidence weights: an authored signal of several words, of one word, and one of the point's own words.
PHRASE_WEIGHT = 1.0
WORD_WEIGHT = 0.8
POINT_WORD_WEIGHT = 0.3
POINT_WORDS_CAP = 0.6
# The evidence a point needs, summed over distinct matches in all the answers.
DEMONSTRATED = 2.4
PARTIAL = 0.3
# Less evidence suffices when the sentences carrying it are concrete.
SPECIFIC_DEMONSTRATED = 1.0
# A sentence is concrete with this many specificity cues (a number, a named technology, a
# first-person action, an outcome).
SPECIFIC_CUES = 1
MAX_QUOTES = 2
# Evidence in a vague sentence ("I'd maybe add some monitoring or something") counts this much.
VAGUE_WEIGHT = 0.5
_VAGUE = tuple(Phrase.of(phrase) for phrase in VAGUE_PHRASES)
# A sentence retells a CV claim when it shares this share of the claim's meaningful words.
CLAIM_SHARE = 0.35
CLAIM_MIN_WORDS = 3
_DECLINE = re.compile(
    r"\b(i\s+(?:do\s+not|don't|dont)\s+know|no\s+idea|not\s+sure|rather\s+not|pass|skip|next\s+question)\b"
    r"|모르겠|잘\s*모르|넘어가",
    re.IGNORECASE,
)
_DECLINE_MAX_WORDS = 15
_WORK_STEMS = frozenset(stem(word) for word in WORK_WORDS)
_TECH_STEMS = frozenset(stem(term) for term in TECH_TERMS)
_GENERIC_STEMS = frozenset(stem(word) for word in GENERIC_WORDS)
# A capitalised word after the start of a line: a company, product or place the CV names.
_NAME = re.compile(r"(?<=\S )[A-Z][A-Za-z0-9]+")
# A number of two digits or more ("40%", "1,200", "99.9"): a CV claim's metric, said again.
_NUMBER = re.compile(r"\d[\d,.]*\d|\d{2,}")


@dataclass(frozen=True, slots=True)
class AnswerText:
    turn_id: str
    text: str


@dataclass(frozen=True, slots=True)
class _Hit:
    sentence: Sentence
    key: str  # which signal or word matched: each counts once across the answers
    weight: float
    negated: bool
    # The weight before a vague sentence's discount: whether an answer is on the question's topic
    # does not depend on how vaguely it is said.
    topical: float

    @property
    def vague(self) -> bool:
        """Found in a vague sentence (its weight discounted)."""
        return self.weight < self.topical


def analyse(
    question: Question,
    answers: Sequence[AnswerText],
    claims: Sequence[Claim] = (),
) -> Analysis:
    """The matcher's analysis of ``answers`` (every answer to ``question`` so far), against the
    candidate's CV ``claims`` (their skills count as named technologies)."""
    cv_terms = sorted({skill for claim in claims for skill in claim.skills})
    context = _work_context(question, claims)
    at_work = {answer.turn_id: _at_work(answer.text, context) for answer in answers}
    cut = [
        sentence
        for answer in answers
        if at_work[answer.turn_id]
        for sentence in sentences(answer.text, answer.turn_id)
    ]
    scales = [VAGUE_WEIGHT if _vague(sentence) else 1.0 for sentence in cut]  # once per sentence
    hits_by_point = [_hits(point, cut, scales) for point in question.assessment]
    findings = tuple(_point_finding(hits, cv_terms) for hits in hits_by_point)
    # Whether the answers showed the points is cumulative; whether the candidate stayed on topic
    # or declined is about the latest answer (the one the next move replies to).
    latest = answers[-1] if answers else AnswerText("", "")
    touched = sum(
        1
        for hits in hits_by_point
        if _evidence([hit for hit in hits if hit.sentence.turn_id == latest.turn_id], topical=True) >= PARTIAL
    )
    return Analysis(
        analyser="matcher",
        points=findings,
        claims=tuple(_claim_findings(claims, cut)),
        relevance=_relevance(question, latest.text, touched)
        if at_work.get(latest.turn_id, True)
        else "off_topic",
        declined=_declined(latest.text),
        concrete=any(
            cues.number or cues.technology or cues.action
            for cues in (
                specificity(sentence, cv_terms) for sentence in cut if sentence.turn_id == latest.turn_id
            )
        ),
    )


def _point_finding(hits: Sequence[_Hit], cv_terms: Sequence[str]) -> PointFinding:
    if not hits:
        return PointFinding("not_shown")
    positive = [hit for hit in hits if not hit.negated]
    if not positive:
        return PointFinding("contradicted", _quotes(hits))
    evidence = _evidence(positive)
    if evidence < PARTIAL:
        return PointFinding("not_shown")
    quotes = _quotes(positive)
    quoted = {quote.text for quote in quotes}
    specific = any(
        specificity(hit.sentence, cv_terms).count >= SPECIFIC_CUES and not hit.vague
        for hit in positive
        if hit.sentence.text in quoted
    )
    strong_sentence = max(_sentence_weights(positive).values()) >= WORD_WEIGHT
    demonstrated = evidence >= DEMONSTRATED or (specific and evidence >= SPECIFIC_DEMONSTRATED)
    verdict: Verdict = "demonstrated" if demonstrated and strong_sentence else "partial"
    return PointFinding(verdict, quotes, specific)


@dataclass(frozen=True, slots=True)
class _Term:
    phrase: Phrase
    key: str  # ``_Hit.key``
    weight: float


@functools.lru_cache(maxsize=4096)
def _terms(point: Point) -> tuple[_Term, ...]:
    """The point's signals, then its own words, ready to match: kept, as a pack's points are
    matched against every answer (built per answer, they were most of the matcher's time)."""
    signals = [Phrase.of(signal) for signal in point.signals]
    # A word that is a signal on its own already counts as one.
    single_words = {phrase.stems[0] for phrase in signals if len(phrase.stems) == 1}
    own_words = [Phrase.stem(word) for word in sorted(content_stems(point.point) - single_words)]
    return (
        *(
            _Term(
                phrase,
                "s:" + phrase.text,
                PHRASE_WEIGHT if len(phrase.stems) > 1 or phrase.korean else WORD_WEIGHT,
            )
            for phrase in signals
        ),
        *(_Term(phrase, "w:" + phrase.text, POINT_WORD_WEIGHT) for phrase in own_words),
    )


def _hits(point: Point, cut: Sequence[Sentence], scales: Sequence[float]) -> list[_Hit]:
    """Where the point's terms are found in the sentences, each weighed by its sentence's scale."""
    terms = _terms(point)
    hits: list[_Hit] = []
    for sentence, scale in zip(cut, scales, strict=True):
        for term in terms:
            at = term.phrase.find(sentence)
            if at is not None:
                hits.append(
                    _Hit(sentence, term.key, term.weight * scale, negated_at(sentence, at), term.weight)
                )
    return hits


def _vague(sentence: Sentence) -> bool:
    """A hedge or a generality in the sentence (``VAGUE_PHRASES``)."""
    return any(phrase.find(sentence) is not None for phrase in _VAGUE)


def _evidence(hits: Sequence[_Hit], *, topical: bool = False) -> float:
    """Each distinct signal counts once, however often it is said; the point's own words are capped.
    ``topical``: without the discount of vague sentences (for relevance, not for verdicts)."""
    best: dict[str, float] = {}
    for hit in hits:
        best[hit.key] = max(best.get(hit.key, 0.0), hit.topical if topical else hit.weight)
    signal_total = sum(weight for key, weight in best.items() if key.startswith("s:"))
    word_total = sum(weight for key, weight in best.items() if key.startswith("w:"))
    return signal_total + min(word_total, POINT_WORDS_CAP)


def _sentence_weights(hits: Sequence[_Hit]) -> dict[Sentence, float]:
    weights: dict[Sentence, float] = {}
    for hit in hits:
        weights[hit.sentence] = weights.get(hit.sentence, 0.0) + hit.weight
    return weights


def _quotes(hits: Sequence[_Hit]) -> tuple[Quote, ...]:
    ranked = sorted(_sentence_weights(hits).items(), key=lambda item: -item[1])
    return tuple(Quote(sentence.text, sentence.turn_id) for sentence, _ in ranked[:MAX_QUOTES])


def _relevance(question: Question, text: str, touched_points: int) -> Relevance:
    if touched_points >= 2:
        return "on_topic"
    shared = len(content_stems(text) & _topic(question))
    if touched_points == 0 and shared <= 1:
        return "off_topic"
    if touched_points == 0 or shared <= 2:
        return "unsure"
    return "on_topic"


@functools.lru_cache(maxsize=1024)
def _topic(question: Question) -> frozenset[str]:
    """The meaningful stems of the question and its points (kept: read on every answer)."""
    topic = content_stems(question.question)
    for point in question.assessment:
        topic |= content_stems(point.point)
    return topic


@functools.lru_cache(maxsize=1024)
def _question_context(question: Question) -> frozenset[str]:
    """Work words, technologies and the telling words of the question and its points."""
    return _WORK_STEMS | _TECH_STEMS | (_topic(question) - _GENERIC_STEMS)


def _work_context(question: Question, claims: Sequence[Claim]) -> frozenset[str]:
    """The stems that place an answer at work: work words, technologies, the telling words of the
    question and its points ("seat", "booking"), and the skills and names in the CV's claims."""
    return _question_context(question).union(*(_claim_context(claim) for claim in claims))


@functools.lru_cache(maxsize=4096)
def _claim_context(claim: Claim) -> frozenset[str]:
    """The skills and names a CV claim mentions, as stems (kept: a CV's claims are read on every answer)."""
    return frozenset(stem(skill.lower()) for skill in claim.skills) | {
        stem(name.lower()) for name in _NAME.findall(claim.line)
    }


def _at_work(text: str, context: frozenset[str]) -> bool:
    return is_korean(text) or not content_stems(text).isdisjoint(context)


def _declined(text: str) -> bool:
    return len(words(text)) <= _DECLINE_MAX_WORDS and bool(_DECLINE.search(text))


def _numbers(text: str) -> frozenset[str]:
    return frozenset(_NUMBER.findall(text))


def _disowned(sentence: Sentence, before: int) -> bool:
    """ "I wasn't the one who led the migration": a first-person negation before the claim's words."""
    lead = words(sentence.text)[: before + 1]
    personal = any(word in ("i", "we", "i'm", "i've") for word in lead)
    return personal and any(word in NEGATORS for word in lead)


def _claim_findings(claims: Sequence[Claim], cut: Sequence[Sentence]) -> list[ClaimFinding]:
    """The claims an answer sentence retells: enough of the claim's own words (``CLAIM_SHARE`` of
    them, at least ``CLAIM_MIN_WORDS``), or one of its numbers (of two digits or more) and a few
    of its words."""
    found = []
    numbers_said = [_numbers(sentence.text) for sentence in cut]
    for claim in claims:
        claim_stems = content_stems(claim.line)
        needed = max(CLAIM_MIN_WORDS, round(CLAIM_SHARE * len(claim_stems)))
        claim_numbers = _numbers(claim.line)
        for sentence, said in zip(cut, numbers_said, strict=True):
            shared = claim_stems & sentence.positions.keys()
            if len(shared) < needed and not (claim_numbers & said and len(shared) >= CLAIM_MIN_WORDS - 1):
                continue
            first = min(sentence.positions[stem][0] for stem in shared)
            state: ClaimState = "contradicted" if _disowned(sentence, first) else "confirmed"
            found.append(ClaimFinding(claim.id, state, Quote(sentence.text, sentence.turn_id)))
            break
    return found
