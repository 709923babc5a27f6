"""``hotseat calibrate``: run the configured analysis on the hand-scored set and compare.

The set (``fixtures/``, see its README) holds answers to built-in pack questions written at four
levels (strong, partial, weak, off_topic), each scored by hand per assessment point. Each answer
is analysed as a one-answer interview would analyse it, the rubric turns the verdicts into
scores, and the scores are compared with the hand scores:

- Spearman's rank correlation over every (answer, point) pair;
- exact and within-one agreement of the 1-5 scores;
- per question, whether the mean score orders strong > partial > weak > off_topic;
- with several runs, run-to-run stability (the share of points scored the same in every run).
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hotseat.calibration.sets import CalibrationSet, set_directory
from hotseat.interview.analysis.claims import Claim, extract_claims
from hotseat.interview.analysis.matcher import AnswerText
from hotseat.interview.analysis.model import Analysis
from hotseat.interview.analysis.rubric import score
from hotseat.interview.packs import PackRegistry, Question

FIXTURES = set_directory(CalibrationSet.tuning)
LEVELS = ("strong", "partial", "weak", "off_topic")
# The orderings a candidate relies on most: a strong answer above a weaker one, a real one above none.
PAIRS = (("strong", "weak"), ("strong", "partial"), ("partial", "weak"), ("weak", "off_topic"))
# The CV the cv-deep-dive answers were written against (fixtures/README.md).
CV_FILE = "cv.md"

Analyser = Callable[[Question, Sequence[AnswerText], Sequence[Claim]], Awaitable[Analysis]]


@dataclass(frozen=True, slots=True)
class Sample:
    id: str
    pack: str
    question: str
    level: str
    text: str
    scores: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Result:
    samples: int
    points: int
    spearman: float
    exact: float
    within_one: float
    ordered_questions: int
    questions: int
    # Per pair of levels ("strong > weak"): in how many questions the first scored higher on average.
    ordered_pairs: dict[str, int]
    stability: float | None
    mean_by_level: dict[str, float]
    misordered: list[str]
    per_pack_spearman: dict[str, float]

    def lines(self) -> list[str]:
        """What the command prints."""
        out = [
            f"answers: {self.samples}   points scored: {self.points}",
            f"Spearman: {self.spearman:.3f}",
            f"exact agreement: {self.exact:.1%}   within one: {self.within_one:.1%}",
            f"questions ordered strong > partial > weak > off_topic: {self.ordered_questions} of "
            f"{self.questions}",
            "questions where one level scores above another: "
            + ", ".join(f"{pair} {count} of {self.questions}" for pair, count in self.ordered_pairs.items()),
            "mean score by level: "
            + ", ".join(
                f"{level} {self.mean_by_level[level]:.2f}" for level in LEVELS if level in self.mean_by_level
            ),
            "Spearman by pack: "
            + ", ".join(f"{pack} {value:.3f}" for pack, value in self.per_pack_spearman.items()),
        ]
        if self.stability is not None:
            out.append(f"run-to-run stability: {self.stability:.1%} of points scored the same in every run")
        out += [f"misordered: {item}" for item in self.misordered]
        return out


def load_samples(directory: Path = FIXTURES) -> list[Sample]:
    samples = []
    for path in sorted(directory.glob("*.yaml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        for raw in data["answers"]:
            samples.append(
                Sample(
                    id=str(raw["id"]),
                    pack=str(data["pack"]),
                    question=str(raw["question"]),
                    level=str(raw["level"]),
                    text=str(raw["text"]),
                    scores=tuple(int(s) for s in raw["scores"]),
                )
            )
    return samples


def fixture_claims(directory: Path = FIXTURES) -> list[Claim]:
    path = directory / CV_FILE
    return extract_claims(path.read_text(encoding="utf-8")) if path.exists() else []


async def calibrate(
    analyser: Analyser, packs: PackRegistry, samples: Sequence[Sample], claims: Sequence[Claim], runs: int = 1
) -> Result:
    """Analyse every sample ``runs`` times and compare the scores with the hand scores."""
    per_run: list[list[list[int]]] = []
    for _ in range(runs):
        scored = []
        for sample in samples:
            question = packs.get(sample.pack).question(sample.question)
            if len(question.assessment) != len(sample.scores):
                raise ValueError(
                    f"{sample.id}: {len(sample.scores)} hand scores for {len(question.assessment)} points"
                )
            analysis = await analyser(question, [AnswerText(sample.id, sample.text)], claims)
            scored.append([score(finding) for finding in analysis.points])
        per_run.append(scored)
    first = per_run[0]
    machine = [s for answer in first for s in answer]
    human = [s for sample in samples for s in sample.scores]
    # A set may hold several answers per question and level (the development set's two batches).
    answer_means: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_level: dict[str, list[float]] = defaultdict(list)
    by_pack: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for sample, scores in zip(samples, first, strict=True):
        mean = statistics.fmean(scores)
        answer_means[(sample.pack, sample.question)][sample.level].append(mean)
        by_level[sample.level].append(mean)
        by_pack[sample.pack][0].extend(scores)
        by_pack[sample.pack][1].extend(sample.scores)
    by_question = {
        question: {level: statistics.fmean(values) for level, values in levels.items()}
        for question, levels in answer_means.items()
    }
    misordered = []
    for (pack, question_id), means in sorted(by_question.items()):
        present = [means[level] for level in LEVELS if level in means]
        if not all(a > b for a, b in itertools.pairwise(present)):
            shown = ", ".join(f"{level} {means[level]:.2f}" for level in LEVELS if level in means)
            misordered.append(f"{pack}/{question_id}: {shown}")
    stability = None
    if runs > 1:
        same = sum(
            1
            for answer_index, answer in enumerate(first)
            for point_index, value in enumerate(answer)
            if all(run[answer_index][point_index] == value for run in per_run)
        )
        stability = same / len(machine)
    return Result(
        samples=len(samples),
        points=len(machine),
        spearman=spearman(machine, human),
        exact=sum(m == h for m, h in zip(machine, human, strict=True)) / len(machine),
        within_one=sum(abs(m - h) <= 1 for m, h in zip(machine, human, strict=True)) / len(machine),
        ordered_questions=len(by_question) - len(misordered),
        questions=len(by_question),
        ordered_pairs={
            f"{higher} > {lower}": sum(
                1
                for means in by_question.values()
                if higher in means and lower in means and means[higher] > means[lower]
            )
            for higher, lower in PAIRS
        },
        stability=stability,
        mean_by_level={level: statistics.fmean(by_level[level]) for level in LEVELS if by_level[level]},
        misordered=misordered,
        per_pack_spearman={pack: spearman(m, h) for pack, (m, h) in sorted(by_pack.items())},
    )


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rho: Pearson's correlation of the ranks, ties given their mean rank.

    Written out (ten lines) rather than taking SciPy for one function; Python 3.11's statistics
    module has no ranked correlation yet.
    """
    rx, ry = _ranks(xs), _ranks(ys)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return 0.0
    return statistics.correlation(rx, ry)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks
