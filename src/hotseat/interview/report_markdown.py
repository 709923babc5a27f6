"""The report as Markdown that reads well on screen and printed (``export?format=md``)."""

from __future__ import annotations

from typing import Any

VERDICT_LABELS = {
    "demonstrated": "shown",
    "partial": "partly shown",
    "not_shown": "not shown",
    "contradicted": "contradicted",
}
CLAIM_LABELS = {
    "confirmed": "confirmed",
    "contradicted": "contradicted",
    "probed": "asked, not confirmed",
    "never_asked": "never asked",
}


def report_markdown(report: dict[str, Any]) -> str:
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
        lines += [f"- **{p['point']}** ({p['score']}/5)" for p in report["priorities"]]
        lines.append("")
    lines += _progress(report)
    for question in report["questions"]:
        lines += [f"## Question {question['index'] + 1}", "", f"> {question['question']}", ""]
        for answer in question["answers"]:
            lines += ["**Your answer:**", "", _quote(answer["text"]), ""]
        assessment = question["assessment"]
        if assessment["status"] not in ("complete", "pending") or "points" not in assessment:
            lines += [f"*{assessment['reason']}*", ""]
            continue
        lines += ["| Assessment point | Verdict | Score | Your words |", "|---|---|---|---|"]
        for point in assessment["points"]:
            quote = f"“{point['evidence']}”" if point["evidence"] else ""
            lines.append(
                f"| {_cell(point['point'])} | {VERDICT_LABELS[point['verdict']]} | {point['score']}/5 "
                f"| {_cell(quote)} |"
            )
        lines += ["", f"**Suggestion:** {assessment['suggestion']}", ""]
        if assessment.get("note"):
            lines += [f"*Note: {assessment['note']}.*", ""]
    if report.get("claims"):
        lines += ["## Your CV, claim by claim", "", "| CV line | What happened |", "|---|---|"]
        for claim in report["claims"]:
            lines.append(f"| {_cell(claim['line'])} | {CLAIM_LABELS[claim['state']]} |")
        lines.append("")
    if report["summary"] and report["summary"]["text"]:
        lines += ["## Summary", "", report["summary"]["text"].strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _progress(report: dict[str, Any]) -> list[str]:
    """Per assessment point, its score and verdict in each earlier interview of the pack and this one."""
    progress = report.get("progress") or {}
    earlier = progress.get("earlier") or []
    if not earlier or not progress.get("points"):
        return []
    columns = [(e["session_id"], f"{e['created_at'][:10]} ({e['session_id'][:6]})") for e in earlier]
    columns.append((report["session_id"], "This interview"))
    lines = [
        "## Progress",
        "",
        f"*Compared with {len(earlier)} earlier interview{'s' if len(earlier) > 1 else ''} of this pack: "
        + ", ".join(f"session {e['session_id']} ({e['created_at'][:10]})" for e in earlier)
        + ".*",
        "",
        "| Question | Assessment point | " + " | ".join(label for _, label in columns) + " | Change |",
        "|---" * (len(columns) + 3) + "|",
    ]
    for point in progress["points"]:
        by_session = {entry["session_id"]: entry for entry in point["scores"]}
        cells = [
            f"{by_session[sid]['score']}/5 {VERDICT_LABELS[by_session[sid]['verdict']]}"
            if sid in by_session
            else "–"
            for sid, _ in columns
        ]
        change = "–" if point["change"] is None else f"{point['change']:+d}"
        lines.append(
            f"| {point['question_index'] + 1} | {_cell(point['point'])} | "
            + " | ".join(cells)
            + f" | {change} |"
        )
    return [*lines, ""]


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())
