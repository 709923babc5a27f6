"""MockOpenAI: the server itself (listening, threads, connections, routing a chat request)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from doubles.mock_openai.behaviours import LLAMA_CPP_PYTHON_REFUSAL, Behaviour, Fault
from doubles.mock_openai.http1 import (
    Connection,
    HttpError,
    close_writer,
    forever,
    json_response,
    parse_head,
    read_body,
)
from doubles.mock_openai.openai_shapes import error_payload, models
from doubles.mock_openai.responses import complete, guarded, plan_reply, stream
from doubles.mock_openai.script import RequestScript

logger = logging.getLogger(__name__)
# Enough for a benchmark's burst of connects; the kernel caps it at somaxconn anyway.
_BACKLOG = 4096


class MockOpenAI(RequestScript):
    """A scriptable OpenAI-compatible server; see the module docstring.

    Run it in a background thread (:meth:`start_in_thread`, or ``with MockOpenAI() as
    mock``) from synchronous tests, or inside a running loop with ``await mock.start()``
    / ``await mock.aclose()`` (or ``async with``). :meth:`enqueue`, :attr:`default`,
    :attr:`requests` and the ``wait_*`` methods are safe to use from any thread.
    """

    def __init__(
        self,
        default: Behaviour | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "mock-model",
        honour_max_tokens: bool = False,
        keep_records: bool = True,
        response_formats: frozenset[str] | None = None,
        format_refusal: Fault = LLAMA_CPP_PYTHON_REFUSAL,
    ) -> None:
        """``honour_max_tokens`` truncates a :class:`Reply` to the request's ``max_tokens``
        (finish reason ``"length"``). ``keep_records=False`` keeps only counters, for
        long benchmark runs that must not accumulate every request body.

        ``response_formats``, when set, is the ``response_format`` types the server
        takes (``"text"`` for a request without one): any other request is answered
        with ``format_refusal`` (by default as llama-cpp-python's server refuses
        ``json_schema``) without consuming a scripted behaviour."""
        super().__init__(default, keep_records=keep_records)
        self.host = host
        self.model = model
        self.honour_max_tokens = honour_max_tokens
        self.response_formats = response_formats
        self.format_refusal = format_refusal
        self.connections_accepted = 0
        self._requested_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The bound TCP port (the OS picks one when constructed with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("mock upstream is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` for an OpenAI client, e.g. ``http://127.0.0.1:PORT/v1``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = "::1" if host == "::" else host
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> Self:
        """Bind and start serving in the running event loop."""
        if self._server is not None:
            raise RuntimeError("mock upstream is already started")
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._requested_port, backlog=_BACKLOG
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        """Stop listening, drop every open connection and wait until they are gone."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        server.close()
        tasks = list(self._conn_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()
        self._stopping = False

    async def serve_forever(self, stop: asyncio.Event | None = None) -> None:
        """Start, serve until ``stop`` is set (or this task is cancelled), then close."""
        await self.start()
        try:
            if stop is None:
                await forever()
            else:
                await stop.wait()
        finally:
            await self.aclose()

    @classmethod
    def start_in_thread(cls, default: Behaviour | None = None, **kwargs: Any) -> MockOpenAI:
        """Construct a mock and run it on its own event loop in a daemon thread."""
        return cls(default, **kwargs).run_in_thread()

    def run_in_thread(self, timeout: float = 10.0) -> Self:
        """Run this mock on its own event loop in a daemon thread; returns once it is bound."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("mock upstream is already started")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._thread_main, args=(loop, ready), name="mock-openai", daemon=True
        )
        thread.start()
        try:
            ready.result(timeout)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            raise
        self._loop, self._thread = loop, thread
        return self

    def _thread_main(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a mock started with :meth:`start_in_thread`; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def __enter__(self) -> Self:
        if self._thread is None:
            self.run_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- HTTP serving

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        self.connections_accepted += 1
        reusable = False
        try:
            reusable = await self._serve_connection(Connection(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away between or inside requests
        except asyncio.CancelledError:
            # Python 3.11's start_server callback calls task.exception() on this task, which
            # raises (and logs a traceback) if the task ends cancelled; aclose() is the only
            # canceller and only needs the task gone.
            if not self._stopping:
                raise
        except Exception:
            logger.exception("mock upstream: unexpected failure while serving a connection")
        finally:
            self._conn_tasks.discard(task)
            await close_writer(writer, abort=not reusable)

    async def _serve_connection(self, conn: Connection) -> bool:
        """Serve requests until the connection ends; False when it must be aborted."""
        while True:
            try:
                head = await conn.read_head()
                if head is None:
                    return True
                method, target, version, headers = parse_head(head)
                keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if headers.get("expect", "").lower() == "100-continue":
                    conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await read_body(conn, headers)
            except HttpError as exc:
                # The framing is unknown after a bad request, so the connection cannot be reused.
                conn.writer.write(
                    json_response(exc.status, error_payload(exc.status, exc.message), keep_alive=False)
                )
                await conn.writer.drain()
                return True
            path = target.split("?", 1)[0]
            if path == "/v1/chat/completions":
                if method != "POST":
                    await self._send_error(conn, 405, f"Use POST for {path}.", keep_alive)
                elif not await self._handle_chat(conn, headers, body, keep_alive):
                    return False
            elif path == "/v1/models":
                if method != "GET":
                    await self._send_error(conn, 405, f"Use GET for {path}.", keep_alive)
                else:
                    conn.writer.write(json_response(200, models(self.model), keep_alive=keep_alive))
                    await conn.writer.drain()
            else:
                await self._send_error(conn, 404, f"Invalid URL ({method} {path})", keep_alive)
            if not keep_alive:
                return True

    async def _send_error(
        self,
        conn: Connection,
        status: int,
        message: str,
        keep_alive: bool,
        *,
        extra: Sequence[tuple[str, str]] = (),
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        payload = error_payload(status, message, error_type, code)
        conn.writer.write(json_response(status, payload, keep_alive=keep_alive, extra=extra))
        await conn.writer.drain()

    async def _handle_chat(
        self, conn: Connection, headers: dict[str, str], raw: bytes, keep_alive: bool
    ) -> bool:
        """Serve one chat request; False when the connection is no longer usable."""
        record = self._new_record(headers)
        try:
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("the top-level JSON value must be an object")
            except ValueError as exc:  # also covers JSONDecodeError and UnicodeDecodeError
                record.status = 400
                await self._send_error(
                    conn,
                    400,
                    f"We could not parse the JSON body of your request: {exc}",
                    keep_alive,
                    code="invalid_json",
                )
                self._decide(record, "error")
                return True
            record.body = body
            behaviour = self._refusal(body) or self._take_behaviour()
            record.behaviour = behaviour
            if isinstance(behaviour, Fault):
                record.status = behaviour.status
                extra = (
                    [] if behaviour.retry_after is None else [("retry-after", f"{behaviour.retry_after:g}")]
                )
                await self._send_error(
                    conn,
                    behaviour.status,
                    behaviour.message,
                    keep_alive,
                    extra=extra,
                    error_type=behaviour.error_type,
                    code=behaviour.code,
                )
                self._decide(record, "error")
                return True
            plan = plan_reply(body, behaviour, honour_max_tokens=self.honour_max_tokens)
            respond = stream if body.get("stream") is True else complete
            sent = functools.partial(self._add_tokens, record)
            outcome = await guarded(
                conn, respond(conn, record, body, plan, keep_alive, model=self.model, sent=sent)
            )
            self._decide(record, outcome)
            return outcome == "completed"
        except asyncio.CancelledError:
            self._decide(record, "server_stopped")
            raise
        except ConnectionError:
            self._decide(record, "client_closed")
            raise
        except BaseException:
            self._decide(record, "error")
            raise

    def _refusal(self, body: dict[str, Any]) -> Fault | None:
        """``format_refusal`` if the request asks for a ``response_format`` the server does not take."""
        if self.response_formats is None:
            return None
        asked = body.get("response_format")
        kind = asked.get("type") if isinstance(asked, dict) else "text"
        return None if kind in self.response_formats else self.format_refusal


# --------------------------------------------------------------------------- CLI
