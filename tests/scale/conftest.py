"""Fixtures for scale-out: real PostgreSQL, Redis, a mock OpenAI upstream and three replicas.

The servers (``stores``, in tests/conftest.py) and the replicas are started once
per test session. A test that kills or restarts a replica starts its own
(``spawn``). Tests that stop Redis or PostgreSQL start them again, on the same
port, before they end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cluster import Cluster, Replica, replica_env, wait_until_ready

import datastores
from doubles.mock_openai import MockOpenAI, Reply


@pytest.fixture(scope="session")
def upstream() -> Iterator[MockOpenAI]:
    """The OpenAI-compatible upstream of every replica, in this process so tests can see its requests."""
    with MockOpenAI(Reply(token_count=30, delay=0.01)) as mock:
        yield mock


@pytest.fixture(scope="session")
def cluster(
    stores: datastores.Stores, upstream: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Replicas A, B and C on one database and one Redis."""
    directory = tmp_path_factory.mktemp("cluster")
    env = replica_env(
        database_url=stores.new_database(), redis_url=stores.redis.url, upstream_url=upstream.base_url
    )
    replicas = [Replica(name, env, directory) for name in ("a", "b", "c")]
    try:
        for replica in replicas:
            replica.start()
        wait_until_ready(replicas)
        yield Cluster(*replicas, env=env, directory=directory)
    finally:
        for replica in replicas:
            replica.stop()


@pytest.fixture
def spawn(cluster: Cluster) -> Iterator[Callable[..., Replica]]:
    """Start an extra replica of the cluster (settings may differ), for one test; stopped at its end."""
    spawned: list[Replica] = []

    def start(name: str, **settings: str) -> Replica:
        replica = Replica(name, {**cluster.env, **settings}, cluster.directory).start()
        spawned.append(replica)
        replica.wait_ready()
        return replica

    yield start
    for replica in spawned:
        replica.stop()


@pytest.fixture(autouse=True)
def _fresh_upstream(request: pytest.FixtureRequest) -> None:
    """Each test scripts the upstream from an empty queue (replicas only call it for their turns)."""
    if "upstream" in request.fixturenames:
        mock: MockOpenAI = request.getfixturevalue("upstream")
        try:
            mock.wait_until(lambda: all(r.outcome is not None for r in mock.requests), timeout=30)
        except TimeoutError as exc:
            left = [r.index for r in mock.requests if r.outcome is None]
            raise TimeoutError(f"upstream requests {left} of the previous test are still in flight") from exc
        mock.reset()
        mock.default = Reply(token_count=30, delay=0.01)
