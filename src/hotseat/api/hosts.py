"""``HOTSEAT_ALLOWED_HOSTS``: answer only requests addressed to this server's own names.

A page on an attacker's domain can make its name resolve to this server's
address (DNS rebinding) and then call the API as a same-origin page would,
with its own cookies. The browser still sends the attacker's name in ``Host``,
so a list of the names the server is reached by refuses it: 400
``bad_request`` (a WebSocket handshake: HTTP 403), before anything else runs.
Empty (the default): any Host, as before.

Starlette's ``TrustedHostMiddleware`` does the same matching, but answers in
plain text; this answers with the documented JSON error.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from hotseat.api.errors import error_response
from hotseat.errors import BadRequest


def host_allowed(host: str, allowed: list[str]) -> bool:
    """``host`` (the Host header, port and all) matches a name or a ``*.suffix`` in ``allowed``."""
    if host.startswith("["):  # an IPv6 literal: [::1]:8000
        name = host[: host.find("]") + 1]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower().rstrip(".")
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.allowed or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if host_allowed(host, self.allowed):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
            return
        error = BadRequest(
            f"This server does not answer to the name {host[:100]!r}; use its address, or ask the "
            "operator to add the name to HOTSEAT_ALLOWED_HOSTS."
        )
        await error_response(error)(scope, receive, send)
