"""The database engine, and the Alembic migrations applied on start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hotseat.store import sqlite
from hotseat.store.models import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant: the PostgreSQL advisory lock that serializes migrations.
_MIGRATION_LOCK = 0x686F74736561  # "hotsea"


def create_engine(url: str, *, pool_size: int = 15, pool_timeout: float = 5.0) -> AsyncEngine:
    """An async engine; for SQLite, WAL mode and foreign keys on every connection.

    Any other database is used through its SQLAlchemy async driver, such as
    ``postgresql+asyncpg://user:password@host/db`` for replicas.

    The pool keeps ``pool_size`` connections and opens no more: connections opened
    and closed around the pool under a burst cost a thread and set-up each (SQLite).
    A checkout that waits longer than ``pool_timeout`` raises ``sqlalchemy.exc.TimeoutError``,
    which clients get as ``busy`` (``hotseat.outages``).
    """
    parsed = make_url(url)
    pool: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout}
    if parsed.get_backend_name() != "sqlite":
        # Pre-ping: pooled connections die when the server restarts; a short connect timeout makes
        # a request fail fast (503) while the database is unreachable instead of hanging for 60 s.
        connect_args = {"timeout": 5} if parsed.get_driver_name() == "asyncpg" else {}
        return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)
    if not parsed.database or parsed.database == ":memory:":
        # One in-memory database per connection: SQLAlchemy's own pool for it, and plain aiosqlite.
        engine = create_async_engine(url, connect_args={"timeout": 30})
    else:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The arguments SQLAlchemy would pass to sqlite3.connect, to aiosqlite with fewer hand-offs.
        args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
        lean = sqlite.connector(*args, **{**kwargs, "timeout": 30})
        engine = create_async_engine(url, async_creator=lean, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while a turn's outcome is written; NORMAL is durable with WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together migrate one at a time (the lock ends with the transaction);
        # the others then find the schema at head.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


__all__ = ["MIGRATIONS_DIR", "Base", "create_engine", "migrate", "sessionmaker"]
