"""The app's shutdown closes everything it opened, even when one close fails."""

from __future__ import annotations

import pytest

from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend
from hotseat.services import Services


class BackendThatFailsToClose(ScriptedBackend):
    async def aclose(self) -> None:
        raise RuntimeError("the model server hung up badly")


async def test_a_failing_close_is_logged_and_the_rest_still_run(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The backend's close raises: it is logged, and the database after it is still disposed."""
    app = create_app(settings, backend=BackendThatFailsToClose())
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        assert services.engine.pool.checkedin() >= 1  # the migration's connection, pooled
    assert services.engine.pool.checkedin() == 0, "the database was disposed after the failed close"
    failed = [r for r in caplog.records if "closing the model backend failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None
