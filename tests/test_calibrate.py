"""``hotseat calibrate``: the configured analysis against the hand-scored set, with honest numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hotseat.calibration.run import LEVELS, load_samples, spearman
from hotseat.calibration.sets import CalibrationSet, set_directory
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry


def run_calibrate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTSEAT_BACKEND": "local", "HOTSEAT_ANALYSIS": "auto"}
    return subprocess.run(
        [sys.executable, "-m", "hotseat", "calibrate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_calibrate_prints_agreement_and_meets_the_spearman_floor() -> None:
    """The matcher (the embedded default) agrees with the hand scores: Spearman >= 0.6, deterministic."""
    done = run_calibrate("--runs", "2")
    assert done.returncode == 0, done.stderr
    print(done.stdout)  # the numbers, in the test log
    assert "analysis: matcher" in done.stdout
    rho = float(re.search(r"^Spearman: (-?\d\.\d+)$", done.stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert rho >= 0.6
    assert "run-to-run stability: 100.0%" in done.stdout
    means = re.search(
        r"mean score by level: strong (\S+), partial (\S+), weak (\S+), off_topic (\S+)", done.stdout
    )
    assert means is not None
    strong, partial, weak, off_topic = (float(value.rstrip(",")) for value in means.groups())
    assert strong > partial > weak > off_topic


@pytest.mark.parametrize("name", ["development", "held-out"])
def test_the_other_sets_order_the_levels(name: str) -> None:
    """On answers it was not tuned on the matcher is weaker (docs/interview.md), but a strong answer
    still scores above a partial one, above a weak one, above an off-topic one, on average."""
    done = run_calibrate("--set", name)
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert f"set: {set_directory(CalibrationSet(name))}" in done.stdout
    assert re.search(r"^Spearman: 0\.\d+$", done.stdout, re.MULTILINE)
    means = re.search(
        r"mean score by level: strong (\S+), partial (\S+), weak (\S+), off_topic (\S+)", done.stdout
    )
    assert means is not None
    strong, partial, weak, off_topic = (float(value.rstrip(",")) for value in means.groups())
    assert strong > partial > weak > off_topic
    # The promise of the report: in nearly every question a strong answer outscores a weak one.
    pairs = re.search(r"strong > weak (\d+) of (\d+)", done.stdout)
    assert pairs is not None and int(pairs.group(1)) >= int(pairs.group(2)) - 2


def test_one_set_at_a_time(tmp_path: Path) -> None:
    done = run_calibrate("--set", "held-out", "--fixtures", str(tmp_path))
    assert done.returncode == 2
    assert "not both" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(("name", "batches"), [("tuning", 1), ("development", 2), ("held-out", 1)])
def test_the_set_is_complete_and_consistent_with_the_packs(name: str, batches: int) -> None:
    """Every question of the three English packs has all four levels, one answer per batch; one hand
    score per point, 1-5; and no answer appears in two sets."""
    directory = set_directory(CalibrationSet(name))
    samples = load_samples(directory)
    packs = PackRegistry.load([BUILTIN_PACKS_DIR])
    assert len(samples) == 84 * batches
    assert len({sample.id for sample in samples}) == 84 * batches
    others = {
        sample.text
        for other in CalibrationSet
        if set_directory(other) != directory
        for sample in load_samples(set_directory(other))
    }
    assert not others & {sample.text for sample in samples}
    levels: dict[tuple[str, str], set[str]] = {}
    for sample in samples:
        question = packs.get(sample.pack).question(sample.question)
        assert len(sample.scores) == len(question.assessment), sample.id
        assert all(1 <= score <= 5 for score in sample.scores), sample.id
        levels.setdefault((sample.pack, sample.question), set()).add(sample.level)
    assert all(found == set(LEVELS) for found in levels.values())


def test_a_missing_set_is_a_clear_error(tmp_path: Path) -> None:
    """An empty fixtures directory: one line saying what is missing, exit 2, no traceback."""
    done = run_calibrate("--fixtures", str(tmp_path))
    assert done.returncode == 2
    assert "No calibration answers in" in done.stdout and "Traceback" not in done.stderr


def test_a_mismatched_answer_names_itself(tmp_path: Path) -> None:
    """A hand-scored answer with the wrong number of scores is refused, naming the answer."""
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump(
            {
                "pack": "backend-engineer",
                "answers": [
                    {"id": "oops", "question": "concurrency", "level": "weak", "text": "x", "scores": [1]}
                ],
            }
        )
    )
    done = run_calibrate("--fixtures", str(tmp_path))
    assert done.returncode == 2
    assert "oops: 1 hand scores for 6 points" in done.stdout


@pytest.mark.parametrize(
    ("xs", "ys", "expected"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 1, 2, 2], [1, 2, 3, 4], 0.894),
    ],
)
def test_spearman_with_ties(xs: list[int], ys: list[int], expected: float) -> None:
    """Ranks with ties averaged, as scipy.stats.spearmanr computes them."""
    assert spearman(xs, ys) == pytest.approx(expected, abs=1e-3)
