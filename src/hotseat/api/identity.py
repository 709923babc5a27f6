"""Who is asking: an owner id for every request, from an API key or a signed cookie.

- ``Authorization: Bearer <key>`` with a key from ``HOTSEAT_API_KEYS``: the owner
  is derived from the key (``key:<hash>``), so a programmatic client keeps its
  sessions across processes. A bearer key that is not configured is refused.
- Otherwise the browser's ``hotseat_owner`` cookie: a random id and its HMAC,
  HttpOnly and SameSite=Lax. A request without a valid one gets a new id, and
  the HTTP response (or the WebSocket's accept) sets the cookie. With secure
  cookies it is ``__Host-hotseat_owner`` (Secure, Path=/, no Domain: no sibling
  subdomain or plain-HTTP page can set it); a valid plain ``hotseat_owner``
  from before is still honoured, and replaced.

The Cookie header is split by hand (``cookie_values``), as browsers do: the
standard library's ``SimpleCookie`` drops every cookie after one it cannot
parse, and other apps on the same host set such cookies.

The owner goes into ``scope["state"]["owner"]``; routes read it with
``owner_of``. Ownership itself is checked where sessions and CVs are loaded
(``api/deps.py``; for a move over HTTP, in the transcript read the move starts with,
``InterviewService.transcript``): anything not yours is a 404, exactly like what does not exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

import orjson
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotseat.errors import Unauthorized

COOKIE_NAME = "hotseat_owner"
# The name with secure cookies: browsers accept it only with Secure, Path=/ and no Domain.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
# A value we sign is a 22-character owner, a dot and 32 hex digits: anything much longer is not ours.
_LONGEST_SIGNED = 128
# The shortest secret_key file accepted (a generated one has 43).
MIN_SECRET_BYTES = 16
# Paths that carry no owner (HOTSEAT_METRICS_TOKEN guards them, not a cookie or API key).
_OWNERLESS_PATHS = frozenset({"/metrics"})
# Open even when an API key is required: the page's files, and the load balancer's probes.
_KEYLESS_PATHS = frozenset({"/", "/favicon.ico", "/api/health", "/api/ready"})
_KEYLESS_PREFIXES = ("/static/",)


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The cookie-signing secret: configured, or generated once and kept in the data dir."""
    if configured:
        return configured.encode()
    path = data_dir / "secret_key"
    if path.exists():
        secret = path.read_bytes().strip()
        if len(secret) < MIN_SECRET_BYTES:
            # An empty (truncated) file would sign every cookie with a key anyone knows.
            raise ValueError(
                f"{path} holds {len(secret)} bytes; a cookie-signing key needs at least "
                f"{MIN_SECRET_BYTES}. Delete the file to have a new one generated (every browser "
                "then gets a new owner), or set HOTSEAT_SECRET_KEY."
            )
        return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32).encode()
    path.touch(mode=0o600)
    path.write_bytes(secret)
    return secret


class Identity:
    def __init__(
        self,
        secret: bytes,
        api_keys: Iterable[str],
        *,
        secure_cookie: bool = False,
        require_key: bool = False,
    ) -> None:
        self._secret = secret
        self._keys = {key: "key:" + hashlib.sha256(key.encode()).hexdigest()[:24] for key in api_keys if key}
        self._secure = secure_cookie
        # Every request proves its owner with the same cookie value: what a value proves is kept
        # rather than an HMAC computed per request. Bounded, so made-up cookies cannot grow it.
        self._verified = functools.lru_cache(maxsize=4096)(self._verify)
        # HOTSEAT_REQUIRE_API_KEY: no cookie owners at all, only the configured keys.
        self.require_key = require_key

    def sign(self, owner: str) -> str:
        mac = hmac.new(self._secret, owner.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{owner}.{mac}"

    def verify(self, value: str) -> str | None:
        """The owner a signed cookie value names, or None if it is not one we signed."""
        if len(value) > _LONGEST_SIGNED:
            return None  # not ours, and not to be kept in the cache
        return self._verified(value)

    def _verify(self, value: str) -> str | None:
        owner, _, _mac = value.rpartition(".")
        # A value we signed is ASCII; the header arrives decoded as Latin-1, so it may not be.
        if not owner or not value.isascii():
            return None
        if not hmac.compare_digest(self.sign(owner).encode(), value.encode()):
            return None
        return owner

    @property
    def cookie_name(self) -> str:
        return SECURE_COOKIE_NAME if self._secure else COOKIE_NAME

    def owner_from_cookies(self, header: str) -> tuple[str | None, bool]:
        """The owner the Cookie header proves, and whether its cookie should be set again.

        The first value that verifies wins: two cookies of the same name (one set by another
        app on a parent domain, say) cost the owner nothing. With secure cookies, a valid
        plain ``hotseat_owner`` from before still counts, and is replaced by the ``__Host-`` one.
        """
        names = [SECURE_COOKIE_NAME, COOKIE_NAME] if self._secure else [COOKIE_NAME]
        for name in names:
            for value in cookie_values(header, name):
                owner = self.verify(value)
                if owner is not None:
                    return owner, name != self.cookie_name
        return None, True

    def owner_for_key(self, key: str) -> str | None:
        return self._keys.get(key)

    def cookie_header(self, owner: str) -> bytes:
        attributes = (
            f"{self.cookie_name}={self.sign(owner)}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax"
        )
        if self._secure:
            attributes += "; Secure"
        return attributes.encode()


class OwnerMiddleware:
    """Pure ASGI, so WebSocket handshakes get an owner too and streaming bodies pass untouched."""

    def __init__(self, app: ASGIApp, identity: Identity) -> None:
        self.app = app
        self.identity = identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in _OWNERLESS_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = ""
        cookies: list[str] = []
        for name, value in _latin1_headers(scope["headers"]):
            if name == "authorization":
                authorization = value
            elif name == "cookie":  # HTTP/2 may split the cookies over several headers
                cookies.append(value)
        owner: str | None = None
        new_cookie = False
        if authorization[:7].lower() == "bearer ":
            owner = self.identity.owner_for_key(authorization[7:].strip())
            if owner is None:
                await _refuse(
                    scope, receive, send, "Unknown API key; check the Authorization: Bearer header."
                )
                return
        elif self.identity.require_key:
            if _keyless(scope["path"]):
                await self.app(scope, receive, send)
                return
            await _refuse(
                scope,
                receive,
                send,
                "This server requires an API key (HOTSEAT_REQUIRE_API_KEY): send Authorization: Bearer "
                "<key> with a key from its operator.",
            )
            return
        else:
            owner, new_cookie = self.identity.owner_from_cookies("; ".join(cookies))
            if owner is None:
                owner = secrets.token_urlsafe(16)
        state = scope.setdefault("state", {})
        state["owner"] = owner
        if not new_cookie:
            await self.app(scope, receive, send)
            return
        set_cookie = self.identity.cookie_header(owner)
        if scope["type"] == "websocket":
            # The endpoint sets it on its accept (``accept_headers``): wrapping ``send`` here would
            # cost every frame the connection sends a call.
            state["set_cookie"] = set_cookie
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", set_cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def owner_of(connection: HTTPConnection) -> str:
    owner: str = connection.scope["state"]["owner"]
    return owner


def accept_headers(connection: HTTPConnection) -> list[tuple[bytes, bytes]]:
    """Headers for a WebSocket's accept: the new owner's cookie, if the handshake had none.

    A session started on the socket (``?pack=`` or a ``start`` frame) belongs to that owner, so
    without the cookie a browser could not reconnect to it.
    """
    set_cookie: bytes | None = connection.scope["state"].get("set_cookie")
    return [(b"set-cookie", set_cookie)] if set_cookie is not None else []


def cookie_values(header: str, name: str) -> list[str]:
    """Every value of the cookie ``name`` in a Cookie header, in order, whatever else it holds.

    Split on ``;`` and the first ``=``, as browsers send it (RFC 6265 section 5.4); a value in
    double quotes loses them. Nothing another cookie holds (spaces, quotes, non-ASCII, no
    ``=``) can hide this one.
    """
    values = []
    for pair in header.split(";"):
        key, eq, value = pair.partition("=")
        if eq and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    return values


def _latin1_headers(raw: Iterable[tuple[bytes, bytes]]) -> Iterable[tuple[str, str]]:
    for name, value in raw:
        yield name.decode("latin-1").lower(), value.decode("latin-1")


def _keyless(path: str) -> bool:
    return path in _KEYLESS_PATHS or path.startswith(_KEYLESS_PREFIXES)


async def _refuse(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    error = Unauthorized(message)
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": "API key refused or missing"})
        return
    body = orjson.dumps({"error": error.to_dict()})
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
        }
    )
    await send({"type": "http.response.body", "body": body})
