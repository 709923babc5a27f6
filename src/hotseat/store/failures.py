"""The database's failures as the errors clients understand, raised where they happen.

A statement that cannot reach the database (connection refused, lost, or the server
restarting) becomes ``DatabaseUnavailable`` (503 ``unavailable``, retryable); a pool with no
connection free within ``HOTSEAT_DATABASE_POOL_TIMEOUT_SECONDS`` becomes ``DatabaseBusy`` (503
``busy``). Both keep the original as ``__cause__`` for the log. Anything else (a constraint, a
bug in a query) propagates unchanged: the store handles the constraints it expects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import exc as sa

from hotseat.errors import DATABASE_BUSY_MESSAGE, DATABASE_DOWN_MESSAGE, DatabaseBusy, DatabaseUnavailable


def database_error(exc: BaseException) -> DatabaseBusy | DatabaseUnavailable | None:
    """``exc`` as the error a client gets, if the database is out of reach or its pool exhausted."""
    if isinstance(exc, sa.TimeoutError):  # no pooled connection came free in time
        return DatabaseBusy(DATABASE_BUSY_MESSAGE, retry_after=2)
    if isinstance(exc, sa.DBAPIError):
        lost = exc.connection_invalidated or isinstance(exc, sa.OperationalError | sa.InterfaceError)
        return DatabaseUnavailable(DATABASE_DOWN_MESSAGE, retry_after=2) if lost else None
    # Connecting, asyncpg raises its own errors and refused or reset sockets without wrapping them.
    if isinstance(exc, ConnectionError) or type(exc).__module__.startswith("asyncpg"):
        return DatabaseUnavailable(DATABASE_DOWN_MESSAGE, retry_after=2)
    return None


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Raise the database failures inside the block as ``DatabaseBusy`` or ``DatabaseUnavailable``."""
    try:
        yield
    except Exception as exc:
        error = database_error(exc)
        if error is None:
            raise
        raise error from exc
