"""The HTTP half of the protocol: CVs, sessions, moves and reports under ``/api``.

Every failure comes out as a ``HotseatError``: an error response is rebuilt from its code and
message (``error_for_code``), and a server that cannot be reached becomes ``Unavailable`` with a
message that names the address, so a command can print one line and exit.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from hotseat.client.identity import Credentials
from hotseat.errors import BadRequest, HotseatError, Unauthorized, Unavailable, error_for_code

COOKIE_NAME = "hotseat_owner"
# Uploads are parsed on the server and may wait for a free parser (docs/protocol.md: up to 60 s).
TIMEOUT = httpx.Timeout(10.0, read=90.0)


def unreachable(base_url: str, reason: object) -> Unavailable:
    return Unavailable(
        f"Cannot reach the hotseat server at {base_url} ({reason}). "
        "Check --server, or start one with `hotseat serve`."
    )


def error_from_response(response: httpx.Response) -> HotseatError:
    """The server's error envelope as its ``HotseatError``; a body that is not one still reads well."""
    try:
        body = response.json()["error"]
        error = error_for_code(str(body["code"]), str(body["message"]))
        error.retry_after = body.get("retry_after")
    except (ValueError, KeyError, TypeError):
        error = error_for_code("internal", f"The server answered HTTP {response.status_code}.")
    return error


class Api:
    """Calls to one server as one owner; ``on_cookie`` is told when the server hands out a cookie."""

    def __init__(
        self, base_url: str, credentials: Credentials, on_cookie: Callable[[str], None] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self._on_cookie = on_cookie
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=TIMEOUT)
        self.model = ""  # the server's model, from its health (shown to the user)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, headers=self.credentials.headers(), **kwargs)
        except httpx.TimeoutException:
            raise Unavailable(f"The hotseat server at {self.base_url} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise unreachable(self.base_url, exc) from None
        # Not kept by the client's own cookie jar: the store is the one place credentials live.
        self._http.cookies.clear()
        cookie = response.cookies.get(COOKIE_NAME)
        if cookie and not self.credentials.api_key and cookie != self.credentials.cookie:
            self.credentials.cookie = cookie
            if self._on_cookie is not None:
                self._on_cookie(cookie)
        if response.is_error:
            error = error_from_response(response)
            if error.code == "unauthorized" and self.credentials.api_key:
                raise Unauthorized(f"The server at {self.base_url} refused the API key; check --api-key.")
            raise error
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.json("GET", "/api/health")
        self.model = str(result.get("model", ""))
        return result

    async def upload_cv(self, path: Path) -> dict[str, Any]:
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise BadRequest(f"Cannot read the CV file {str(path)!r}: {exc.strerror or exc}.") from None
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        result: dict[str, Any] = await self.json(
            "POST", "/api/cvs", files={"file": (path.name, content, kind)}
        )
        return result

    async def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.json("POST", "/api/sessions", json=body)
        return result

    async def session(self, session_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.json("GET", f"/api/sessions/{session_id}")
        return result

    async def sessions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.json("GET", "/api/sessions")
        return result

    async def delete_session(self, session_id: str) -> None:
        await self.request("DELETE", f"/api/sessions/{session_id}")

    async def move(self, session_id: str, move: str, text: str | None = None) -> str:
        """``answers`` (with ``text``), ``skip``, ``retry`` or ``finish``: the id of the turn it started."""
        body = {"json": {"text": text}} if text is not None else {}
        result = await self.json("POST", f"/api/sessions/{session_id}/{move}", **body)
        return str(result["turn_id"])

    async def cancel(self, session_id: str, turn_id: str) -> None:
        await self.request("POST", f"/api/sessions/{session_id}/turns/{turn_id}/cancel")

    async def export(self, session_id: str, fmt: str) -> bytes:
        response = await self.request("GET", f"/api/sessions/{session_id}/export", params={"format": fmt})
        return response.content

    def ws_url(self, session_id: str, turn_id: str | None, after: int) -> str:
        """``/ws?session=…``, with the turn to resume and its last seq when there is one."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query: dict[str, str | int] = {"session": session_id}
        if turn_id is not None:
            query.update(turn_id=turn_id, after=after)
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/ws", urlencode(query), ""))
