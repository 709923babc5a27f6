"""``hotseat calibrate``: the configured analysis pipeline against the hand-scored set."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.console import Console

from hotseat.calibration.run import FIXTURES, Analyser, calibrate, fixture_claims, load_samples
from hotseat.config import Settings
from hotseat.errors import HotseatError
from hotseat.interview.analysis import matcher
from hotseat.interview.analysis.claims import Claim
from hotseat.interview.analysis.judge import JudgeFailed, judge
from hotseat.interview.analysis.matcher import AnswerText
from hotseat.interview.analysis.model import Analysis
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry, Question
from hotseat.llm.base import Backend, GenerationParams
from hotseat.llm.factory import make_backend


async def run_calibrate(settings: Settings, runs: int, fixtures: Path | None, console: Console) -> int:
    """Print the agreement numbers; returns the exit code."""
    packs = PackRegistry.load([BUILTIN_PACKS_DIR])
    directory = fixtures or FIXTURES
    try:
        samples = load_samples(directory)
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        console.print(f"The calibration set in {directory} cannot be read: {exc}", markup=False)
        return 2
    if not samples:
        console.print(
            f"No calibration answers in {directory} (files *.yaml, see its README.md).", markup=False
        )
        return 2
    kind = settings.resolved_analysis(settings.backend)
    failures = 0

    async def by_matcher(
        question: Question, answers: Sequence[AnswerText], claims: Sequence[Claim]
    ) -> Analysis:
        return matcher.analyse(question, answers, claims)

    analyser: Analyser = by_matcher
    backend: Backend | None = None
    if kind == "judge":
        backend = make_backend(settings)
        await backend.start()
        params = GenerationParams(max_tokens=settings.assessment_max_tokens, temperature=0.2)
        live = backend

        async def by_judge(
            question: Question, answers: Sequence[AnswerText], claims: Sequence[Claim]
        ) -> Analysis:
            nonlocal failures
            try:
                return await judge(live, params, question, answers, claims, language="en")
            except JudgeFailed:
                # As in an interview: the matcher's verdicts stand when the judge gives none.
                failures += 1
                return matcher.analyse(question, answers, claims)

        analyser = by_judge
    model = f" on {settings.backend} ({backend.model})" if backend is not None else ""
    console.print(f"set: {directory}")
    console.print(f"analysis: {kind}{model}; {len(samples)} answers, {runs} run(s)")
    started = time.monotonic()
    try:
        result = await calibrate(analyser, packs, samples, fixture_claims(directory), runs=runs)
    except (ValueError, HotseatError) as exc:
        console.print(f"The calibration set does not fit the packs: {exc}", markup=False, soft_wrap=True)
        return 2
    finally:
        if backend is not None:
            await backend.aclose()
    for line in result.lines():
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if kind == "judge":
        console.print(f"judge failures (matcher's verdicts used instead): {failures}")
    console.print(f"took {time.monotonic() - started:.1f} s")
    return 0
