"""An in-process hotseat server, for a terminal client given no ``--server``.

It runs with the operator's settings (``HOTSEAT_*`` and ``.env``, so the same database, packs and
backend as ``hotseat serve``) on a free port of 127.0.0.1, in a thread of this process, for as long
as the command runs; the client talks to it over the same public protocol as to any server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import ValidationError

from hotseat.config import Settings
from hotseat.errors import BadRequest, Unavailable

# Turns still running when the command ends get this long before they end as interrupted: nobody
# is left to read them, and the user is waiting for the prompt.
LOCAL_SHUTDOWN_GRACE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class LocalServer:
    base_url: str
    # What the client keys its identity by: the data directory, whose secret signs the cookie.
    identity_key: str


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """Start the app on a free port, yield where it listens, stop it (draining) on exit."""
    from hotseat.app import create_app
    from hotseat.serving import ServerThread, uvicorn_config_kwargs

    try:
        settings = Settings()
    except ValidationError as invalid:
        problem = invalid.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise BadRequest(f"Invalid setting HOTSEAT_{where.upper()}: {problem['msg']}.") from None
    settings = settings.model_copy(update={"shutdown_grace_seconds": LOCAL_SHUTDOWN_GRACE_SECONDS})
    config = uvicorn_config_kwargs(settings)
    # The terminal is the user's: only real failures of the server may print to it.
    config.update(log_level="error", access_log=False)
    logging.getLogger("hotseat").setLevel(logging.ERROR)
    try:
        server = ServerThread(create_app(settings), **config).start(timeout=120)
    except RuntimeError:
        raise Unavailable(
            "The built-in server did not start; run `hotseat serve` to see why, "
            "or pass --server URL to use a running one."
        ) from None
    try:
        yield LocalServer(server.base_url, f"local:{settings.data_dir.resolve()}")
    finally:
        server.stop()
