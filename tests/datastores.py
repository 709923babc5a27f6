"""Real PostgreSQL and Redis servers for the tests, each on a free port with its data in a temp dir.

``tests/scale`` runs hotseat replicas against them, and ``HOTSEAT_TEST_BACKENDS=postgres-redis``
runs the ordinary suite on them (``settings_overrides``: a fresh database per test, cloned
from a migrated template). The servers are the Debian packages' binaries (``redis-server``,
``/usr/lib/postgresql/*/bin``); ``scripts/test`` installs them. Outside CI a machine without
them skips these tests; in CI (``CI`` set) their absence is a failure.

PostgreSQL refuses to run as root, so as root its processes run as the ``postgres`` user
(``Popen(user=...)``, like ``runuser -u postgres``) in a directory that user owns.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

BACKENDS_VARIABLE = "HOTSEAT_TEST_BACKENDS"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start:\n{log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {START_TIMEOUT} s")


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def require_binaries() -> None:
    """Skip (or, in CI, fail) when redis-server or PostgreSQL is not installed."""
    missing = [
        name
        for name, found in (("redis-server", redis_binary()), ("postgresql", postgres_bin_dir()))
        if found is None
    ]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (apt-get install -y redis-server postgresql)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL and Redis tests: {reason}")
    pytest.skip(reason)


class RedisServer:
    """``redis-server`` without persistence; ``stop()`` and ``start()`` again keep the port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._last_database = 0
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def pid(self) -> int:
        assert self._process is not None, "not running"
        return self._process.pid

    @property
    def url(self) -> str:
        return self.url_of(0)

    def url_of(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """The URL of an emptied numbered database other than 0 (the cluster's), for one test.

        Tests take turns through databases 1..15, so the rate and connection counts one test
        leaves in Redis never reach the next test's app.
        """
        self._last_database = self._last_database % 15 + 1
        url = self.url_of(self._last_database)
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        return url

    def start(self) -> None:
        binary = redis_binary()
        assert binary is not None
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)),
                    *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_for_port(self.port, self._process, "redis-server", self.log)

    def stop(self) -> None:
        _stop(self._process)
        self._process = None


class PostgresServer:
    """A throwaway PostgreSQL cluster (trust authentication, no fsync) listening on 127.0.0.1."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None
        self.bin_dir = bin_dir
        # Directly in the system temp dir: the postgres user cannot enter pytest's (mode 700) ones.
        directory = Path(tempfile.mkdtemp(prefix="hotseat-postgres-"))
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.log = directory / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        # PostgreSQL will not run as root: its files and processes belong to the postgres user.
        self._user: dict[str, Any] = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}
        if self._user:
            shutil.chown(directory, "postgres", "postgres")
        subprocess.run(
            [
                *(self.bin_dir / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust"),
                *("-E", "UTF8", "--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            cwd=directory,
            **self._user,
        )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        """The postmaster's (the backends are its children)."""
        assert self._process is not None, "not running"
        return self._process.pid

    def start(self) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *(self.bin_dir / "postgres", "-D", self.data, "-p", str(self.port), "-h", "127.0.0.1"),
                    *("-k", str(self.directory), "-c", "fsync=off", "-c", "synchronous_commit=off"),
                    *("-c", "full_page_writes=off", "-c", "max_connections=300"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                **self._user,
            )
        _wait_for_port(self.port, self._process, "postgres", self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while self.sql("SELECT 1", check=False).returncode != 0:  # listening is not yet accepting
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        _stop(self._process, signal.SIGINT)  # "fast" shutdown: disconnect clients, then exit
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def sql(self, statement: str, *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                *(self.bin_dir / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
                *("-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", statement),
            ],
            check=check,
            capture_output=True,
            timeout=60,
        )


@dataclass
class Stores:
    """The running servers; ``new_database()`` gives each test a migrated database of its own."""

    postgres: PostgresServer
    redis: RedisServer
    template: str = "hotseat_template"
    _count: int = 0

    @classmethod
    @contextlib.contextmanager
    def running(cls, directory: Path) -> Iterator[Stores]:
        require_binaries()
        postgres = PostgresServer()
        redis = RedisServer(directory / "redis")
        try:
            postgres.start()
            redis.start()
            stores = cls(postgres, redis)
            stores._make_template()
            yield stores
        finally:
            redis.stop()
            postgres.remove()

    def _make_template(self) -> None:
        """A migrated database that each test's database is cloned from (faster than migrating)."""
        import asyncio

        from hotseat.store.db import create_engine, migrate

        self.postgres.sql(f"CREATE DATABASE {self.template}")

        async def upgrade() -> None:
            engine = create_engine(self.postgres.url(self.template))
            try:
                await migrate(engine)
            finally:
                await engine.dispose()

        # In a thread of its own: the caller may be inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, upgrade()).result()

    def new_database(self, *, migrated: bool = True) -> str:
        """A fresh database, migrated unless asked otherwise (then empty); returns its URL."""
        self._count += 1
        name = f"test_{os.getpid()}_{self._count}"
        template = f" TEMPLATE {self.template}" if migrated else ""
        self.postgres.sql(f"CREATE DATABASE {name}{template}")
        return self.postgres.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.postgres.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)


# For a test of what only a single process may do (with replicas it would be wrong).
single_process_only = pytest.mark.skipif(
    bool(os.environ.get(BACKENDS_VARIABLE)),
    reason="replicas share the database and Redis; tests/scale covers what they do instead",
)


def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings that put a test on PostgreSQL and Redis when HOTSEAT_TEST_BACKENDS asks for it."""
    wanted = os.environ.get(BACKENDS_VARIABLE, "")
    if not wanted:
        return {}
    if wanted != "postgres-redis":
        raise pytest.UsageError(f"{BACKENDS_VARIABLE} must be empty or 'postgres-redis', not {wanted!r}")
    stores: Stores = request.getfixturevalue("stores")
    url = stores.new_database()
    request.addfinalizer(lambda: stores.drop_database(url))
    return {"database_url": url, "redis_url": stores.redis.fresh_database()}
