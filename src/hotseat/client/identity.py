"""Who the terminal client is to each server, kept in the user's config directory.

A server knows its callers by owner (docs/security.md): the ``hotseat_owner`` cookie it set on the
first response, or a configured API key. The client keeps whichever it has per server in
``$XDG_CONFIG_HOME/hotseat/client.json`` (default ``~/.config/hotseat``), readable by the user
alone, so that ``hotseat sessions list`` later sees the interviews ``hotseat interview`` ran.
The in-process server is keyed by its data directory, not its port, which changes every run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hotseat.client.files import write_atomically

CONFIG_NAME = "client.json"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/hotseat``, or ``~/.config/hotseat`` (the XDG default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "hotseat"


@dataclass(slots=True)
class Credentials:
    """What the client sends a server: an API key, else the owner cookie it was given."""

    api_key: str | None = None
    cookie: str | None = None

    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"Authorization": f"Bearer {self.api_key}"}
        if self.cookie:
            return {"Cookie": f"hotseat_owner={self.cookie}"}
        return {}


class IdentityStore:
    """The credentials per server, in one small JSON file written atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else config_dir() / CONFIG_NAME

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: start afresh rather than refuse to run
        return data if isinstance(data, dict) else {}

    def load(self, server: str) -> Credentials:
        entry = self._read().get("servers", {}).get(server, {})
        if not isinstance(entry, dict):
            return Credentials()
        return Credentials(api_key=entry.get("api_key") or None, cookie=entry.get("cookie") or None)

    def save(self, server: str, credentials: Credentials) -> None:
        data = self._read()
        servers = data.setdefault("servers", {})
        servers[server] = {key: value for key, value in asdict(credentials).items() if value}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A private temporary file renamed over the old one: a crash leaves either.
        write_atomically(self.path, json.dumps(data, indent=2).encode())
