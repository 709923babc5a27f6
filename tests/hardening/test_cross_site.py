"""State changes only from this site, JSON only as JSON: same-site pages cannot act for the user (#22.6)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from hardening_kit import serving

from hotseat.config import Settings
from hotseat.serving import ServerThread

PACK = {"pack": "backend-engineer"}
# A page on another port of the same host: same site, so a SameSite=Lax cookie goes with its requests.
SAME_SITE = {"Origin": "http://127.0.0.1:9", "Sec-Fetch-Site": "same-site"}


@contextmanager
def browser(server: ServerThread) -> Iterator[httpx.Client]:
    """A browser with its owner cookie, and no session yet."""
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/api/sessions").json() == []
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        SAME_SITE,
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:9"},  # a browser that sends no Sec-Fetch-Site
        {"Sec-Fetch-Site": "same-site"},  # and one that sends no Origin
    ],
)
def test_a_session_cannot_be_created_from_another_sites_page(
    settings: Settings, headers: dict[str, str]
) -> None:
    """A POST carrying the victim's cookie from another page gets 403 forbidden and creates nothing."""
    with serving(settings) as server, browser(server) as victim:
        response = victim.post("/api/sessions", json=PACK, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert "HOTSEAT_ALLOWED_ORIGINS" in response.json()["error"]["message"]
        assert victim.get("/api/sessions").json() == []


def test_a_no_cors_body_is_not_taken_for_json(settings: Settings) -> None:
    """A text/plain or typeless body (all a no-cors fetch or a form can send) gets 415, not a session."""
    with serving(settings) as server, browser(server) as victim:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            response = victim.post("/api/sessions", content=b'{"pack": "backend-engineer"}', headers=headers)
            assert response.status_code == 415, (content_type, response.text)
            assert "Content-Type: application/json" in response.json()["error"]["message"]
        assert victim.get("/api/sessions").json() == []


def test_moves_and_deletes_without_a_body_are_checked_too(settings: Settings) -> None:
    """finish (a POST with no body) and DELETE from a same-site page are refused; the session stays."""
    with serving(settings) as server, browser(server) as victim:
        session = victim.post("/api/sessions", json=PACK).json()
        victim.get(f"/api/sessions/{session['id']}/turns/{session['turn_id']}/events")
        assert victim.post(f"/api/sessions/{session['id']}/finish", headers=SAME_SITE).status_code == 403
        assert victim.delete(f"/api/sessions/{session['id']}", headers=SAME_SITE).status_code == 403
        assert victim.get(f"/api/sessions/{session['id']}").json()["status"] == "active"


def test_this_sites_pages_scripts_and_allowed_origins_still_work(settings: Settings) -> None:
    """The own page, a client that sends neither header, and an allowed origin all create sessions."""
    own = {"Origin": "", "Sec-Fetch-Site": "same-origin"}
    with serving(settings, allowed_origins="https://app.example.com") as server, browser(server) as user:
        own["Origin"] = server.base_url
        assert user.post("/api/sessions", json=PACK, headers=own).status_code == 201
        assert user.post("/api/sessions", json=PACK).status_code == 201
        allowed = {"Origin": "https://app.example.com", "Sec-Fetch-Site": "cross-site"}
        assert user.post("/api/sessions", json=PACK, headers=allowed).status_code == 201
