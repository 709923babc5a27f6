"""Requests from other sites: which origins may change state, and JSON only where JSON is expected.

A browser sends the owner's cookie (SameSite=Lax) with requests from pages of
the same *site*: other ports of ``localhost``, sibling subdomains. So a
state-changing HTTP request (POST, PUT, PATCH, DELETE) is refused with 403
``forbidden`` unless it comes from this origin or one in
``HOTSEAT_ALLOWED_ORIGINS``: its ``Sec-Fetch-Site`` must be ``same-origin``
(or ``none``, typed by the user), or, from a browser that does not send that,
its ``Origin`` must match. A request with neither header is not from a
browser, so cross-site request forgery does not apply to it; it still needs
its owner's cookie or key. The WebSocket handshake is checked the same way by
``origin_allowed`` (``api/ws.py``).

A body sent to a JSON endpoint must say ``Content-Type: application/json``
(415 ``unsupported_type`` otherwise): a cross-site form or ``no-cors`` fetch
can only send ``text/plain``, forms or multipart, never that. The routes that
take a recording (spoken answers, transcripts) accept multipart too; for them
the ``Sec-Fetch-Site``/``Origin`` check above is what stops a cross-site form.
"""

from __future__ import annotations

import re

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from hotseat.api.errors import error_response
from hotseat.errors import Forbidden, HotseatError, UnsupportedType

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of a request this page made, or the user typed.
_OWN_SITE = frozenset({"same-origin", "none"})
# The one route whose body is not JSON (a multipart CV upload).
_NOT_JSON = frozenset({"/api/cvs"})
# Routes that take JSON or a multipart recording (spoken answers, transcripts: docs/speech.md).
_JSON_OR_RECORDING = re.compile(r"^/api/sessions/[^/]+/(answers|transcripts)$")


def origin_allowed(connection: HTTPConnection, allowed: list[str]) -> bool:
    """The request's Origin is one of ``allowed``, or, when that is empty, this server's own (as
    its Host names it).

    A request without Origin is not from a browser's cross-origin context, so this passes it.
    """
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return origin in allowed
    host = connection.headers.get("host", "")
    scheme = "https" if connection.url.scheme in ("https", "wss") else "http"
    return origin == f"{scheme}://{host}"


def same_site_request(connection: HTTPConnection, allowed: list[str]) -> bool:
    """A state change this server's own pages (or an allowed origin) may have made."""
    fetch_site = connection.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() in _OWN_SITE:
        return True
    if fetch_site is not None and "origin" not in connection.headers:
        return False  # a browser said it is another site, and named no origin to allow
    return origin_allowed(connection, allowed)


class CrossSiteMiddleware:
    """Refuses state changes from other sites, and non-JSON bodies to JSON endpoints."""

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        error: HotseatError
        if not same_site_request(connection, self.allowed):
            error = Forbidden(
                "This request came from another site's page, so it was refused; use this server's "
                "own page, or ask the operator to add that origin to HOTSEAT_ALLOWED_ORIGINS."
            )
            await error_response(error)(scope, receive, send)
            return
        if _has_body(connection) and not _body_type_accepted(scope["path"], connection):
            error = UnsupportedType(
                "Send the request body as JSON, with the header Content-Type: application/json."
            )
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_body(connection: HTTPConnection) -> bool:
    length = connection.headers.get("content-length")
    return "transfer-encoding" in connection.headers or (length is not None and length.strip() != "0")


def _body_type_accepted(path: str, connection: HTTPConnection) -> bool:
    if path in _NOT_JSON or _is_json(connection):
        return True
    return _JSON_OR_RECORDING.match(path) is not None and _media_type(connection) == "multipart/form-data"


def _media_type(connection: HTTPConnection) -> str:
    return connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(connection: HTTPConnection) -> bool:
    media_type = _media_type(connection)
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
