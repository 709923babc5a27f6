from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import hx
from hotseat.serving import ServerThread


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    """An HTTP client of the test server, acting as the suite's API-key owner."""
    with hx.client(server.base_url, timeout=30) as http:
        yield http
