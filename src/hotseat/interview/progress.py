"""Progress: an owner's finished interviews of the same pack, compared per assessment point.

The report's ``progress`` section names the earlier sessions (oldest first, at most
``MAX_EARLIER``) and, for each assessment point scored in any of them or in this one, the
verdict and score each time it was scored, and the change from the first to the last. A point is
the same point when its question index and its text are the same (a pack edited in between
starts a new row). Earlier reports are built from what is stored, like the report itself, but
without their CVs: progress compares scores, not claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hotseat.interview.packs import PackRegistry
from hotseat.interview.report import build_report
from hotseat.store.models import SessionRow
from hotseat.store.repo import Store

MAX_EARLIER = 10


async def earlier_reports(store: Store, packs: PackRegistry, session: SessionRow) -> list[dict[str, Any]]:
    """The reports of the owner's finished interviews of this pack started before ``session``.

    Three queries whatever their number: the report page reads the report every 2 s while an
    answer is still being scored."""
    earlier = await store.finished_sessions(
        session.owner_id, session.pack_id, session.created_at, MAX_EARLIER
    )
    if not earlier:
        return []
    ids = [row.id for row in earlier]
    turns, assessments = await store.turns_of(ids), await store.assessments_of(ids)
    pack = packs.get(session.pack_id)
    return [
        build_report(
            session_id=row.id,
            session_status=row.status,
            language=row.language,
            created_at=row.created_at.isoformat(),
            pack=pack,
            turns=turns.get(row.id, []),
            assessments=assessments.get(row.id, []),
        )
        for row in reversed(earlier)  # oldest first
    ]


def build_progress(current: dict[str, Any], earlier: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``progress`` section of ``current``'s report; empty lists when there is nothing earlier."""
    if not earlier:
        return {"earlier": [], "points": []}
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for report in [*earlier, current]:
        for question in report["questions"]:
            assessment = question["assessment"]
            if assessment["status"] != "complete":
                continue
            for point in assessment["points"]:
                row = rows.setdefault(
                    (question["index"], point["point"]),
                    {
                        "question_index": question["index"],
                        "question": question["question"],
                        "point": point["point"],
                        "scores": [],
                    },
                )
                row["scores"].append(
                    {
                        "session_id": report["session_id"],
                        "created_at": report["created_at"],
                        "verdict": point["verdict"],
                        "score": point["score"],
                    }
                )
    points = sorted(rows.values(), key=lambda row: row["question_index"])  # stable: pack order within
    for row in points:
        scores = row["scores"]
        row["change"] = scores[-1]["score"] - scores[0]["score"] if len(scores) > 1 else None
    return {
        "earlier": [
            {"session_id": r["session_id"], "created_at": r["created_at"], "average": average(r)}
            for r in earlier
        ],
        "points": points,
    }


def average(report: dict[str, Any]) -> float | None:
    """The mean of the scored questions' averages, as the report page's overview shows it."""
    scored = [
        q["assessment"]["average"] for q in report["questions"] if q["assessment"]["status"] == "complete"
    ]
    return round(sum(scored) / len(scored), 2) if scored else None
