"""The end-of-interview summary, composed from the analyses: what was shown (with the candidate's
own words), what was missing, the top priorities (the weakest points, then the questions not
reached) and the CV lines left unexplored.

Composed, never invented: every line comes from a verdict, a quote or an authored probe. In the
free style the model may rephrase it (its prompt says to add nothing); in the guided style it is
the turn's text as written.
"""

from __future__ import annotations

from typing import Any

from hotseat.interview.packs import Pack
from hotseat.interview.wording import for_candidate, wording

MAX_SHOWN = 4
MAX_MISSING = 4
MAX_PRIORITIES = 3
MAX_CLAIMS = 3
_QUOTE_CHARS = 160


def compose_summary(report: dict[str, Any], pack: Pack, language: str) -> str:
    words = wording(language)
    shown: list[str] = []
    missing: list[str] = []
    weakest: list[tuple[int, int, str]] = []
    # The report lists the questions that were asked; the rest of the pack was never reached.
    asked = {question["index"]: question for question in report["questions"]}
    unreached = [
        spec.question
        for index, spec in enumerate(pack.questions)
        if index not in asked or asked[index]["assessment"].get("status") == "not_answered"
    ]
    for question in report["questions"]:
        assessment = question["assessment"]
        spec = pack.questions[question["index"]]
        if "points" not in assessment:
            continue
        for position, point in enumerate(assessment["points"]):
            if point["verdict"] == "demonstrated" and point["evidence"]:
                shown.append(f"- {point['point']} “{_short(point['evidence'])}”")
            elif point["verdict"] in ("not_shown", "contradicted"):
                missing.append(f"- {for_candidate(point['point'])}")
            probe = spec.assessment[position].probe
            if point["score"] <= 2 and probe:
                weakest.append((point["score"], question["index"], probe))
    lines = [f"**{words.shown_heading}**", ""]
    lines += shown[:MAX_SHOWN] or [f"- {words.nothing_shown}"]
    if missing:
        lines += ["", f"**{words.missing_heading}**", "", *missing[:MAX_MISSING]]
    # The weakest points' probes first; then the questions the interview did not reach.
    weakest.sort()
    chosen = list(dict.fromkeys([*(probe for _, _, probe in weakest), *unreached]))[:MAX_PRIORITIES]
    if chosen:
        lines += ["", f"**{words.priorities_heading}**", ""]
        lines += [f"{n}. {words.practise.format(probe=probe)}" for n, probe in enumerate(chosen, 1)]
    notes = [
        words.claim_contradicted.format(line=_short(claim["line"]))
        for claim in report.get("claims", [])
        if claim["state"] == "contradicted"
    ]
    notes += [
        words.claim_never_asked.format(line=_short(claim["line"]))
        for claim in report.get("claims", [])
        if claim["state"] == "never_asked"
    ]
    if notes:
        lines += ["", f"**{words.claims_heading}**", "", *(f"- {note}" for note in notes[:MAX_CLAIMS])]
    return "\n".join(lines)


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _QUOTE_CHARS:
        return text
    return text[:_QUOTE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
