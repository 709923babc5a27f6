"""The claims a CV makes: one per achievement line, quoted as written, with its metric and skills.

Deterministic, so claims are extracted from the stored CV text whenever they are needed, and
their ids (c1, c2...) are stable for a CV. Every move of an interview needs them, and a CV takes
milliseconds to read (2.3 ms for the calibration CV's 3 KB), so ``claims_of`` keeps the claims of
the CV texts read last.
A line is an achievement when it says something was done (an action verb, "I/we" + a verb) or
carries a metric; contact details, headings, dates and education lines are not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hotseat.interview.analysis.lexicon import ACTION_VERBS, TECH_TERMS
from hotseat.interview.analysis.model import Analysis
from hotseat.interview.analysis.text import content_stems, is_korean, words
from hotseat.interview.packs import Pack

MAX_CLAIMS = 40
_MIN_WORDS = 5
_MAX_CHARS = 300
_BULLET = re.compile(r"^\s*(?:[-*•·▪◦‣–—]|\d{1,2}[.)])\s+")
_METRIC = re.compile(
    r"(?:from\s+\S+\s+to\s+\S+)"
    r"|(?:[$€£]\s?\d[\d,.]*\s*[kKmMbB]?)"
    r"|(?:\d[\d,.]*\s*(?:%|x\b|×|ms\b|s\b|seconds?|minutes?|hours?|days?|weeks?|months?|years?|k\b|K\b|M\b|"
    r"million|billion|thousand|users?|customers?|requests?|req/s|rps|qps|engineers?|teams?|services?|"
    r"TB|GB|MB|percent|%|(?:writes|reads|requests|events|messages|jobs|orders|bookings)?\s*(?:a|per)\s+(?:second|minute|day|month)))"
)
_NOT_ACHIEVEMENT = re.compile(
    r"@|https?://|www\.|\b(?:phone|email|linkedin|github\.com|university|college|bsc|msc|ba|ma|phd|"
    r"b\.sc|m\.sc|gpa|references)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# A line with a year and this few words is a heading such as "Acme Corp, 2019 to 2023".
_DATED_HEADING_WORDS = 8
_KOREAN_ACTION = re.compile(r"(했|하였|주도|개발|구축|설계|개선|단축|감소|도입|운영|담당)")
_SKILLS_HEADING = re.compile(r"^\s*#*\s*(?:technical\s+)?skills?\b|^\s*#*\s*기술", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    line: str
    metric: str | None
    skills: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "metric": self.metric, "skills": list(self.skills)}


# CVs whose claims are kept: one for each interview running at once, up to this many. A CV's text
# is at most HOTSEAT_CV_MAX_CHARS (50,000 by default), and usually a few thousand characters.
KEPT_CVS = 1024


def claims_of(cv_text: str | None, *, deletions_before_read: int | None = None) -> list[Claim]:
    """``extract_claims(cv_text)``, kept for the last ``KEPT_CVS`` CV texts.

    ``deletions_before_read``: ``cv_deletions()`` from before ``cv_text`` was read. If a CV was
    deleted since, the text may be that CV's, read just before it went: its claims are then
    extracted but not kept, so that the deletion's ``forget_kept_claims`` is not undone.
    """
    if not cv_text:
        return []
    if deletions_before_read is not None and deletions_before_read != _deletions:
        return extract_claims(cv_text)
    return list(_kept_claims(cv_text))


def kept_cvs() -> int:
    """How many CV texts ``claims_of`` keeps now."""
    return _kept_claims.cache_info().currsize


def cv_deletions() -> int:
    """How many times ``forget_kept_claims`` has run in this process."""
    return _deletions


def forget_kept_claims() -> None:
    """Drop every kept CV text and its claims: a CV was deleted, and its text must not outlive it
    here. The others are extracted again when next needed."""
    global _deletions
    _deletions += 1
    _kept_claims.cache_clear()


_deletions = 0  # cv_deletions()


@functools.lru_cache(maxsize=KEPT_CVS)
def _kept_claims(cv_text: str) -> tuple[Claim, ...]:
    return tuple(extract_claims(cv_text))


def extract_claims(cv_text: str | None) -> list[Claim]:
    """The CV's achievement lines, in order, at most ``MAX_CLAIMS``."""
    if not cv_text:
        return []
    skills = _declared_skills(cv_text)
    claims: list[Claim] = []
    for bullet, raw in _logical_lines(cv_text):
        line = _clean(raw)
        if not _is_achievement(line, bullet):
            continue
        metric = _METRIC.search(line)
        claims.append(
            Claim(
                id=f"c{len(claims) + 1}",
                line=line,
                metric=metric.group(0).strip().rstrip(".,;") if metric else None,
                skills=_skills_in(line, skills),
            )
        )
        if len(claims) == MAX_CLAIMS:
            break
    return claims


def _logical_lines(cv_text: str) -> list[tuple[bool, str]]:
    """The CV's lines with wrapped ones joined: (starts with a bullet, text without the bullet).

    A line continues the one before when it is indented, starts in lower case, or follows a line
    that did not end a sentence (how PDF and Markdown text wrap a long bullet).
    """
    lines: list[tuple[bool, str]] = []
    for raw in cv_text.splitlines():
        if not raw.strip():
            lines.append((False, ""))
            continue
        bullet = bool(_BULLET.match(raw))
        text = _BULLET.sub("", raw).strip()
        if not bullet and lines and lines[-1][1] and not text.startswith("#"):
            previous_bullet, previous = lines[-1]
            wraps = (
                raw[:1].isspace()
                or text[:1].islower()
                or not previous.rstrip().endswith((".", ":", ";", "!", "?"))
            )
            if wraps and not previous.startswith("#"):
                lines[-1] = (previous_bullet, f"{previous} {text}")
                continue
        lines.append((bullet, text))
    return [(bullet, text) for bullet, text in lines if text]


def _clean(line: str) -> str:
    line = re.sub(r"[*_`]{1,3}", "", line).strip()
    return re.sub(r"\s+", " ", line)


def _is_achievement(line: str, bullet: bool) -> bool:
    if not line or len(line) > _MAX_CHARS or line.startswith("#"):
        return False
    if _NOT_ACHIEVEMENT.search(line):
        return False
    if _YEAR.search(line) and len(words(line)) <= _DATED_HEADING_WORDS:
        return False
    if is_korean(line):
        return bullet and bool(_KOREAN_ACTION.search(line))
    tokens = words(line)
    if len(tokens) < _MIN_WORDS or (not bullet and len(tokens) < 8):
        return False
    # "Led the…", or after a label: "Lumen Metrics (2021-2025): built the…".
    lead = words(line.split(":", 1)[1]) if ":" in line[:60] else tokens
    first = (lead or tokens)[0]
    acted = first in ACTION_VERBS or (first.endswith("ed") and len(first) > 4)
    acted = acted or any(t in ("i", "we") for t in tokens[:2])
    return acted or (bullet and _METRIC.search(line) is not None)


def _declared_skills(cv_text: str) -> set[str]:
    """Terms listed under a Skills heading (or on a "Skills:" line), lower-case."""
    found: set[str] = set()
    lines = cv_text.splitlines()
    for index, line in enumerate(lines):
        if not _SKILLS_HEADING.match(line):
            continue
        block = [line.split(":", 1)[1]] if ":" in line else []
        for following in lines[index + 1 : index + 8]:
            if not following.strip() or following.lstrip().startswith("#"):
                break
            block.append(following.split(":", 1)[-1])
        for part in re.split(r"[,;|/•·]", " ".join(block)):
            term = part.strip(" -*\t").lower()
            if 1 < len(term) <= 30:
                found.add(term)
    return found


def _skills_in(line: str, declared: Iterable[str]) -> tuple[str, ...]:
    lowered = line.lower()
    tokens = set(words(line))
    hits = [term for term in declared if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", lowered)]
    hits += [term for term in sorted(TECH_TERMS & tokens) if term not in hits]
    return tuple(dict.fromkeys(hits))[:8]


def best_claim(claims: Sequence[Claim], topic: str, used: Iterable[str] = ()) -> Claim | None:
    """The unused claim that shares most meaningful words with ``topic`` (a question and its points).

    None if no claim shares any: then the question is asked without an anchor rather than
    tied to a line it has nothing to do with.
    """
    topic_stems = _topic_stems(topic)
    taken = set(used)
    best: tuple[float, Claim] | None = None
    for claim in claims:
        if claim.id in taken:
            continue
        overlap = len(content_stems(claim.line) & topic_stems)
        if overlap == 0:
            continue
        rank = overlap + (0.5 if claim.metric else 0.0)
        if best is None or rank > best[0]:
            best = (rank, claim)
    return best[1] if best else None


@functools.lru_cache(maxsize=1024)
def _topic_stems(topic: str) -> frozenset[str]:
    # A topic is a pack's question with its points, read again for every session and move; often
    # longer than the texts content_stems keeps by itself.
    return content_stems(topic)


def anchor_for(pack: Pack, question_index: int, claims: Sequence[Claim], used: Iterable[str]) -> str | None:
    """The claim a ``personalise`` question is anchored on (its id), or None."""
    if question_index >= len(pack.questions):
        return None
    question = pack.questions[question_index]
    if not question.personalise or not claims:
        return None
    topic = " ".join(
        (question.question, *question.points, *(s for p in question.assessment for s in p.signals))
    )
    claim = best_claim(claims, topic, used)
    return claim.id if claim is not None else None


def confirmed(analysis: Analysis, claims: Sequence[Claim]) -> bool:
    """Whether the analysis confirmed (or contradicted: then it was discussed) every one of ``claims``."""
    touched = {finding.claim_id for finding in analysis.claims}
    return all(claim.id in touched for claim in claims)
