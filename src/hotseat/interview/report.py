"""The structured report of an interview, built from what is stored, never from a model's say-so.

Per pack question: the interviewer turns that asked it, the candidate's answers, and the newest
analysis of those answers: per assessment point a verdict, the quotes that support it (each
verified to be the candidate's own words, linked to the answer it came from), and a score the
rubric computes from them (``analysis.rubric``). Then the claim ledger (every achievement line of
the CV and whether it was probed, confirmed, contradicted or never asked), strengths and
priorities derived from the scores, and the summary turn. The Markdown export is in
``report_markdown``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hotseat.interview.analysis.claims import Claim
from hotseat.interview.analysis.model import Analysis
from hotseat.interview.analysis.rubric import effective_verdict, score
from hotseat.interview.packs import Pack, Question
from hotseat.interview.wording import for_candidate

STRENGTH_MIN_SCORE = 4
PRIORITY_MAX_SCORE = 3
TOP = 3


class TurnLike(Protocol):
    id: str
    role: str
    kind: str
    question_index: int | None
    text: str
    status: str


class AssessmentLike(Protocol):
    question_index: int
    answer_turn_id: str
    status: str
    result: dict[str, Any] | None
    reason: str | None


def build_report(
    *,
    session_id: str,
    session_status: str,
    language: str,
    created_at: str,
    pack: Pack,
    turns: Sequence[TurnLike],
    assessments: Sequence[AssessmentLike],
    claims: Sequence[Claim] = (),
    anchors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    latest: dict[int, AssessmentLike] = {}
    for assessment in assessments:
        latest[assessment.question_index] = assessment
    questions: list[dict[str, Any]] = []
    analyses: dict[int, Analysis] = {}
    for index, question in enumerate(pack.questions):
        asked = [
            {"turn_id": t.id, "kind": t.kind, "text": t.text}
            for t in turns
            if t.role == "interviewer" and t.question_index == index and t.kind != "report"
        ]
        if not asked:
            continue
        replies = [t for t in turns if t.role == "candidate" and t.question_index == index]
        answers = [{"turn_id": t.id, "text": t.text} for t in replies if t.kind == "answer"]
        skipped = any(t.kind == "skip" for t in replies)
        row = latest.get(index)
        if row is not None and row.result is not None:
            analyses[index] = Analysis.from_dict(row.result)
        questions.append(
            {
                "index": index,
                "question": question.question,
                "assessment_points": list(question.points),
                "strong_answer_covers": [for_candidate(point) for point in question.points],
                "asked": asked,
                "answers": answers,
                "skipped": skipped,
                "assessment": _assessment(
                    question, row, analyses.get(index), answered=bool(answers), skipped=skipped
                ),
            }
        )
    summary = next(
        (
            {"turn_id": t.id, "text": t.text, "status": t.status}
            for t in reversed(turns)
            if t.kind == "report"
        ),
        None,
    )
    pending = any(q["assessment"]["status"] == "pending" for q in questions)
    return {
        "session_id": session_id,
        "pack": {"id": pack.id, "title": pack.title},
        "language": language,
        "created_at": created_at,
        "status": "in_progress" if session_status != "finished" else ("pending" if pending else "complete"),
        "questions": questions,
        "strengths": _strengths(questions),
        "priorities": _priorities(questions),
        "claims": claim_ledger(claims, anchors or {}, analyses),
        "summary": summary,
    }


def _assessment(
    question: Question,
    row: AssessmentLike | None,
    analysis: Analysis | None,
    *,
    answered: bool,
    skipped: bool,
) -> dict[str, Any]:
    if row is None:
        if skipped and not answered:
            return {"status": "skipped", "reason": "The candidate skipped this question."}
        if not answered:
            return {"status": "not_answered", "reason": "The interview ended before this was answered."}
        return {"status": "pending", "reason": "The assessment has not started yet."}
    if analysis is None or len(analysis.points) != len(question.assessment):
        if row.status == "pending":
            return {"status": "pending", "reason": "The answer is being assessed."}
        return {"status": "not_assessed", "reason": row.reason or "The answer could not be assessed."}
    points: list[dict[str, Any]] = []
    for spec, finding in zip(question.assessment, analysis.points, strict=True):
        quotes = [quote.to_dict() for quote in finding.quotes]
        points.append(
            {
                "point": spec.point,
                "verdict": effective_verdict(finding),
                "score": score(finding),
                "specific": finding.specific,
                "quotes": quotes,
                # The first quote, for readers of the earlier report shape.
                "evidence": quotes[0]["text"] if quotes else None,
                "evidence_turn_id": quotes[0]["turn_id"] if quotes else None,
            }
        )
    weakest = min(points, key=lambda p: p["score"])
    suggestion = (
        f"Next time, also cover this: {for_candidate(weakest['point'])}"
        if weakest["score"] <= PRIORITY_MAX_SCORE
        else "Every point was covered with specifics."
    )
    return {
        "status": "pending" if row.status == "pending" else "complete",
        "analyser": analysis.analyser,
        "average": round(sum(p["score"] for p in points) / len(points), 2),
        "points": points,
        "relevance": analysis.relevance,
        "suggestion": suggestion,
        **({"note": _note(row)} if row.reason else {}),
    }


def _note(row: AssessmentLike) -> str:
    """Why these verdicts are not the model judge's, when they are not."""
    if row.status == "not_assessed":
        return f"the model judge did not finish ({row.reason}); these are the matcher's verdicts"
    return row.reason or ""


def claim_ledger(
    claims: Sequence[Claim], anchors: Mapping[str, str], analyses: Mapping[int, Analysis]
) -> list[dict[str, Any]]:
    """Every CV claim, and what the interview made of it."""
    asked_in = {claim_id: int(index) for index, claim_id in anchors.items()}
    found: dict[str, tuple[str, dict[str, str] | None, int | None]] = {}
    for index, analysis in sorted(analyses.items()):
        for finding in analysis.claims:
            previous = found.get(finding.claim_id)
            # A contradiction anywhere stands; otherwise the first confirmation.
            if previous is None or (finding.state == "contradicted" and previous[0] != "contradicted"):
                quote = finding.quote.to_dict() if finding.quote else None
                found[finding.claim_id] = (finding.state, quote, index)
    ledger = []
    for claim in claims:
        default: tuple[str, dict[str, str] | None, int | None] = ("never_asked", None, asked_in.get(claim.id))
        state, quote, where = found.get(claim.id, default)
        if state == "never_asked" and claim.id in asked_in:
            state = "probed"
        ledger.append({**claim.to_dict(), "state": state, "question_index": where, "quote": quote})
    return ledger


def _scored_points(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scored = []
    for question in questions:
        assessment = question["assessment"]
        if assessment["status"] != "complete":
            continue
        for point in assessment["points"]:
            scored.append(
                {
                    "question_index": question["index"],
                    "point": point["point"],
                    "verdict": point["verdict"],
                    "score": point["score"],
                    "evidence": point["evidence"],
                    "evidence_turn_id": point["evidence_turn_id"],
                    "suggestion": f"Next time, also cover this: {for_candidate(point['point'])}",
                }
            )
    return scored


def _strengths(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    best = sorted(_scored_points(questions), key=lambda p: (-p["score"], p["question_index"]))
    return [
        {k: v for k, v in p.items() if k != "suggestion"} for p in best if p["score"] >= STRENGTH_MIN_SCORE
    ][:TOP]


def _priorities(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    worst = sorted(_scored_points(questions), key=lambda p: (p["score"], p["question_index"]))
    return [p for p in worst if p["score"] <= PRIORITY_MAX_SCORE][:TOP]
