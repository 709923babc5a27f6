"""The structured report of an interview, and its Markdown and JSON exports.

Built from what is stored, never from a model's say-so: per pack question, the
interviewer turns that asked it, the candidate's answers, and the newest
assessment of those answers (scores per assessment point, evidence linking to
the answer turn it was quoted from, a suggestion). Strengths and priorities are
derived from the scores, so they always agree with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hotseat.interview.packs import Pack

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
) -> dict[str, Any]:
    latest: dict[int, AssessmentLike] = {}
    for assessment in assessments:
        latest[assessment.question_index] = assessment
    questions: list[dict[str, Any]] = []
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
        questions.append(
            {
                "index": index,
                "question": question.question,
                "assessment_points": list(question.assessment),
                "asked": asked,
                "answers": answers,
                "skipped": skipped,
                "assessment": _assessment(latest.get(index), answered=bool(answers), skipped=skipped),
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
        "summary": summary,
    }


def _assessment(row: AssessmentLike | None, *, answered: bool, skipped: bool) -> dict[str, Any]:
    if row is None:
        if skipped and not answered:
            return {"status": "skipped", "reason": "The candidate skipped this question."}
        if not answered:
            return {"status": "not_answered", "reason": "The interview ended before this was answered."}
        return {"status": "pending", "reason": "The assessment has not started yet."}
    if row.status == "complete" and row.result is not None:
        points = row.result["points"]
        average = round(sum(p["score"] for p in points) / len(points), 2) if points else None
        return {"status": "complete", "average": average, **row.result}
    if row.status == "pending":
        return {"status": "pending", "reason": "The answer is being assessed."}
    return {"status": "not_assessed", "reason": row.reason or "The answer could not be assessed."}


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
                    "score": point["score"],
                    "evidence": point["evidence"],
                    "evidence_turn_id": point["evidence_turn_id"],
                    "suggestion": assessment["suggestion"],
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


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown that reads well on screen and printed."""
    lines = [
        f"# Interview report: {report['pack']['title']}",
        "",
        f"*Session {report['session_id']} · {report['created_at'][:10]} · status: {report['status']}*",
        "",
    ]
    if report["strengths"]:
        lines += ["## Strengths", ""]
        lines += [f"- **{s['point']}** ({s['score']}/5)" for s in report["strengths"]]
        lines.append("")
    if report["priorities"]:
        lines += ["## Priorities", ""]
        lines += [f"- **{p['point']}** ({p['score']}/5): {p['suggestion']}" for p in report["priorities"]]
        lines.append("")
    for question in report["questions"]:
        lines += [f"## Question {question['index'] + 1}", "", f"> {question['question']}", ""]
        for answer in question["answers"]:
            lines += ["**Your answer:**", "", _quote(answer["text"]), ""]
        assessment = question["assessment"]
        if assessment["status"] != "complete":
            lines += [f"*{assessment['reason']}*", ""]
            continue
        lines += ["| Assessment point | Score | Why |", "|---|---|---|"]
        for point in assessment["points"]:
            lines.append(
                f"| {_cell(point['point'])} | {point['score']}/5 | {_cell(point['justification'])} |"
            )
        lines.append("")
        for point in assessment["points"]:
            if point["evidence"]:
                lines.append(f"- Evidence for *{point['point']}*: “{point['evidence']}”")
        lines += ["", f"**Suggestion:** {assessment['suggestion']}", ""]
    if report["summary"] and report["summary"]["text"]:
        lines += ["## Summary", "", report["summary"]["text"].strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())
