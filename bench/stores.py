"""PostgreSQL and Redis for benchmarking hotseat's scale-out mode (``bench.run --shared-stores``).

They are started exactly as the test suite starts them (``tests/datastores.py``:
the Debian ``postgresql`` and ``redis-server`` packages, which ``scripts/test``
installs; as root, PostgreSQL runs as the ``postgres`` user), on free ports, in
a temporary directory, and removed afterwards. hotseat then runs as one replica
of a scaled-out deployment: sessions in PostgreSQL, turn logs, announcements,
cancels and limits in Redis.

Their CPU is not hotseat's: ``cpu_seconds`` reports it separately, PostgreSQL's
including the backends it started and reaped.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import procstat

TESTS = Path(__file__).resolve().parent.parent / "tests"


@dataclass(frozen=True)
class SharedStores:
    env: dict[str, str]  # the settings that make hotseat use them
    redis_pid: int
    postgres_pid: int

    def cpu_seconds(self) -> dict[str, float]:
        return {
            "redis": procstat.cpu_seconds(self.redis_pid),
            "postgres": procstat.tree_cpu_seconds(self.postgres_pid),
        }


@contextlib.contextmanager
def running() -> Iterator[SharedStores]:
    sys.path.insert(0, str(TESTS))
    import datastores  # tests/datastores.py

    with (
        tempfile.TemporaryDirectory(prefix="hotseat-bench-stores-") as directory,
        datastores.Stores.running(Path(directory)) as stores,
    ):
        env = {
            "HOTSEAT_DATABASE_URL": stores.new_database(),
            "HOTSEAT_REDIS_URL": stores.redis.url,
            "HOTSEAT_SECRET_KEY": "bench-only-secret-key-bench-only-secret-key",
        }
        yield SharedStores(env, stores.redis.pid, stores.postgres.pid)
