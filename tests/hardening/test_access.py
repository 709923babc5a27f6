"""An API-key-only mode, and a retention period after which sessions and CVs are deleted (#22.5)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hardening_kit import serving, wait_for, wait_turn
from pydantic import ValidationError
from sqlalchemy import update
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import hx
from hotseat.config import Settings
from hotseat.store.db import create_engine
from hotseat.store.models import CvRow, SessionRow

PACK = {"pack": "backend-engineer"}


def test_with_require_api_key_only_key_holders_get_in(settings: Settings) -> None:
    """HOTSEAT_REQUIRE_API_KEY: no key is 401 (a WebSocket 403) and mints no cookie owner; a key works;
    the page's files and the health probes stay open."""
    with serving(settings, require_api_key=True) as server:
        url = server.base_url
        refused = httpx.post(f"{url}/api/sessions", json=PACK)
        accepted = hx.post(f"{url}/api/sessions", json=PACK)
        open_paths = [httpx.get(f"{url}{path}").status_code for path in ("/", "/api/health", "/api/ready")]
        with pytest.raises(InvalidStatus) as ws_refused:
            connect(f"{server.ws_url}/ws")
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    assert "HOTSEAT_REQUIRE_API_KEY" in refused.json()["error"]["message"]
    assert accepted.status_code == 201
    assert open_paths == [200, 200, 200]
    assert ws_refused.value.response.status_code == 403


def test_require_api_key_without_keys_is_refused(tmp_path: Path) -> None:
    """Requiring a key while none is configured would lock everyone out: the settings refuse it."""
    with pytest.raises(ValidationError, match="HOTSEAT_API_KEYS is empty"):
        Settings(_env_file=None, data_dir=tmp_path, require_api_key=True)  # type: ignore[call-arg]


async def _backdate(settings: Settings, session_id: str, cv_id: str, days: int) -> None:
    engine = create_engine(settings.resolved_database_url())
    old = datetime.now(UTC) - timedelta(days=days)
    async with engine.begin() as db:
        await db.execute(
            update(SessionRow).where(SessionRow.id == session_id).values(created_at=old, updated_at=old)
        )
        await db.execute(update(CvRow).where(CvRow.id == cv_id).values(created_at=old))
    await engine.dispose()


def test_sessions_and_cvs_past_the_retention_period_are_deleted(settings: Settings) -> None:
    """With HOTSEAT_RETENTION_DAYS=30, a 31-day-old session (turns and all) and CV are gone after a
    start; a recent session stays."""
    with serving(settings) as server:
        old = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        recent = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        for created in (old, recent):
            wait_turn(server, created["id"], created["turn_id"])
        cv = hx.post(f"{server.base_url}/api/cvs", files={"file": ("cv.txt", b"Jane Doe, engineer. " * 20)})
        cv_id = cv.json()["id"]
    asyncio.run(_backdate(settings, old["id"], cv_id, days=31))
    with serving(settings, retention_days=30) as server:
        url = server.base_url
        assert hx.get(f"{url}/api/sessions/{recent['id']}").status_code == 200
        # The purge runs as the server starts, in the background.
        wait_for(lambda: hx.get(f"{url}/api/sessions/{old['id']}").status_code == 404, timeout=10)
        assert hx.get(f"{url}/api/cvs/{cv_id}").status_code == 404
        assert [s["id"] for s in hx.get(f"{url}/api/sessions").json()] == [recent["id"]]
