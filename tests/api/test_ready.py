"""Readiness: /api/ready checks the stores that /api/health never touches."""

from __future__ import annotations

import hx
from hotseat.config import Settings
from hotseat.serving import ServerThread


def test_ready_checks_the_database_and_redis(server: ServerThread, settings: Settings) -> None:
    """200 with the database ok, and Redis ok, or "disabled" for one process without HOTSEAT_REDIS_URL."""
    response = hx.get(f"{server.base_url}/api/ready")
    assert response.status_code == 200
    redis = "ok" if settings.redis_url else "disabled"
    assert response.json() == {"status": "ready", "database": "ok", "redis": redis}
