"""Limits: connections, running turns, sessions and token-bucket rates, per owner and per IP."""

from __future__ import annotations

import json
import re
import threading

import httpx
import pytest
from hardening_kit import follow, open_connections, recv_json, recv_turn, serving, wait_for, wait_turn
from websockets.exceptions import ConnectionClosed

import hx
from hotseat.api.limits import (
    MemoryConnectionCounter,
    MemoryRateLimiter,
    Rate,
    TokenBuckets,
    TurnGate,
    address_key,
)
from hotseat.config import Settings
from hotseat.errors import Busy, RateLimited
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply

PACK = {"pack": "backend-engineer"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the mechanisms ----------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_says_how_long_to_wait() -> None:
    """A bucket spends its burst, then reports the exact wait until the next token."""
    buckets = TokenBuckets(Rate(per_minute=60, burst=2))
    assert buckets.wait("a", 0.0) == 0
    buckets.take("a", 0.0)
    buckets.take("a", 0.0)
    assert buckets.wait("a", 0.0) == pytest.approx(1.0)
    assert buckets.wait("a", 0.25) == pytest.approx(0.75)
    assert buckets.wait("b", 0.0) == 0  # keys are independent


def test_idle_buckets_are_forgotten_and_keys_are_bounded() -> None:
    """Keys idle long enough to be full again are dropped, and there are never more than max_keys."""
    buckets = TokenBuckets(Rate(per_minute=60, burst=5), max_keys=1000)
    for i in range(5000):
        buckets.take(f"k{i}", 0.0)
    assert len(buckets) == 1000
    assert buckets.wait("fresh", 4.9) == 0
    assert len(buckets) == 1000  # not idle for burst / rate = 5 s yet
    assert buckets.wait("fresh", 5.0) == 0
    assert len(buckets) == 0


async def test_rate_limiter_counts_an_action_only_when_every_bucket_allows_it() -> None:
    """A refusal by the per-IP bucket costs the owner nothing, and retry_after is whole seconds."""
    clock = Clock()
    limiter = MemoryRateLimiter("wait {wait} s", Rate(60, 3), Rate(60, 2), clock=clock)
    await limiter.hit("alice", "10.0.0.1")
    await limiter.hit("bob", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("alice", "10.0.0.1")
    assert refused.value.retry_after == 1.0
    assert refused.value.message == "wait 1 s"
    # From another address alice still has two of her three tokens.
    await limiter.hit("alice", "10.0.0.2")
    await limiter.hit("alice", "10.0.0.3")
    with pytest.raises(RateLimited):
        await limiter.hit("alice", "10.0.0.4")
    clock.now += 1.0
    await limiter.hit("alice", "10.0.0.4")


async def test_a_zero_rate_is_no_limit() -> None:
    """Rates set to 0 turn the limiter off."""
    limiter = MemoryRateLimiter("x", Rate(0, 1), Rate(0, 1))
    for _ in range(1000):
        await limiter.hit("alice", "10.0.0.1")


async def test_connection_counter_refuses_per_owner_then_in_total_and_forgets_owners() -> None:
    """An owner at its cap gets rate_limited, a full server busy; releasing frees both and the entry."""
    counter = MemoryConnectionCounter(max_total=3, max_per_owner=2)
    await counter.acquire("a")
    await counter.acquire("a")
    with pytest.raises(RateLimited):
        await counter.acquire("a")
    await counter.acquire("b")
    with pytest.raises(Busy):
        await counter.acquire("c")
    for owner in ("a", "a", "b"):
        await counter.release(owner)
    assert (counter.open_count(), counter.owner_ids()) == (0, [])


def test_turn_gate_counts_moves_being_admitted() -> None:
    """Moves admitted but not yet started count against the cap, so a burst cannot slip past it."""
    running = {"a": 1}
    gate = TurnGate(2, lambda owner: running.get(owner, 0))
    with gate.admit("a"), pytest.raises(RateLimited), gate.admit("a"):
        pass  # one running, one being admitted: the cap of 2 is reached
    with gate.admit("a"):
        pass  # the first move is over: admitted again


# -- through a real server ------------------------------------------------------------------


def test_moves_over_the_owners_rate_get_429_with_retry_after(settings: Settings) -> None:
    """Creating sessions (a move that starts a turn) past the burst gets 429 rate_limited and Retry-After."""
    with serving(settings, ScriptedBackend(), answer_burst=2, answer_rate_per_minute=1) as server:
        url = f"{server.base_url}/api/sessions"
        assert hx.post(url, json=PACK).status_code == 201
        assert hx.post(url, json=PACK).status_code == 201
        refused = hx.post(url, json=PACK)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["retryable"] is True
        assert error["retry_after"] >= 1
        assert refused.headers["Retry-After"] == str(round(error["retry_after"]))
        assert len(hx.get(url).json()) == 2  # the refused move did nothing


def test_websocket_moves_share_the_owners_budget(settings: Settings) -> None:
    """An answer frame past the budget gets a rate_limited error frame; the connection stays usable."""
    with serving(settings, ScriptedBackend(), answer_burst=2, answer_rate_per_minute=1) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        wait_turn(server, session["id"], session["turn_id"])  # the opening is over
        with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
            ws.send(json.dumps({"type": "answer", "text": "I built a queue."}))
            recv_turn(ws)
            ws.send(json.dumps({"type": "answer", "text": "And a cache."}))
            error = recv_json(ws)
            assert (error["type"], error["code"], error["retryable"]) == ("error", "rate_limited", True)
            assert error["retry_after"] >= 1
            _frames, done = follow(ws, session["turn_id"])  # still open; resume is not rate-limited
            assert done["type"] == "done"


def test_the_per_ip_rate_applies_across_owners(settings: Settings) -> None:
    """Fresh cookies do not escape the per-IP bucket: the third owner from one address gets 429."""
    with serving(
        settings, ScriptedBackend(), answer_burst_per_ip=2, answer_rate_per_minute_per_ip=1
    ) as server:
        statuses = []
        for _ in range(3):
            with httpx.Client(base_url=server.base_url) as browser:  # a new cookie owner each time
                statuses.append(browser.post("/api/sessions", json=PACK).status_code)
        assert statuses == [201, 201, 429]


@pytest.mark.parametrize(
    ("proxies", "expected"),
    [
        # The peer (127.0.0.1) is the proxy named: each forwarded client has its own bucket.
        ("127.0.0.1", [201, 201, 429]),
        # A peer that is not a named proxy cannot pick its bucket with the header.
        ("10.0.0.0/8", [201, 429, 429]),
        # Nothing named (the default): the header is ignored.
        ("", [201, 429, 429]),
    ],
)
def test_x_forwarded_for_counts_only_from_the_proxies_named(
    settings: Settings, proxies: str, expected: list[int]
) -> None:
    """HOTSEAT_FORWARDED_ALLOW_IPS: behind a load balancer, the per-IP rate is per client, not
    shared by everyone the balancer forwards; from anyone else X-Forwarded-For is ignored."""
    with serving(
        settings,
        ScriptedBackend(),
        answer_burst_per_ip=1,
        answer_rate_per_minute_per_ip=1,
        forwarded_allow_ips=proxies,
    ) as server:
        statuses = []
        for client in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
            with httpx.Client(base_url=server.base_url) as browser:  # a new cookie owner each time
                headers = {"X-Forwarded-For": client}
                statuses.append(browser.post("/api/sessions", json=PACK, headers=headers).status_code)
        assert statuses == expected


def test_a_proxy_that_is_not_an_address_is_refused_at_start() -> None:
    def proxies(value: str) -> str:
        return Settings(_env_file=None, forwarded_allow_ips=value).forwarded_allow_ips  # type: ignore[call-arg]

    with pytest.raises(ValueError, match=re.escape("'proxy.internal' is not an IP address or network")):
        proxies("10.0.0.1, proxy.internal")
    assert proxies(" 10.0.0.1 , 10.1.0.0/16 ") == "10.0.0.1,10.1.0.0/16"


def test_uploads_are_rate_limited(settings: Settings) -> None:
    """A CV upload past the upload burst gets 429 rate_limited before the file is parsed."""
    with serving(settings, ScriptedBackend(), upload_burst=1, upload_rate_per_minute=1) as server:
        files = {"file": ("cv.md", b"# Jane\n\nEngineer", "text/markdown")}
        assert hx.post(f"{server.base_url}/api/cvs", files=files).status_code == 201
        refused = hx.post(f"{server.base_url}/api/cvs", files=files)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "Retry-After" in refused.headers


def test_websockets_over_the_owners_cap_are_refused_with_1008(settings: Settings) -> None:
    """The owner's third WebSocket gets a rate_limited frame and close 1008; closing one frees a slot."""
    with serving(settings, ScriptedBackend(), max_connections_per_owner=2) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        url = f"{server.ws_url}/ws?session={session['id']}"
        with hx.ws_connect(url) as first, hx.ws_connect(url) as second:
            follow(first, session["turn_id"])
            follow(second, session["turn_id"])
            with hx.ws_connect(url) as third:
                error = recv_json(third)
                assert (error["code"], error["retry_after"]) == ("rate_limited", 5.0)
                with pytest.raises(ConnectionClosed) as closed:
                    third.recv(timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            first.close()
            with hx.ws_connect(url) as again:
                follow(again, session["turn_id"])  # accepted


def test_the_total_cap_answers_busy_on_both_transports(settings: Settings) -> None:
    """With the server full, SSE gets 503 busy with Retry-After and a WebSocket a busy frame and 1008."""
    with serving(settings, ScriptedBackend(), max_connections=1) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as holder:
            follow(holder, session["turn_id"])
            events = hx.get(
                f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events"
            )
            assert events.status_code == 503
            assert events.json()["error"]["code"] == "busy"
            assert events.headers["Retry-After"] == "5"
            with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as refused:
                assert recv_json(refused)["code"] == "busy"
                with pytest.raises(ConnectionClosed) as closed:
                    refused.recv(timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        # The holder's slot is free again (once its connection has wound down): the stream is served.
        wait_for(lambda: open_connections(server) == 0, timeout=5)
        events = hx.get(f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events")
        assert events.status_code == 200


def test_sse_over_the_owners_cap_gets_429(settings: Settings) -> None:
    """An SSE request past the owner's connection cap is a 429 JSON error, not a stream.

    A POST /api/sessions or an answer asking for a stream takes its connection slot first:
    refused, it has stored no session and no answer.
    """
    with serving(settings, ScriptedBackend(), max_connections_per_owner=1) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        with hx.ws_connect(f"{server.ws_url}/ws?session={session['id']}") as holder:
            follow(holder, session["turn_id"])
            events = hx.get(
                f"{server.base_url}/api/sessions/{session['id']}/turns/{session['turn_id']}/events"
            )
            assert events.status_code == 429
            assert events.json()["error"]["code"] == "rate_limited"
            streamed_start = hx.post(
                f"{server.base_url}/api/sessions", json=PACK, headers={"Accept": "text/event-stream"}
            )
            assert streamed_start.status_code == 429
            assert streamed_start.json()["error"]["code"] == "rate_limited"
            streamed_answer = hx.post(
                f"{server.base_url}/api/sessions/{session['id']}/answers",
                json={"text": "I led the migration."},
                headers={"Accept": "text/event-stream"},
            )
            assert streamed_answer.status_code == 429
            assert streamed_answer.json()["error"]["code"] == "rate_limited"
        assert [s["id"] for s in hx.get(f"{server.base_url}/api/sessions").json()] == [session["id"]]
        transcript = hx.get(f"{server.base_url}/api/sessions/{session['id']}").json()["turns"]
        assert [t["kind"] for t in transcript] == ["opening"]
        assert open_connections(server) == 0


def test_a_refused_streamed_move_gives_back_its_connection(settings: Settings) -> None:
    """An answer asking for a stream takes a connection slot before the move; refused (409, the
    interviewer still replying), it holds none afterwards."""
    backend = ScriptedBackend()
    hold = threading.Event()
    backend.enqueue(ScriptedReply(text="Welcome.", hold=hold))
    with serving(settings, backend) as server:
        session = hx.post(f"{server.base_url}/api/sessions", json=PACK).json()
        refused = hx.post(
            f"{server.base_url}/api/sessions/{session['id']}/answers",
            json={"text": "I led the migration."},
            headers={"Accept": "text/event-stream"},
        )
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
        assert open_connections(server) == 0
        hold.set()


def test_running_turns_per_owner_are_capped(settings: Settings) -> None:
    """With one turn generating and a cap of 1, a second session is refused 429 until it ends."""
    backend = ScriptedBackend()
    hold = threading.Event()
    backend.enqueue(ScriptedReply(text="Welcome.", hold=hold))
    with serving(settings, backend, max_running_turns_per_owner=1) as server:
        url = f"{server.base_url}/api/sessions"
        first = hx.post(url, json=PACK).json()
        refused = hx.post(url, json=PACK)
        assert refused.status_code == 429
        assert "replies being written at once" in refused.json()["error"]["message"]
        hold.set()
        with hx.ws_connect(f"{server.ws_url}/ws?session={first['id']}") as ws:
            follow(ws, first["turn_id"])
        assert hx.post(url, json=PACK).status_code == 201


def test_sessions_per_owner_are_capped(settings: Settings) -> None:
    """The owner's third session is refused 409 conflict with a clear message; deleting one frees it."""
    with serving(settings, ScriptedBackend(), max_sessions_per_owner=2) as server:
        url = f"{server.base_url}/api/sessions"
        ids = [hx.post(url, json=PACK).json()["id"] for _ in range(2)]
        refused = hx.post(url, json=PACK)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "conflict"
        assert "delete old ones" in refused.json()["error"]["message"]
        assert hx.delete(f"{url}/{ids[0]}").status_code == 204
        assert hx.post(url, json=PACK).status_code == 201


def test_an_ipv6_client_is_counted_as_its_slash_64() -> None:
    """Every address of one /64 shares a key (a subscriber has them all); IPv4 and mapped IPv4 are whole."""
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.8") != address_key("192.0.2.7")


@pytest.mark.parametrize("proxies", ["*", "127.0.0.1"])
def test_a_spoofed_x_forwarded_for_behind_a_proxy_gets_no_new_bucket(
    settings: Settings, proxies: str
) -> None:
    """What the client writes in front of the address its proxy appends (nginx's
    $proxy_add_x_forwarded_for) is ignored, with the proxy named or with `*`: no fresh bucket."""
    with serving(
        settings, answer_burst_per_ip=1, answer_rate_per_minute_per_ip=1, forwarded_allow_ips=proxies
    ) as server:
        statuses = []
        for spoofed in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            with httpx.Client(base_url=server.base_url) as browser:  # a new cookie owner each time
                headers = {"X-Forwarded-For": f"{spoofed}, 203.0.113.7"}
                statuses.append(browser.post("/api/sessions", json=PACK, headers=headers).status_code)
        assert statuses == [201, 429, 429]


def test_the_addresses_of_one_ipv6_slash_64_share_a_bucket(settings: Settings) -> None:
    """Behind a proxy, clients at two addresses of one /64 share the per-IP rate; another /64 does not."""
    with serving(
        settings, answer_burst_per_ip=1, answer_rate_per_minute_per_ip=1, forwarded_allow_ips="127.0.0.1"
    ) as server:
        statuses = []
        for client in ("2001:db8:1:2::1", "2001:db8:1:2:abcd::9", "2001:db8:1:3::1"):
            with httpx.Client(base_url=server.base_url) as browser:
                headers = {"X-Forwarded-For": client}
                statuses.append(browser.post("/api/sessions", json=PACK, headers=headers).status_code)
        assert statuses == [201, 429, 201]
