"""Chat messages for each interviewer turn.

The system message is the pack's prompt, then the candidate's CV and job
description fenced off as data. The transcript follows as alternating assistant
(interviewer) and user (candidate) messages, and the last user message ends
with what this turn must do (where small local models heed it best).
The CV, the job description and the answers are untrusted: they are quoted
inside fences that they cannot close, and the instructions, which always come
first, say to treat fenced text as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hotseat.interview.fencing import DATA_NOT_INSTRUCTIONS, fence
from hotseat.interview.flow import TurnPlan
from hotseat.interview.packs import Pack, language_name
from hotseat.interview.script import TurnScript
from hotseat.llm.base import ChatMessage

TASK_LABEL = "(Interviewer's task for this message:"


@dataclass(frozen=True, slots=True)
class PastTurn:
    role: str  # interviewer | candidate
    kind: str
    text: str


def candidate_material(cv_text: str | None, job_description: str | None) -> list[str]:
    """The CV and job description as fenced sections of a system message."""
    sections = [DATA_NOT_INSTRUCTIONS]
    if cv_text:
        sections.append("The candidate's CV:\n" + fence("CV", cv_text))
    if job_description:
        sections.append("The job they are preparing for:\n" + fence("JOB", job_description))
    return sections


def _task(plan: TurnPlan, script: TurnScript) -> str:
    """What this turn must do, for a model that phrases the whole turn (the free style)."""
    if plan.kind == "report":
        return (
            "The interview is over. Rewrite this summary of it for the candidate in Markdown, in your "
            "own words, keeping every point and quote; add nothing that is not in it:\n" + script.planned
        )
    return (
        f"{script.brief} Keep it to two or three spoken sentences. What to ask, in your own words "
        f"(keep its meaning; quote CV lines as written): {script.planned}"
    )


def build_messages(
    pack: Pack,
    plan: TurnPlan,
    transcript: Sequence[PastTurn],
    script: TurnScript,
    *,
    language: str,
    cv_text: str | None = None,
    job_description: str | None = None,
) -> list[ChatMessage]:
    question = pack.questions[plan.question_index] if plan.question_index is not None else None
    sections = [pack.render_system_prompt(question)]
    sections.extend(candidate_material(cv_text, job_description))
    sections.append(
        f"Speak {language_name(language)} only. Ask one question at a time; never answer for the candidate."
    )
    messages = [ChatMessage("system", "\n\n".join(sections))]
    for turn in transcript:
        if turn.role == "candidate":
            text = (
                "(The candidate skipped this question.)"
                if turn.kind == "skip"
                else fence("ANSWER", turn.text)
            )
            messages.append(ChatMessage("user", text))
        elif turn.text:
            messages.append(ChatMessage("assistant", turn.text))
    # The task goes last, where even a small model heeds it, and outside any fence.
    task = f"{TASK_LABEL} {_task(plan, script)})"
    if messages[-1].role == "user":
        messages[-1] = ChatMessage("user", f"{messages[-1].content}\n\n{task}")
    else:
        messages.append(ChatMessage("user", task))
    return messages
