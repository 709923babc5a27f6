"""Scoring an answer against the question's assessment points, as validated JSON.

The model is asked for one entry per assessment point (score 1-5, a short
justification, a quote from the answer as evidence, and the CV line it
concerns) plus one concrete suggestion, under a JSON schema that the backend
enforces where it can. The output is then checked here, whatever the backend
promised: pydantic validation, the right number of points, and evidence that
really is quoted from the answer (a quote that is not is dropped, never shown
as evidence). Invalid output is retried once; then the answer is recorded as
"not assessed" with the reason, and the interview carries on.

A model that is momentarily full (a local model's queue: ``busy``; a server's
rate limit; a server that cannot be reached) is waited for, with back-off, for
about a minute before that counts as a failed attempt: an assessment is
background work, and a burst of answers must not turn into "not assessed".
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotseat.errors import Busy, HotseatError, UpstreamRateLimited, UpstreamUnavailable
from hotseat.interview.packs import Pack, language_name
from hotseat.interview.prompts import candidate_material, fence
from hotseat.llm.base import Backend, ChatMessage, GenerationParams

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
# Waits before asking a momentarily full model again (seconds; about a minute in all).
TRANSIENT_WAITS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
_TRANSIENT = (Busy, UpstreamRateLimited, UpstreamUnavailable)
_LONGEST_WAIT = 60.0  # even if the server's retry-after asks for longer


class PointOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    score: int = Field(ge=1, le=5)
    justification: str = Field(max_length=1000)
    evidence: str = Field(default="", max_length=1000)
    cv_line: str = Field(default="", max_length=1000)


class AssessmentOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    points: list[PointOutput]
    suggestion: str = Field(max_length=2000)


def assessment_schema(point_count: int) -> dict[str, Any]:
    """The JSON schema the model must follow: exactly one entry per assessment point."""
    point = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "justification": {"type": "string", "maxLength": 200},
            "evidence": {"type": "string", "maxLength": 200},
            "cv_line": {"type": "string", "maxLength": 120},
        },
        "required": ["score", "justification", "evidence", "cv_line"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "points": {"type": "array", "items": point, "minItems": point_count, "maxItems": point_count},
            "suggestion": {"type": "string", "maxLength": 300},
        },
        "required": ["points", "suggestion"],
        "additionalProperties": False,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    turn_id: str
    text: str


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    status: Literal["complete", "not_assessed"]
    result: dict[str, Any] | None
    reason: str | None


def build_assessment_messages(
    pack: Pack,
    question_index: int,
    answers: Sequence[Answer],
    *,
    language: str,
    cv_text: str | None,
    job_description: str | None,
) -> list[ChatMessage]:
    question = pack.questions[question_index]
    points = "\n".join(f"{i}. {point}" for i, point in enumerate(question.assessment, 1))
    system = "\n\n".join(
        [
            "You are an experienced interviewer assessing one answer from a mock interview. "
            "Score each assessment point from 1 (not shown at all) to 5 (shown convincingly, with "
            "specifics). Base every score only on what the candidate actually said; a claim without "
            "specifics scores low. Quote the evidence word for word from the answer (empty if none), "
            "and name the CV line the answer concerns (empty if none).",
            *candidate_material(cv_text, job_description),
            f"The question: {question.question}",
            f"The assessment points, in order:\n{points}",
            f"Reply with JSON only: {len(question.assessment)} entries in `points`, in the order "
            f"above, and one concrete `suggestion` for a better answer, written in "
            f"{language_name(language)}.",
        ]
    )
    answer_text = "\n\n".join(a.text for a in answers)
    return [ChatMessage("system", system), ChatMessage("user", fence("ANSWER", answer_text))]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("\"'“”‘’").strip().casefold()


def verify(
    output: AssessmentOutput, pack: Pack, question_index: int, answers: Sequence[Answer], cv_text: str | None
) -> dict[str, Any]:
    """Check the output against the question and the answers; drop unverifiable quotes."""
    question = pack.questions[question_index]
    if len(output.points) != len(question.assessment):
        raise ValueError(f"expected {len(question.assessment)} points, got {len(output.points)}")
    normalised_answers = [(a.turn_id, _normalise(a.text)) for a in answers]
    normalised_cv = _normalise(cv_text or "")
    points = []
    for point_text, scored in zip(question.assessment, output.points, strict=True):
        quote = _normalise(scored.evidence)
        evidence_turn = next((tid for tid, text in normalised_answers if quote and quote in text), None)
        cv_quote = _normalise(scored.cv_line)
        points.append(
            {
                "point": point_text,
                "score": scored.score,
                "justification": scored.justification.strip(),
                "evidence": scored.evidence.strip() if evidence_turn else None,
                "evidence_turn_id": evidence_turn,
                "cv_line": scored.cv_line.strip() if cv_quote and cv_quote in normalised_cv else None,
            }
        )
    return {"points": points, "suggestion": output.suggestion.strip()}


async def assess(
    backend: Backend,
    params: GenerationParams,
    pack: Pack,
    question_index: int,
    answers: Sequence[Answer],
    *,
    language: str,
    cv_text: str | None,
    job_description: str | None,
) -> AssessmentResult:
    """Score the answers to one question; never raises for bad model output."""
    messages = build_assessment_messages(
        pack, question_index, answers, language=language, cv_text=cv_text, job_description=job_description
    )
    schema = assessment_schema(len(pack.questions[question_index].assessment))
    structured = GenerationParams(
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        json_schema=schema,
        schema_name="assessment",
    )
    reason = "no attempt made"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            raw = await _generate(backend, messages, structured)
        except HotseatError as exc:
            reason = f"the model could not be reached ({exc.code}): {exc.message}"
            continue
        try:
            output = AssessmentOutput.model_validate(orjson.loads(raw))
            return AssessmentResult("complete", verify(output, pack, question_index, answers, cv_text), None)
        except (orjson.JSONDecodeError, ValidationError, ValueError) as exc:
            reason = f"the model's assessment was not valid ({_short(exc)})"
            logger.info("assessment attempt %d invalid: %s", attempt, reason)
    return AssessmentResult("not_assessed", None, reason)


async def _generate(backend: Backend, messages: Sequence[ChatMessage], params: GenerationParams) -> str:
    """The model's whole reply; waits out a model that is momentarily full (``TRANSIENT_WAITS``)."""
    waits = iter(TRANSIENT_WAITS)
    while True:
        try:
            return "".join([item async for item in backend.stream(messages, params) if isinstance(item, str)])
        except _TRANSIENT as exc:
            wait = next(waits, None)
            if wait is None:
                raise
            delay = min(_LONGEST_WAIT, max(wait, exc.retry_after or 0.0))
            logger.info("assessment waits %.0f s for the model (%s)", delay, exc.code)
            await asyncio.sleep(delay)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0][:200]
