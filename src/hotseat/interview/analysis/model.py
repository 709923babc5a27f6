"""What an analysis of the answers to one question says, whichever analyser wrote it.

Both analysers (the matcher and the model judge) produce an ``Analysis``: per assessment point a
verdict and verbatim quotes from the answers, per CV claim the answers touched a state, and
whether the answers addressed the question at all. Scores are not part of it: ``rubric`` computes
them from the verdicts and the quotes, in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

Verdict = Literal["demonstrated", "partial", "not_shown", "contradicted"]
ClaimState = Literal["probed", "confirmed", "contradicted"]
Relevance = Literal["on_topic", "off_topic", "unsure"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
# Worst first: the order in which missing points are probed.
VERDICT_RANK: dict[Verdict, int] = {"contradicted": 0, "not_shown": 0, "partial": 1, "demonstrated": 2}


@dataclass(frozen=True, slots=True)
class Quote:
    """Words from one answer, exactly as the candidate wrote or said them."""

    text: str
    turn_id: str

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "turn_id": self.turn_id}


@dataclass(frozen=True, slots=True)
class PointFinding:
    verdict: Verdict
    quotes: tuple[Quote, ...] = ()
    # Whether the quoted evidence is concrete (numbers, named technology, first-person actions, outcomes).
    specific: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "quotes": [quote.to_dict() for quote in self.quotes],
            "specific": self.specific,
        }


@dataclass(frozen=True, slots=True)
class ClaimFinding:
    claim_id: str
    state: ClaimState
    quote: Quote | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "state": self.state,
            "quote": self.quote.to_dict() if self.quote else None,
        }


@dataclass(frozen=True, slots=True)
class Analysis:
    """The analysis of every answer given so far to one question."""

    analyser: str  # "matcher" or "judge"
    points: tuple[PointFinding, ...]
    claims: tuple[ClaimFinding, ...] = ()
    relevance: Relevance = "on_topic"
    # The candidate said they do not know (or would rather not say).
    declined: bool = False
    notes: tuple[str, ...] = field(default=())
    # The latest answer names something concrete: a number, a technology or an action of the
    # speaker's (not so: "I think it went fine, we did some stuff"). The matcher's; a judge leaves it.
    concrete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "analyser": self.analyser,
            "points": [point.to_dict() for point in self.points],
            "claims": [claim.to_dict() for claim in self.claims],
            "relevance": self.relevance,
            "declined": self.declined,
            "notes": list(self.notes),
            "concrete": self.concrete,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        def quote(raw: dict[str, Any] | None) -> Quote | None:
            return Quote(str(raw["text"]), str(raw["turn_id"])) if raw else None

        points = tuple(
            PointFinding(
                _verdict(raw["verdict"]),
                tuple(q for q in (quote(item) for item in raw.get("quotes", [])) if q is not None),
                bool(raw.get("specific", False)),
            )
            for raw in data.get("points", [])
        )
        claims = tuple(
            ClaimFinding(str(raw["claim_id"]), cast(ClaimState, raw["state"]), quote(raw.get("quote")))
            for raw in data.get("claims", [])
        )
        return cls(
            analyser=str(data.get("analyser", "matcher")),
            points=points,
            claims=claims,
            relevance=cast(Relevance, data.get("relevance", "on_topic")),
            declined=bool(data.get("declined", False)),
            notes=tuple(data.get("notes", [])),
            concrete=bool(data.get("concrete", True)),
        )


def _verdict(value: object) -> Verdict:
    # mypy narrows ``value`` to a Verdict by the membership test.
    return value if value in VERDICTS else "not_shown"
