"""The hand-scored answer sets bundled with hotseat, by name (each directory's README.md).

Apart from ``run.py`` so that the command line can name them without importing the analysis.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path


class CalibrationSet(StrEnum):
    tuning = "tuning"  # what the matcher's weights were tuned on
    development = "development"  # what changes are developed on (in-sample too)
    held_out = "held-out"  # what nothing has been tuned on


_DIRECTORIES = {
    CalibrationSet.tuning: "fixtures",
    CalibrationSet.development: "development",
    CalibrationSet.held_out: "heldout",
}


def set_directory(name: CalibrationSet) -> Path:
    return Path(str(files("hotseat.calibration") / _DIRECTORIES[name]))
