"""``HOTSEAT_FORWARDED_ALLOW_IPS=*``: any peer is a proxy, but for one hop only.

uvicorn's proxy headers, told to trust every peer, take the *left-most*
``X-Forwarded-For`` entry. A proxy such as nginx with
``$proxy_add_x_forwarded_for`` passes on what the client sent and appends the
address it saw, so the left-most entry is whatever the client wrote: a fresh
per-IP bucket for every request. Here only the right-most entry, the one the
proxy in front appended, is kept before uvicorn's middleware reads it.

With proxies named by address or network, uvicorn already walks the list from
the right and takes the first address that is not a named proxy; this layer
is not used then.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

_XFF = b"x-forwarded-for"


class OneHopProxyHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.proxy_headers = ProxyHeadersMiddleware(app, trusted_hosts="*")  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        forwarded = [value for name, value in scope["headers"] if name == _XFF]
        if forwarded:
            nearest = b",".join(forwarded).rsplit(b",", 1)[-1].strip()
            headers = [(name, value) for name, value in scope["headers"] if name != _XFF]
            scope = {**scope, "headers": [*headers, (_XFF, nearest)]}
        await self.proxy_headers(scope, receive, send)  # type: ignore[arg-type]
