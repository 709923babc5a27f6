"""Rate limits and connection caps hold across replicas when they count in Redis.

The first tests drive ``api.redis_limits`` directly against the real Redis, two
objects standing for two replicas, in a numbered database of their own. The
last ones run real replicas: the allowance a candidate has is the same whether
their requests land on one replica or are spread over several.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from cluster import Cluster, Replica, start_session
from redis.asyncio import Redis

import datastores
import hx
from doubles.mock_openai import MockOpenAI, Reply
from hotseat.api.limits import Rate
from hotseat.api.redis_limits import (
    REPLICAS_KEY,
    TOTAL_CONNECTIONS_KEY,
    RedisConnectionCounter,
    RedisRateLimiter,
    owner_connections_key,
)
from hotseat.errors import Busy, RateLimited
from hotseat.store.repo import new_id
from hotseat.streaming.redis_client import connect

# Slow enough that no token comes back while a test runs: one per 100 minutes.
NO_REFILL = 0.01


@pytest.fixture
async def redis(stores: datastores.Stores) -> AsyncIterator[Redis]:
    client = connect(stores.redis.fresh_database())
    yield client
    await client.aclose()


def limiter(redis: Redis, owner_burst: int, ip_burst: int) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis, "answers", "wait {wait} s", Rate(NO_REFILL, owner_burst), Rate(NO_REFILL, ip_burst)
    )


async def test_two_replicas_draw_on_one_bucket_per_owner(redis: Redis) -> None:
    on_a, on_b = limiter(redis, owner_burst=3, ip_burst=100), limiter(redis, owner_burst=3, ip_burst=100)
    owner = new_id()
    await on_a.hit(owner, "10.0.0.1")
    await on_b.hit(owner, "10.0.0.2")
    await on_a.hit(owner, "10.0.0.3")
    with pytest.raises(RateLimited) as refused:
        await on_b.hit(owner, "10.0.0.4")
    # One token per 100 minutes: the wait is the time to the next whole token, in whole seconds.
    assert refused.value.retry_after is not None and 5900 <= refused.value.retry_after <= 6000
    await on_b.hit(new_id(), "10.0.0.4")  # another owner still has a full bucket


async def test_a_refusal_by_one_bucket_takes_nothing_from_the_other(redis: Redis) -> None:
    """Rotating cookies on one IP hits the IP's bucket; the owner's own tokens are left whole."""
    on_a, on_b = limiter(redis, owner_burst=3, ip_burst=2), limiter(redis, owner_burst=3, ip_burst=2)
    owner = new_id()
    await on_a.hit(new_id(), "10.0.0.9")
    await on_b.hit(new_id(), "10.0.0.9")
    with pytest.raises(RateLimited):
        await on_a.hit(owner, "10.0.0.9")
    for ip in ("10.0.1.1", "10.0.1.2", "10.0.1.3"):  # all three of the owner's tokens are still there
        await on_b.hit(owner, ip)
    with pytest.raises(RateLimited):
        await on_a.hit(owner, "10.0.1.4")


async def test_a_bucket_refills_at_its_rate(redis: Redis) -> None:
    fast = RedisRateLimiter(redis, "uploads", "wait {wait} s", Rate(600.0, 1), Rate(0, 1))  # 10 per second
    owner = new_id()
    await fast.hit(owner, "ip")
    with pytest.raises(RateLimited) as refused:
        await fast.hit(owner, "ip")
    assert refused.value.retry_after == 1.0  # 0.1 s, rounded up to the whole second it advertises
    deadline = time.monotonic() + 30
    while True:  # a token is back within 0.1 s; on a loaded machine, allow for slow scheduling
        try:
            await fast.hit(owner, "ip")
            break
        except RateLimited:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


def counter(redis: Redis, replica: str, *, total: int, per_owner: int) -> RedisConnectionCounter:
    return RedisConnectionCounter(redis, replica, total, per_owner, lease_seconds=1.0)


async def test_connection_caps_count_every_replica(redis: Redis) -> None:
    a = counter(redis, "replica-a", total=3, per_owner=2)
    b = counter(redis, "replica-b", total=3, per_owner=2)
    await a.heartbeat()
    await b.heartbeat()
    alice, bob, carol = new_id(), new_id(), new_id()
    await a.acquire(alice)
    await b.acquire(alice)
    with pytest.raises(RateLimited):
        await a.acquire(alice)  # her third, on either replica
    await a.acquire(bob)
    with pytest.raises(Busy):
        await b.acquire(carol)  # three open in all
    await b.release(alice)
    await b.settle()  # the release has reached Redis
    await a.acquire(alice)  # the slot B freed is usable on A
    assert (a.open_count(), b.open_count()) == (3, 0)
    assert await redis.hgetall(owner_connections_key(alice)) == {b"replica-a": b"2"}


async def test_a_dead_replicas_connections_stop_counting_after_its_lease(redis: Redis) -> None:
    survivor = counter(redis, "survivor", total=0, per_owner=2)
    doomed = counter(redis, "doomed", total=0, per_owner=2)
    await survivor.heartbeat()
    await doomed.heartbeat()
    owner = new_id()
    await doomed.acquire(owner)
    await doomed.acquire(owner)
    with pytest.raises(RateLimited):
        await survivor.acquire(owner)
    # "doomed" dies: no more heartbeats, no releases. Its lease (1 s) runs out.
    deadline = time.monotonic() + 30
    while True:
        try:
            await survivor.acquire(owner)
            break
        except RateLimited:
            assert time.monotonic() < deadline, "the dead replica's connections still count"
            await asyncio.sleep(0.1)
    assert await redis.hgetall(owner_connections_key(owner)) == {b"survivor": b"1"}


async def test_after_redis_loses_its_data_the_heartbeat_writes_the_counts_back(redis: Redis) -> None:
    a = counter(redis, "replica-a", total=10, per_owner=5)
    await a.heartbeat()
    owner = new_id()
    await a.acquire(owner)
    await a.acquire(owner)
    await redis.flushdb()  # as a restart without persistence leaves it
    await a.heartbeat()
    assert await redis.hgetall(owner_connections_key(owner)) == {b"replica-a": b"2"}
    assert await redis.hgetall(TOTAL_CONNECTIONS_KEY) == {b"replica-a": b"2"}
    assert await redis.zscore(REPLICAS_KEY, "replica-a") is not None
    await a.release(owner)
    await a.forget()  # the release reaches Redis, then the replica's total goes
    assert await redis.hgetall(TOTAL_CONNECTIONS_KEY) == {}


# -- real replicas ---------------------------------------------------------------------------------


@pytest.fixture
def strict_pair(spawn: Callable[..., Replica]) -> tuple[Replica, Replica]:
    """Two replicas with small caps: 2 connections and 2 uploads per owner."""
    settings = {
        "HOTSEAT_MAX_CONNECTIONS_PER_OWNER": "2",
        "HOTSEAT_UPLOAD_BURST": "2",
        "HOTSEAT_UPLOAD_RATE_PER_MINUTE": str(NO_REFILL),
    }
    return spawn("strict-a", **settings), spawn("strict-b", **settings)


def upload(replica: Replica, client: httpx.Client) -> httpx.Response:
    files = {"file": ("cv.txt", b"Built a payments service in Go at Acme.", "text/plain")}
    return client.post(f"{replica.url}/api/cvs", files=files, timeout=10)


def test_uploads_spread_over_replicas_share_one_allowance(strict_pair: tuple[Replica, Replica]) -> None:
    a, b = strict_pair
    with httpx.Client() as browser:  # one candidate: one owner cookie, sent to both replicas
        assert upload(a, browser).status_code == 201
        assert upload(b, browser).status_code == 201
        refused = upload(a, browser)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


def test_open_streams_spread_over_replicas_share_one_cap(
    strict_pair: tuple[Replica, Replica], cluster: Cluster, upstream: MockOpenAI
) -> None:
    a, b = strict_pair
    upstream.default = Reply(token_count=2000, delay=0.05)  # streams that outlast the test
    session_id, turn_id = start_session(cluster.a)
    events = f"/api/sessions/{session_id}/turns/{turn_id}/events"
    owner_key = {"Authorization": f"Bearer {hx.API_KEY}"}
    with httpx.Client(headers=owner_key, timeout=10) as client:
        with client.stream("GET", a.url + events), client.stream("GET", b.url + events):
            refused = client.get(a.url + events)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "rate_limited"
        # Both streams are closed: their slots come back (each replica releases its own).
        deadline = time.monotonic() + 30
        while True:
            with client.stream("GET", b.url + events) as response:
                if response.status_code != 429:
                    break
            assert time.monotonic() < deadline, "closed streams still count"
            time.sleep(0.1)
        assert response.status_code == 200
    cancelled = hx.post(f"{cluster.a.url}/api/sessions/{session_id}/turns/{turn_id}/cancel", timeout=10)
    assert cancelled.status_code < 300, cancelled.text
