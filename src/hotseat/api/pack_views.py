"""What the API shows of a pack: the list entry and the detail, never the system prompt."""

from __future__ import annotations

from typing import Any

from hotseat.interview.packs import Pack


def pack_summary(pack: Pack) -> dict[str, Any]:
    """What ``GET /api/packs`` lists for the candidate to choose from."""
    return {
        "id": pack.id,
        "title": pack.title,
        "description": pack.description,
        "language": pack.language,
        "question_count": len(pack.questions),
    }


def pack_detail(pack: Pack) -> dict[str, Any]:
    """What ``GET /api/packs/{id}`` shows: everything but the system prompt.

    Questions and assessment points are public on purpose: candidates practise
    with them. The system prompt is the operator's and stays on the server.
    """
    return {
        **pack_summary(pack),
        "followups": {"max_per_question": pack.followups.max_per_question},
        "questions": [
            {
                "id": question.id,
                "question": question.question,
                "personalise": question.personalise,
                "assessment": list(question.points),
            }
            for question in pack.questions
        ],
    }
