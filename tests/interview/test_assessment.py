"""Assessment: schema-constrained, validated, evidence verified, retried once, never fatal."""

from __future__ import annotations

import json

from hotseat.errors import UpstreamError
from hotseat.interview.assessment import Answer, assess, assessment_schema
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry
from hotseat.llm.base import GenerationParams
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply

PACK = PackRegistry.load([BUILTIN_PACKS_DIR]).get("backend-engineer")
QUESTION = PACK.questions[0]
ANSWERS = [
    Answer("t1", "I designed the orders API. We versioned it in the URL."),
    Answer("t2", "Latency dropped from 900 ms to 120 ms after we added a cache."),
]
CV = "2019-2023 Senior engineer, Acme: built the orders API used by 40 teams."


def output(scores: list[int], evidence: list[str], suggestion: str = "Quantify the impact.") -> str:
    return json.dumps(
        {
            "points": [
                {
                    "score": s,
                    "justification": f"because {i}",
                    "evidence": e,
                    "cv_line": "built the orders API",
                }
                for i, (s, e) in enumerate(zip(scores, evidence, strict=True))
            ],
            "suggestion": suggestion,
        }
    )


async def run(backend: ScriptedBackend) -> tuple[str, dict[str, object] | None, str | None]:
    result = await assess(
        backend, GenerationParams(), PACK, 0, ANSWERS, language="en", cv_text=CV, job_description=None
    )
    return result.status, result.result, result.reason


async def test_valid_output_is_kept_with_verified_evidence() -> None:
    """Scores per point are kept; quotes found in an answer link to that answer's turn id."""
    n = len(QUESTION.assessment)
    evidence = ["we added a cache", "I made this up entirely", *[""] * (n - 2)]
    backend = ScriptedBackend()
    backend.enqueue_structured(output([4, 2, *[3] * (n - 2)], evidence))
    status, result, reason = await run(backend)
    assert status == "complete" and reason is None
    assert result is not None
    points = result["points"]
    assert isinstance(points, list)
    assert [p["point"] for p in points] == list(QUESTION.assessment)
    assert points[0]["evidence"] == "we added a cache"
    assert points[0]["evidence_turn_id"] == "t2"
    assert points[1]["evidence"] is None  # not quoted from any answer: dropped, never shown
    assert points[0]["cv_line"] == "built the orders API"
    assert result["suggestion"] == "Quantify the impact."
    params = backend.calls[0][1]
    assert params.json_schema == assessment_schema(n)


async def test_invalid_output_is_retried_once() -> None:
    """Bad JSON on the first attempt, valid on the second: the assessment completes."""
    n = len(QUESTION.assessment)
    backend = ScriptedBackend()
    backend.enqueue_structured("{not json", output([3] * n, [""] * n))
    status, _, _ = await run(backend)
    assert status == "complete"
    assert len(backend.calls) == 2


async def test_twice_invalid_is_not_assessed_with_a_reason() -> None:
    """Wrong shape twice (a score of 9, too few points): recorded as not assessed, with why."""
    n = len(QUESTION.assessment)
    backend = ScriptedBackend()
    backend.enqueue_structured(output([9] * n, [""] * n), output([3], [""]))
    status, result, reason = await run(backend)
    assert status == "not_assessed"
    assert result is None
    assert reason is not None and "not valid" in reason


async def test_upstream_failure_is_not_assessed_not_an_exception() -> None:
    """A model that cannot be reached leaves the answer not assessed, naming the error code."""
    backend = ScriptedBackend()
    failing = ScriptedReply("x", error=UpstreamError("down"), fail_after=0)
    backend.enqueue_structured(failing, failing)
    status, _, reason = await run(backend)
    assert status == "not_assessed"
    assert reason is not None and "upstream_error" in reason


def test_schema_demands_one_entry_per_point() -> None:
    """The schema fixes the number of points and the score range."""
    schema = assessment_schema(3)
    points = schema["properties"]["points"]
    assert points["minItems"] == points["maxItems"] == 3
    score = points["items"]["properties"]["score"]
    assert (score["minimum"], score["maximum"]) == (1, 5)
