"""The owner cookie survives whatever else the Cookie header holds, and never causes a 500 (issue #22.3)."""

from __future__ import annotations

import httpx
import pytest
from hardening_kit import serving

from hotseat.config import Settings
from hotseat.serving import ServerThread

PACK = {"pack": "backend-engineer"}


def new_owner(server: ServerThread) -> tuple[str, str]:
    """A fresh browser owner with one session: (its cookie's name=value, the session id)."""
    with httpx.Client(base_url=server.base_url) as browser:
        created = browser.post("/api/sessions", json=PACK)
        assert created.status_code == 201, created.text
        pair = created.headers["set-cookie"].split(";", 1)[0]
        return pair, created.json()["id"]


def sessions_with(server: ServerThread, cookie: bytes) -> httpx.Response:
    # Bytes, so that the header goes out exactly as written (non-ASCII included).
    return httpx.get(f"{server.base_url}/api/sessions", headers={"Cookie": cookie})


@pytest.mark.parametrize(
    "before",
    [
        'x="a; ',  # an unbalanced quote
        "x=a b; ",  # an unquoted space
        "x=\u00e9t\u00e9; ",  # non-ASCII (sent as UTF-8)
        "hotseat_owner=forged.0000; ",  # a stale or foreign cookie of the same name first
        "junk; ",  # no '=' at all
    ],
)
def test_other_cookies_never_cost_the_owner_their_identity(settings: Settings, before: str) -> None:
    """Cookies that SimpleCookie choked on (other apps on localhost set them) leave the owner as they were."""
    with serving(settings) as server:
        pair, session = new_owner(server)
        response = sessions_with(server, (before + pair).encode())
    assert response.status_code == 200, response.text
    assert [s["id"] for s in response.json()] == [session]
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("value", [b'"\xc3\xa9.x"', b"\xc3\xa9.x", b"\xff\xfe.x"])
def test_a_non_ascii_owner_cookie_is_a_new_owner_not_a_500(settings: Settings, value: bytes) -> None:
    """A cookie value no server signed, in any bytes, gives a fresh owner (200 and a new cookie)."""
    with serving(settings) as server:
        response = sessions_with(server, b"hotseat_owner=" + value)
    assert response.status_code == 200, response.text
    assert response.json() == []
    assert response.headers["set-cookie"].startswith("hotseat_owner=")


def test_secure_cookies_use_the_host_prefix_and_keep_old_owners(settings: Settings) -> None:
    """With secure cookies the cookie is __Host- (Secure, Path=/, no Domain); a valid plain one from
    before keeps its owner and is replaced."""
    with serving(settings) as plain_server:
        old_pair, old_session = new_owner(plain_server)
    with serving(settings, secure_cookies=True) as server:
        response = httpx.get(f"{server.base_url}/api/sessions")
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith("__Host-hotseat_owner=")
        attributes = [part.strip() for part in set_cookie.split(";")]
        assert {"Secure", "Path=/", "HttpOnly"} <= set(attributes)
        assert not any(part.lower().startswith("domain") for part in attributes)
        # The same secret (the data dir's), so the old cookie is still valid: its sessions stay.
        created = httpx.post(f"{server.base_url}/api/sessions", json=PACK, headers={"Cookie": old_pair})
        assert created.status_code == 201, created.text
        renewed = created.headers["set-cookie"]
        assert renewed.startswith("__Host-hotseat_owner=" + old_pair.split("=", 1)[1])
        host_pair = renewed.split(";", 1)[0]
        listed = sessions_with(server, f"hotseat_owner=forged.0; {host_pair}".encode())
    assert {s["id"] for s in listed.json()} == {old_session, created.json()["id"]}
    assert "set-cookie" not in listed.headers
