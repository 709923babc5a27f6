"""Writing the client's files (its identity, an exported report) whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from hotseat.errors import BadRequest


def write_atomically(path: Path, content: bytes) -> None:
    """All of the file or none of it: a temporary file beside it, renamed over it."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise BadRequest(f"Cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BadRequest(f"Cannot write {str(path)!r}: {exc.strerror or exc}.") from None
