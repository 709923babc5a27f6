"""A TCP proxy that injects network faults between hotseat and its model server (tests only).

Put it between hotseat's ``openai`` backend and the mock upstream
(``HOTSEAT_OPENAI_BASE_URL=proxy.base_url``) and decide, per accepted
connection, what happens to the bytes the upstream sends back:

- ``Plan(delay=0.2)``: wait before forwarding each piece (latency);
- ``Plan(piece_bytes=3)``: forward in pieces of 3 bytes (TCP_NODELAY), so the
  client's SSE parser must reassemble lines split anywhere;
- ``Plan(stall_after=N)``: forward N bytes, then nothing more while holding the
  connection open (an upstream that hangs; N=0 hangs before the headers);
- ``Plan(reset_after=N)``: forward N bytes, then reset both sides with a TCP RST;
- ``Plan(refuse=True)``: reset the client's connection at once, before any byte.

``reset_open()`` resets every connection open at that moment, whatever its plan: a network cut
at a time the test chooses (for example, once a client has shown part of a reply).

Request bytes (client to upstream) always pass unchanged. Plans are taken in
the order connections are accepted (``enqueue``), then ``default``. Every
connection is recorded with the bytes forwarded and how it ended, so a test can
prove that the fault it scripted really happened. It depends on the standard
library only and runs in a thread of its own (``with FaultProxy(...)``) or in
a running loop (``async with``).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

__all__ = ["ConnectionRecord", "FaultProxy", "Plan"]

_READ_SIZE = 64 * 1024

Outcome = Literal["closed", "reset", "stalled", "refused"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What the proxy does to the response bytes of one connection; the default passes them through."""

    delay: float = 0.0
    piece_bytes: int = 0
    stall_after: int | None = None
    reset_after: int | None = None
    refuse: bool = False

    def __post_init__(self) -> None:
        if self.delay < 0 or self.piece_bytes < 0:
            raise ValueError("delay and piece_bytes must not be negative")
        if self.stall_after is not None and self.reset_after is not None:
            raise ValueError("a plan stalls or resets, not both")


@dataclass(slots=True)
class ConnectionRecord:
    """One accepted connection: its plan, bytes forwarded each way, and how it ended (None: open)."""

    index: int
    plan: Plan
    bytes_up: int = 0
    bytes_down: int = 0
    outcome: Outcome | None = None


class FaultProxy:
    def __init__(
        self, target_host: str, target_port: int, *, default: Plan | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.target = (target_host, target_port)
        self.default = default if default is not None else Plan()
        self.host = host
        self._queue: collections.deque[Plan] = collections.deque()
        self._records: list[ConnectionRecord] = []
        self._cond = threading.Condition()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Both sides of each connection still open, by record index (for reset_open).
        self._open: dict[int, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and observing (any thread) ---------------------------------------

    def enqueue(self, *plans: Plan) -> None:
        """Plans for the next connections, in the order they are accepted."""
        with self._cond:
            self._queue.extend(plans)

    @property
    def connections(self) -> list[ConnectionRecord]:
        with self._cond:
            return list(self._records)

    def wait_until(self, predicate: Callable[[list[ConnectionRecord]], bool], timeout: float = 10.0) -> None:
        """Block until ``predicate(records)`` holds; re-checked whenever a connection changes."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._records), timeout):
                raise TimeoutError(f"fault proxy: condition not met within {timeout} s: {self._records}")

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("fault proxy is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` through the proxy, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def reset_open(self) -> int:
        """Reset both sides of every open connection now; returns how many (from any thread)."""
        if self._loop is not None:
            return asyncio.run_coroutine_threadsafe(self._reset_open(), self._loop).result(10)
        raise RuntimeError("reset_open() from another thread needs the proxy started with `with`")

    async def _reset_open(self) -> int:
        opened = list(self._open.items())
        for index, sides in opened:
            self._end(self._records[index], "reset")
            for side in sides:
                _reset(side)
        return len(opened)

    # -- proxying ---------------------------------------------------------------------

    def _take(self) -> ConnectionRecord:
        with self._cond:
            plan = self._queue.popleft() if self._queue else self.default
            record = ConnectionRecord(len(self._records), plan)
            self._records.append(record)
            self._cond.notify_all()
        return record

    def _update(self, record: ConnectionRecord, *, up: int = 0, down: int = 0) -> None:
        with self._cond:
            record.bytes_up += up
            record.bytes_down += down
            self._cond.notify_all()

    def _end(self, record: ConnectionRecord, outcome: Outcome) -> None:
        with self._cond:
            if record.outcome is None:
                record.outcome = outcome
            self._cond.notify_all()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = self._take()
        upstream: asyncio.StreamWriter | None = None
        outcome: Outcome = "closed"
        try:
            if record.plan.refuse:
                outcome = "refused"
                return
            try:
                up_reader, upstream = await asyncio.open_connection(*self.target)
            except OSError:
                outcome = "refused"
                return
            _no_delay(writer)
            self._open[record.index] = (writer, upstream)
            outcome = await self._pump(record, reader, writer, up_reader, upstream)
        except asyncio.CancelledError:
            pass  # the proxy is closing
        finally:
            self._tasks.discard(task)
            self._open.pop(record.index, None)
            self._end(record, outcome)
            for side in (writer, upstream):
                if side is None:
                    continue
                if outcome in ("reset", "refused"):
                    _reset(side)
                else:
                    side.close()

    async def _pump(
        self,
        record: ConnectionRecord,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
    ) -> Outcome:
        """Forward both ways until either side closes or the plan's fault ends it."""
        requests = asyncio.create_task(self._forward_requests(record, reader, upstream))
        responses = asyncio.create_task(self._forward_responses(record, up_reader, writer))
        try:
            done, _ = await asyncio.wait([requests, responses], return_when=asyncio.FIRST_COMPLETED)
            if responses in done:
                return responses.result()
            # The client went away (or stopped sending): an upstream still replying is cut off.
            return "stalled" if record.plan.stall_after is not None else "closed"
        finally:
            for task in (requests, responses):
                task.cancel()
            await asyncio.gather(requests, responses, return_exceptions=True)

    async def _forward_requests(
        self, record: ConnectionRecord, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(_READ_SIZE):
                upstream.write(data)
                await upstream.drain()
                self._update(record, up=len(data))

    async def _forward_responses(
        self, record: ConnectionRecord, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Outcome:
        plan = record.plan
        cut = plan.stall_after if plan.stall_after is not None else plan.reset_after
        sent = 0
        try:
            while cut is None or sent < cut:
                data = await up_reader.read(_READ_SIZE)
                if not data:
                    return "closed"
                if cut is not None:
                    data = data[: cut - sent]
                for piece in _pieces(data, plan.piece_bytes):
                    if plan.delay:
                        await asyncio.sleep(plan.delay)
                    writer.write(piece)
                    await writer.drain()
                    sent += len(piece)
                    self._update(record, down=len(piece))
        except ConnectionError:
            return "closed"
        if plan.reset_after is not None:
            return "reset"
        # Stalled: hold the connection open, silent, until the client gives up.
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._on_connection, self.host, 0)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
                ready.set_result(None)
                loop.run_forever()
            except BaseException as exc:  # reported to the starting thread
                if not ready.done():
                    ready.set_exception(exc)
            finally:
                loop.close()

        thread = threading.Thread(target=main, name="fault-proxy", daemon=True)
        thread.start()
        ready.result(10)
        self._loop, self._thread = loop, thread
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


def _pieces(data: bytes, size: int) -> list[bytes]:
    if size <= 0 or len(data) <= size:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


def _no_delay(writer: asyncio.StreamWriter) -> None:
    # Small pieces must leave as separate segments, not be coalesced by Nagle's algorithm.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST rather than a FIN: linger on, timeout zero, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
