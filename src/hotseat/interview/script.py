"""The words of the next interviewer turn, from its plan: what is asked verbatim, and what the
model may add around it.

The plan is data (which question, which point, which claim); this renders it. In the guided
style the model writes only a one-sentence bridge (``bridge``) and the planned words follow as
written; in the free style the model phrases the whole turn with the planned words as its brief.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotseat.interview.analysis.claims import Claim
from hotseat.interview.flow import TurnPlan
from hotseat.interview.packs import Pack
from hotseat.interview.wording import acknowledgement, wording


@dataclass(frozen=True, slots=True)
class TurnScript:
    # The words that matter, asked as written (a pack question, an authored probe, a CV line).
    planned: str
    # What the model's one-sentence bridge should do; None: no bridge (a redirect, the report).
    bridge_task: str | None
    # The authored bridge used when the model's is dropped ("" for none).
    fallback: str
    # For the free style: what this turn must achieve, in a sentence.
    brief: str


def script_for(
    plan: TurnPlan,
    pack: Pack,
    claims: Mapping[str, Claim],
    *,
    language: str,
    turn_number: int,
    summary: str = "",
) -> TurnScript:
    words = wording(language)
    acknowledge: str | None = "Acknowledge what the candidate just said, warmly and briefly."
    ack = acknowledgement(language, turn_number)
    if plan.reason in ("off_topic", "declined") and plan.kind in ("question", "closing"):
        # Moving on from an answer that was off topic or declined: no thanks for it, and no model
        # bridge (even a good model tends to praise whatever came before).
        acknowledge, ack = None, words.move_on
    elif plan.reason is not None:
        # A follow-up to such an answer, or any turn after a thin one: heard, not praised
        # ("Thanks for walking me through that" after "we did some stuff" rang false).
        acknowledge = "Acknowledge the answer in a few neutral words, without praising or judging it."
        ack = acknowledgement(language, turn_number, neutral=True)
    if plan.kind == "report":
        return TurnScript(summary, None, "", "Summarise the interview for the candidate.")
    if plan.kind == "closing":
        return TurnScript(words.closing, acknowledge, ack, "Close the interview; ask nothing more.")
    assert plan.question_index is not None
    question = pack.questions[plan.question_index]
    anchor = claims.get(plan.claim_id) if plan.claim_id else None
    anchored = f"{words.anchor.format(line=anchor.line.rstrip('.'))} " if anchor is not None else ""
    if plan.kind == "opening":
        greeting = words.greeting.format(title=pack.title, count=len(pack.questions))
        return TurnScript(
            f"{anchored}{question.question}",
            None,
            greeting,
            "Greet the candidate, say what the interview covers, and ask the first question.",
        )
    if plan.kind == "question":
        return TurnScript(
            f"{words.next_question} {anchored}{question.question}",
            acknowledge,
            ack,
            "Acknowledge the last answer without judging it, then ask the next question.",
        )
    if plan.move == "redirect":
        if plan.reason == "thin":
            return TurnScript(
                words.probe_generic, None, ack, "Ask the candidate to make the answer concrete."
            )
        text = (
            words.redirect_declined
            if plan.reason == "declined"
            else words.redirect_off_topic.format(question=question.question)
        )
        return TurnScript(text, None, "", "Bring the candidate back to the question, kindly.")
    if plan.move == "probe_claim" and anchor is not None:
        return TurnScript(
            words.probe_claim.format(line=anchor.line.rstrip(".")),
            acknowledge,
            ack,
            "Ask about the quoted CV line: what the candidate did themselves, and how they knew it worked.",
        )
    point = question.assessment[plan.point_index] if plan.point_index is not None else None
    probe = point.probe if point is not None and point.probe else words.probe_generic
    return TurnScript(
        probe,
        acknowledge,
        ack,
        "Ask one follow-up that draws out what the answer left out, without giving the answer away.",
    )
