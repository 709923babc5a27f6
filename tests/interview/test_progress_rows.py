"""build_progress: rows per (question, point) across reports, oldest first, with the change."""

from __future__ import annotations

from typing import Any

from hotseat.interview.progress import build_progress


def report(
    session_id: str, day: str, questions: dict[int, list[tuple[str, str, int]] | None]
) -> dict[str, Any]:
    """A report with the given questions: point text, verdict and score each, or None when not scored."""
    built = []
    for index, points in questions.items():
        if points is None:
            built.append({"index": index, "question": f"Q{index}", "assessment": {"status": "skipped"}})
            continue
        scored = [{"point": p, "verdict": v, "score": s} for p, v, s in points]
        average = sum(s for _, _, s in points) / len(points)
        built.append(
            {
                "index": index,
                "question": f"Q{index}",
                "assessment": {"status": "complete", "average": average, "points": scored},
            }
        )
    return {"session_id": session_id, "created_at": f"2026-12-0{day}T10:00:00+00:00", "questions": built}


def test_nothing_earlier_gives_empty_lists() -> None:
    """A first interview of a pack has an empty progress section."""
    assert build_progress(report("a", "1", {0: [("p", "partial", 2)]}), []) == {"earlier": [], "points": []}


def test_rows_follow_each_point_and_skip_unscored_interviews() -> None:
    """A point skipped in the middle interview keeps two scores; an edited point starts a new row."""
    first = report("a", "1", {0: [("explains", "not_shown", 1)], 1: [("old wording", "partial", 2)]})
    middle = report("b", "2", {0: None, 1: [("new wording", "partial", 3)]})
    current = report(
        "c", "3", {0: [("explains", "demonstrated", 5)], 1: [("new wording", "demonstrated", 4)]}
    )
    progress = build_progress(current, [first, middle])
    assert [(e["session_id"], e["average"]) for e in progress["earlier"]] == [("a", 1.5), ("b", 3.0)]
    rows = [
        (r["question_index"], r["point"], [s["session_id"] for s in r["scores"]], r["change"])
        for r in progress["points"]
    ]
    assert rows == [
        (0, "explains", ["a", "c"], 4),
        (1, "old wording", ["a"], None),
        (1, "new wording", ["b", "c"], 1),
    ]
