"""The uvicorn server that ``hotseat serve`` (and the test server) runs: it drains before closing.

uvicorn's own shutdown closes every WebSocket with 1012 at once and cuts
SSE responses, and only then runs the app's lifespan shutdown; a turn still
generating would be interrupted with nobody left to tell. ``HotseatServer``
inserts one step first: stop accepting connections, then await the app's
``state.drain`` (``hotseat.app.drain``: let turns finish up to the grace
period, interrupt the rest, deliver every terminal event, close WebSockets
with 1012). uvicorn's shutdown then finds little left to close. An app without
a drain hook is shut down exactly as plain uvicorn would.

Without an access log (``HOTSEAT_ACCESS_LOG=false``, the default) it also
mutes uvicorn's per-connection WebSocket lines ("[accepted]", "connection
open", "connection closed"), which uvicorn writes at INFO on its error logger
whatever the access-log setting: while serving, that logger shows warnings and
errors only; start-up and shutdown messages are kept.

WebSockets are served by ``LingeringWebSocketsProtocol``: when a client's
message is over ``HOTSEAT_WS_MAX_MESSAGE_BYTES``, the close 1009 must reach it.
uvicorn wrote the close frame and closed the socket at once, with the rest of
the message unread, and a socket closed with unread data sends a TCP reset:
the client saw the connection reset, not why.

HTTP is served by ``HeadDeadlineHttpProtocol``: uvicorn puts no deadline on
a request's head, so a client that connects and sends nothing, or a head a
byte at a time, held its socket (and a file descriptor) forever. A head that
is not complete ``HOTSEAT_REQUEST_HEAD_TIMEOUT_SECONDS`` after the connection
opened (or after the previous response, for the next one) closes it. Between
requests uvicorn's keep-alive timeout (5 s) already applies.

``hotseat serve`` raises the soft limit on open files to the hard one
(``raise_open_files_limit``): it is often 1,024, fewer than the connections
the server is configured to hold.

It also sets ``TCP_USER_TIMEOUT`` (Linux) on the listening sockets, from the
app's ``state.tcp_user_timeout``; accepted connections inherit it. A peer that
stops reading leaves bytes unsent behind a zero window, and neither uvicorn
nor asyncio ever aborts such a socket: closing it waits for a flush that never
comes, holding the descriptor and its buffers. With the option, the kernel
drops the connection once nothing has moved for that long.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from hotseat.config import Settings

# Lifecycle messages go where uvicorn's own ("Shutting down", ...) go.
logger = logging.getLogger("uvicorn.error")

Drain = Callable[[], Awaitable[None]]


def drain_hook(app: Any) -> Drain | None:
    """The app's ``state.drain`` coroutine function, if it has one."""
    state = getattr(app, "state", None)
    hook: Drain | None = getattr(state, "drain", None)
    return hook


def user_timeout_of(app: Any) -> float | None:
    """The app's ``state.tcp_user_timeout`` in seconds, if it asks for one."""
    value = getattr(getattr(app, "state", None), "tcp_user_timeout", None)
    return float(value) if value else None


# Collections of the youngest generation come every GC_YOUNG_THRESHOLD allocations (CPython's
# default is 700): a turn allocates thousands of short-lived objects, mostly freed by reference
# counting, so the default ran a collection several times per turn.
GC_YOUNG_THRESHOLD = 20_000
# The middle generation is collected every GC_MIDDLE_THRESHOLD young collections (default 10).
# Each walks every promoted object still alive: with 1,000 streams open (bench S2), the state of
# the turns in progress, with the event loop stopped; each such pause showed as a spike in the
# time to first token of the sessions starting then (docs/performance.md). Nearly none of it is
# garbage: the cyclic garbage is a few objects per closed WebSocket (uvicorn's, websockets' and
# Starlette's own cycles), which now waits up to ten times longer to be freed.
GC_MIDDLE_THRESHOLD = 100


def settle_garbage_collector() -> None:
    """Once the app has started: move everything allocated so far (modules, settings, pools, the
    packs) out of the collector's reach, and collect the young and middle generations less often.

    Those objects live as long as the process, yet every full collection walked them all. The
    young threshold cuts a turn's CPU (bench T1); the middle one removes most of the pauses
    behind the tail of S2's time to first token (both in docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    old = gc.get_threshold()[2]
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, old)


# After failing a WebSocket, how long the rest of what its client sends is read and dropped.
LINGER_SECONDS = 5.0


class LingeringWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, with a lingering close after a failure (a message too big).

    The close frame (1009 with its reason) goes out followed by our FIN, and what the client
    still sends is read and dropped (the parser discards it) until it closes too, or for at
    most ``LINGER_SECONDS``: the client reads the close frame instead of a reset.
    """

    lingering = False

    def handle_parser_exception(self) -> None:
        if self.lingering:
            return  # every later chunk reports the same failure; it is being dropped
        self.lingering = True
        close = self.conn.close_sent
        if close is None:  # a parser failure always sends a close frame; if not, do as uvicorn does
            super().handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        # The client's FIN closes the transport (eof_received returns None); this bounds a client
        # that keeps sending.
        self.close_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)


class HeadDeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, closing a connection whose request head is late (``head_timeout``)."""

    head_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def head_deadline_protocol(seconds: float) -> type[HeadDeadlineHttpProtocol]:
    """The HTTP protocol class for uvicorn's ``http`` option, with a head deadline of ``seconds``."""
    return type("HeadDeadlineHttpProtocol", (HeadDeadlineHttpProtocol,), {"head_timeout": seconds})


# Where an unlimited hard limit is capped: Linux's default fs.nr_open.
_OPEN_FILES_CEILING = 1_048_576


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit; returns (before, after).

    Every connection is a file descriptor: the usual soft limit of 1,024 would refuse
    connections (``accept`` fails with EMFILE) long before HOTSEAT_MAX_CONNECTIONS.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-files limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        return soft, target
    return soft, soft


class HotseatServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, whole_process: bool = False) -> None:
        """``whole_process``: the server owns its process (``hotseat serve``), so it may tune the
        garbage collector; a test server shares the test runner's process and leaves it alone."""
        super().__init__(config)
        self.whole_process = whole_process
        self._muted_level: int | None = None  # uvicorn's error-log level before it was muted

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.whole_process:
            settle_garbage_collector()
        if not self.config.access_log and logger.level == logging.INFO:
            self._muted_level = logger.level
            logger.setLevel(logging.WARNING)
        timeout = user_timeout_of(self.config.app)
        if timeout is None or not hasattr(socket, "TCP_USER_TIMEOUT"):
            return
        for server in self.servers:
            for sock in server.sockets:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout * 1000))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._muted_level is not None:
            logger.setLevel(self._muted_level)
            self._muted_level = None
        drain = drain_hook(self.config.app)
        if drain is not None and not self.force_exit:
            # Stop accepting first, as uvicorn would; closing twice is harmless.
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            logger.info("Draining: finishing running turns before closing connections")
            try:
                await drain()
            except Exception:
                logger.exception("draining the app failed; shutting down anyway")
        await super().shutdown(sockets)


class ServerThread:
    """A ``HotseatServer`` on a free port of 127.0.0.1 in a background thread, stopped on exit.

    ``with ServerThread(app) as server: server.base_url``. Tests and benchmarks run their servers
    this way, and so does the terminal client when it has no ``--server`` to talk to.
    """

    def __init__(self, app: Any, **config: Any) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config.setdefault("log_level", "warning")
        # The server hotseat serve runs, so tests see the same drain at shutdown.
        self._server = HotseatServer(uvicorn.Config(app, lifespan="on", **config))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def socket(self) -> socket.socket:
        """The listening socket; options set on it before ``start`` are inherited by connections."""
        return self._sock

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        # Let tasks the server left behind (stream watchers) finish cancelling before the loop goes.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def start(self, timeout: float = 30.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def uvicorn_config_kwargs(settings: Settings) -> dict[str, Any]:
    """Server options that come from the settings (``serve``, the client's local server, tests)."""
    return {
        "http": head_deadline_protocol(settings.request_head_timeout_seconds),
        "ws": LingeringWebSocketsProtocol,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_seconds,
        "ws_ping_timeout": settings.ws_ping_seconds,
        "ws_per_message_deflate": settings.ws_compression,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds + 5,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        # Only from the proxies named: anyone else could claim any address in X-Forwarded-For.
        # "*" is handled by the app instead (api/forwarded.py): uvicorn would take the left-most entry.
        "proxy_headers": bool(settings.forwarded_allow_ips) and not settings.trusts_any_proxy(),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
    }
