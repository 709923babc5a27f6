"""Which browser the page tests drive, and what they do without it (a module, not conftest, so a
test file can import it whichever conftest pytest loaded last)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

# HOTSEAT_CHROMIUM points elsewhere on systems that install it under another name.
CHROMIUM = Path(os.environ.get("HOTSEAT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI (the ``CI`` environment variable set)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)
