"""Fixtures for the terminal client's tests: tmux, a client config dir, a CV file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tmux import Tmux


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """The client's environment: its own config dir (so its own identity) and a UTF-8 locale."""
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


@pytest.fixture
def tmux(client_env: dict[str, str]) -> Iterator[Tmux]:
    terminal = Tmux(client_env)
    try:
        yield terminal
    finally:
        terminal.close()


@pytest.fixture
def cv_file(tmp_path: Path) -> Path:
    path = tmp_path / "jane-doe.md"
    path.write_text(
        "# Jane Doe\n\nSenior engineer at Acme. Led the billing migration: 40,000 customers in six weeks.\n",
        encoding="utf-8",
    )
    return path
