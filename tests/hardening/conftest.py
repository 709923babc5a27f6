"""Fixtures of the hardening tests: a mock upstream and a fault proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from doubles.fault_proxy import FaultProxy
from doubles.mock_openai import MockOpenAI


@pytest.fixture
def upstream() -> Iterator[MockOpenAI]:
    """A scriptable OpenAI-compatible server on port 0."""
    with MockOpenAI() as mock:
        yield mock


@pytest.fixture
def proxy(upstream: MockOpenAI) -> Iterator[FaultProxy]:
    """A fault-injecting TCP proxy in front of the mock upstream."""
    with FaultProxy("127.0.0.1", upstream.port) as running:
        yield running
