from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.mock_openai import MockOpenAI


@pytest.fixture
def upstream() -> Iterator[MockOpenAI]:
    """A real OpenAI-compatible HTTP server on port 0, scripted per test."""
    with MockOpenAI() as mock:
        yield mock
