"""Who may see what: owner cookies and API keys, 404 for everything not yours, origins, headers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from helpers import wait_quiet
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.interview.analysis.claims import forget_kept_claims, kept_cvs
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread, uvicorn_config_kwargs
from hotseat.store.models import AssessmentRow, CvRow, TurnRow


@pytest.fixture
def browser(server: ServerThread) -> Iterator[httpx.Client]:
    """A client that keeps cookies, like a browser."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def stranger(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


STREAM = {"Accept": "text/event-stream"}


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def test_first_visit_sets_a_signed_httponly_cookie(browser: httpx.Client) -> None:
    """The first response sets hotseat_owner (HttpOnly, SameSite=Lax); later ones do not reset it."""
    first = browser.get("/api/packs")
    set_cookie = first.headers["set-cookie"]
    assert set_cookie.startswith("hotseat_owner=")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "set-cookie" not in browser.get("/api/packs").headers


def test_sessions_are_visible_only_to_their_owner(browser: httpx.Client, stranger: httpx.Client) -> None:
    """Every session endpoint answers 404 to another owner, exactly as for a missing session."""
    created = browser.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    sid, tid = created["id"], created["turn_id"]
    assert browser.get(f"/api/sessions/{sid}").status_code == 200
    stranger.get("/api/packs")  # the stranger has a cookie of its own
    attempts = [
        stranger.get(f"/api/sessions/{sid}"),
        stranger.post(f"/api/sessions/{sid}/answers", json={"text": "mine now"}),
        stranger.post(f"/api/sessions/{sid}/turns/{tid}/cancel"),
        stranger.post(f"/api/sessions/{sid}/skip"),
        stranger.post(f"/api/sessions/{sid}/retry"),
        stranger.post(f"/api/sessions/{sid}/finish"),
        # The moves that answer with their turn's stream check the owner just the same.
        stranger.post(f"/api/sessions/{sid}/answers", json={"text": "mine now"}, headers=STREAM),
        stranger.post(f"/api/sessions/{sid}/skip", headers=STREAM),
        stranger.post(f"/api/sessions/{sid}/finish", headers=STREAM),
        stranger.post(f"/api/sessions/{sid}/answers", files={"audio": ("a.wav", b"RIFF0000WAVE")}),
        stranger.get(f"/api/sessions/{sid}/report"),
        stranger.get(f"/api/sessions/{sid}/export"),
        stranger.get(f"/api/sessions/{sid}/turns/{tid}/events"),
        stranger.get(f"/api/sessions/{sid}/turns/{tid}/events", headers={"Last-Event-ID": "1"}),
        stranger.delete(f"/api/sessions/{sid}"),
        hx.get(f"{browser.base_url}/api/sessions/{sid}"),  # an API-key client is another owner too
    ]
    missing = stranger.get("/api/sessions/does-not-exist")
    for response in attempts:
        assert response.status_code == 404, response.request.url
        assert response.json() == {
            "error": {
                "code": "not_found",
                "message": missing.json()["error"]["message"].replace("does-not-exist", sid),
            }
        }
    assert [s["id"] for s in browser.get("/api/sessions").json()] == [sid]
    assert stranger.get("/api/sessions").json() == []
    transcript = browser.get(f"/api/sessions/{sid}").json()
    assert all(t["role"] == "interviewer" for t in transcript["turns"])  # the stranger's answer never landed


def test_websocket_of_another_owner_is_refused(server: ServerThread, browser: httpx.Client) -> None:
    """A WebSocket with someone else's cookie (or none) gets not_found and a 1008 close."""
    sid = browser.post("/api/sessions", json={"pack": "general-behavioural"}).json()["id"]
    wait_quiet(browser, sid)  # a move while the opening streams is refused with conflict
    with connect(
        f"{server.ws_url}/ws?session={sid}", additional_headers={"Cookie": cookie_header(browser)}
    ) as ws:
        ws.send(json.dumps({"type": "skip"}))
        frame = json.loads(ws.recv(timeout=10))
    assert frame["type"] == "accepted" and frame["turn_id"], frame
    with connect(f"{server.ws_url}/ws?session={sid}") as ws:
        assert json.loads(ws.recv(timeout=10))["code"] == "not_found"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_another_owner_is_refused_while_the_turn_generates(
    server: ServerThread, browser: httpx.Client, backend: ScriptedBackend
) -> None:
    """A WebSocket connect or SSE request during a turn generating here is checked against that
    turn's owner, with no database read: another owner still gets not_found (1008 / 404), a turn
    id that is not the running one still gets 404, and the owner gets the turn over both."""
    hold = threading.Event()
    backend.enqueue(ScriptedReply("Tell me about a hard bug.", hold=hold))
    created = browser.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    sid, tid = created["id"], created["turn_id"]
    url = f"{server.ws_url}/ws?session={sid}"
    events = f"/api/sessions/{sid}/turns/{tid}/events"
    try:
        for headers in ({}, {"Authorization": f"Bearer {hx.API_KEY}"}):
            with connect(url, additional_headers=headers) as ws:
                assert json.loads(ws.recv(timeout=10))["code"] == "not_found"
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            # Streamed: were it let through, the held turn's stream would never end.
            with httpx.stream("GET", f"{server.base_url}{events}", headers=headers, timeout=10) as refused:
                assert refused.status_code == 404
                assert json.loads(refused.read())["error"]["code"] == "not_found"
        assert browser.get(f"/api/sessions/{sid}/turns/not-this-one/events").status_code == 404
        with (
            browser.stream("GET", events) as sse,
            connect(url, additional_headers={"Cookie": cookie_header(browser)}) as ws,
        ):
            assert sse.status_code == 200
            turn = json.loads(ws.recv(timeout=10))
            assert (turn["type"], turn["turn_id"]) == ("turn", tid)
            hold.set()
            frames = [json.loads(ws.recv(timeout=10))]
            while frames[-1]["type"] == "delta":
                frames.append(json.loads(ws.recv(timeout=10)))
            assert "".join(f["text"] for f in frames[:-1]) == "Tell me about a hard bug."
            assert frames[-1]["type"] == "done"
            assert "event: done" in "".join(sse.iter_text())
    finally:
        hold.set()


def test_forged_cookie_is_a_new_owner(server: ServerThread, browser: httpx.Client) -> None:
    """A cookie whose signature does not match is ignored: the request gets a fresh identity."""
    sid = browser.post("/api/sessions", json={"pack": "general-behavioural"}).json()["id"]
    owner = browser.cookies["hotseat_owner"].rsplit(".", 1)[0]
    forged = {"Cookie": f"hotseat_owner={owner}.{'0' * 32}"}
    response = httpx.get(f"{server.base_url}/api/sessions/{sid}", headers=forged)
    assert response.status_code == 404
    assert response.headers["set-cookie"].startswith("hotseat_owner=")


def test_unknown_api_key_is_401(server: ServerThread) -> None:
    """A Bearer key that is not configured is refused with `unauthorized`."""
    response = httpx.get(f"{server.base_url}/api/sessions", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_cvs_are_private_too(browser: httpx.Client, stranger: httpx.Client) -> None:
    """Another owner can neither read a CV nor start an interview with it."""
    cv = browser.post("/api/cvs", files={"file": ("cv.txt", b"Jane Doe, engineer", "text/plain")}).json()
    assert stranger.get(f"/api/cvs/{cv['id']}").status_code == 404
    assert stranger.post("/api/sessions", json={"pack": "cv-deep-dive", "cv_id": cv["id"]}).status_code == 404
    assert stranger.delete(f"/api/cvs/{cv['id']}").status_code == 404
    assert browser.get(f"/api/cvs/{cv['id']}").status_code == 200


@pytest.mark.parametrize("reader", ["session", "cv"])
def test_a_cv_deleted_while_a_request_reads_it_is_not_kept(
    reader: str, server: ServerThread, browser: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that read a CV just as a CV was deleted (here: a delete that empties the claims
    while the read is in flight) must not put that CV's text back into the process's memory."""
    cv = browser.post("/api/cvs", files={"file": ("cv.txt", b"Jane Doe, engineer", "text/plain")}).json()
    records = server.app.state.services.records
    read = records.owned_cv

    async def read_while_a_cv_is_deleted(owner: str, cv_id: str) -> CvRow:
        row = await read(owner, cv_id)
        forget_kept_claims()  # what Records.delete_cv does for a delete that lands meanwhile
        return row

    monkeypatch.setattr(records, "owned_cv", read_while_a_cv_is_deleted)
    if reader == "session":
        response = browser.post("/api/sessions", json={"pack": "cv-deep-dive", "cv_id": cv["id"]})
        assert response.status_code == 201
    else:
        response = browser.get(f"/api/cvs/{cv['id']}")
        assert response.status_code == 200
    assert kept_cvs() == 0
    monkeypatch.setattr(records, "owned_cv", read)
    assert browser.get(f"/api/cvs/{cv['id']}").status_code == 200
    assert kept_cvs() == 1  # a read with no deletion meanwhile keeps them as before


def test_deleting_removes_the_data(server: ServerThread, browser: httpx.Client) -> None:
    """Deleting a session removes its turns and assessments; deleting a CV removes its text."""
    forget_kept_claims()
    cv = browser.post("/api/cvs", files={"file": ("cv.txt", b"Jane Doe, engineer", "text/plain")}).json()
    sid = browser.post("/api/sessions", json={"pack": "general-behavioural", "cv_id": cv["id"]}).json()["id"]
    browser.get(
        f"/api/sessions/{sid}/turns/{browser.get(f'/api/sessions/{sid}').json()['turns'][0]['id']}/events"
    )
    browser.post(f"/api/sessions/{sid}/answers", json={"text": " ".join(["detail"] * 40)})
    assert browser.delete(f"/api/sessions/{sid}").status_code == 204
    assert browser.get(f"/api/sessions/{sid}").status_code == 404
    assert kept_cvs() == 1  # the upload and the interview read its CV's claims
    assert browser.delete(f"/api/cvs/{cv['id']}").status_code == 204
    assert browser.get(f"/api/cvs/{cv['id']}").status_code == 404
    assert kept_cvs() == 0  # and no copy of its text stays in the process

    async def remaining() -> list[int]:
        store = server.app.state.services.store
        counts = []
        async with store.engine.connect() as connection:
            for table in (TurnRow, AssessmentRow, CvRow):
                counts.append(len((await connection.execute(table.__table__.select())).all()))
        return counts

    assert server.loop is not None
    assert asyncio.run_coroutine_threadsafe(remaining(), server.loop).result(10) == [0, 0, 0]


def test_foreign_origin_websocket_is_refused_before_upgrade(
    server: ServerThread, browser: httpx.Client, backend: ScriptedBackend
) -> None:
    """A handshake from another Origin gets HTTP 403 and starts no model call."""
    session = browser.post("/api/sessions", json={"pack": "general-behavioural"}).json()
    sid = session["id"]
    # The opening turn's model call happens after the POST is answered: read the turn to its end
    # first, or that call could land after ``calls`` is taken.
    browser.get(f"/api/sessions/{sid}/turns/{session['turn_id']}/events")
    calls = len(backend.calls)
    headers = {"Cookie": cookie_header(browser)}
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.ws_url}/ws?session={sid}", origin="http://evil.example", additional_headers=headers)
    assert refused.value.response.status_code == 403
    assert len(backend.calls) == calls
    with connect(
        f"{server.ws_url}/ws?session={sid}", origin=server.base_url, additional_headers=headers
    ) as ws:
        ws.send(json.dumps({"type": "cancel"}))


def test_allowed_origins_setting(settings: Settings) -> None:
    """With HOTSEAT_ALLOWED_ORIGINS set, exactly those origins may open a WebSocket."""
    configured = settings.model_copy(update={"allowed_origins": "https://interviews.example.com"})
    with ServerThread(create_app(configured, backend=ScriptedBackend())) as server:
        with pytest.raises(InvalidStatus):
            connect(f"{server.ws_url}/ws?session=x", origin=server.base_url)
        with connect(f"{server.ws_url}/ws?session=x", origin="https://interviews.example.com") as ws:
            assert json.loads(ws.recv(timeout=10))["code"] == "not_found"


@pytest.mark.parametrize(("proxies", "accepted"), [("127.0.0.1", True), ("", False)])
def test_same_origin_behind_a_tls_proxy_named_in_forwarded_allow_ips(
    settings: Settings, proxies: str, accepted: bool
) -> None:
    """Behind a proxy that ends TLS the browser's Origin is https://host. With the proxy named in
    HOTSEAT_FORWARDED_ALLOW_IPS, its X-Forwarded-Proto makes that the server's own origin; from a
    peer that is not named, the header is ignored and the handshake is refused."""
    configured = settings.model_copy(update={"forwarded_allow_ips": proxies})
    config = {**uvicorn_config_kwargs(configured), "log_level": "warning"}
    with ServerThread(create_app(configured, backend=ScriptedBackend()), **config) as server:
        url = f"{server.ws_url}/ws?session=x"
        origin = server.base_url.replace("http://", "https://")
        forwarded = {"X-Forwarded-Proto": "https"}
        if accepted:
            with connect(url, origin=origin, additional_headers=forwarded) as ws:
                assert json.loads(ws.recv(timeout=10))["code"] == "not_found"
        else:
            with pytest.raises(InvalidStatus) as refused:
                connect(url, origin=origin, additional_headers=forwarded)
            assert refused.value.response.status_code == 403


def test_security_headers_and_no_cors(browser: httpx.Client) -> None:
    """The page carries CSP and friends; no CORS header is reflected to a foreign origin."""
    page = browser.get("/", headers={"Origin": "http://evil.example"})
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    api = browser.get("/api/packs", headers={"Origin": "http://evil.example"})
    assert not any(name.lower().startswith("access-control-") for name in api.headers)
    preflight = browser.options(
        "/api/sessions", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_ids_are_unguessable(browser: httpx.Client) -> None:
    """Session and turn ids carry 128 random bits (22 URL-safe characters), all distinct."""
    created = [browser.post("/api/sessions", json={"pack": "general-behavioural"}).json() for _ in range(5)]
    ids = [c["id"] for c in created] + [c["turn_id"] for c in created]
    assert len(set(ids)) == 10
    assert all(len(i) == 22 for i in ids)
