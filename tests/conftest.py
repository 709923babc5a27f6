"""Shared fixtures: settings on a temporary data dir, a scripted backend, real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import datastores
from doubles.mock_openai import MockOpenAI
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread, uvicorn_config_kwargs
from hx import API_KEY


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[datastores.Stores]:
    """Real PostgreSQL and Redis, started on first use (tests/scale, HOTSEAT_TEST_BACKENDS)."""
    with datastores.Stores.running(tmp_path_factory.mktemp("stores")) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        backend="scripted",
        orphan_grace_seconds=30,
        sse_ping_seconds=1,
        shutdown_grace_seconds=2,
        api_keys=API_KEY,
        **datastores.settings_overrides(request),  # HOTSEAT_TEST_BACKENDS=postgres-redis
    )


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def server(settings: Settings, backend: ScriptedBackend) -> Iterator[ServerThread]:
    """A real uvicorn server on port 0 running hotseat with the scripted backend."""
    app = create_app(settings, backend=backend)
    config = uvicorn_config_kwargs(settings)
    config["log_level"] = "warning"
    with ServerThread(app, **config) as running:
        yield running


@pytest.fixture
def upstream() -> Iterator[MockOpenAI]:
    """A real OpenAI-compatible HTTP server on port 0, scripted per test."""
    with MockOpenAI() as mock:
        yield mock


@pytest.fixture
def openai_server(settings: Settings, upstream: MockOpenAI) -> Iterator[ServerThread]:
    """hotseat configured exactly as an operator would: HOTSEAT_BACKEND=openai and a base URL."""
    configured = settings.model_copy(
        update={
            "backend": "openai",
            "openai_base_url": upstream.base_url,
            "model": "mock-model",
            "upstream_max_retries": 0,
            "upstream_read_timeout": 30.0,
        }
    )
    with ServerThread(create_app(configured), **uvicorn_config_kwargs(configured)) as server:
        yield server
