"""A deliberately cheap HTTP/1.1 client and SSE decoder on bare asyncio streams.

The load generator shares two cores with the servers it measures, so it does
the least work that still reads every byte: one ``read()`` per socket wake-up,
chunked transfer decoding over a ``bytearray``, and SSE events split on blank
lines. Every byte read from the socket is counted in ``received`` (status line,
headers, chunk framing and payload), which is what "bytes on the wire" means in
the benchmark table. Only what the benchmark needs is implemented: keep-alive,
``Content-Length`` and chunked bodies, bodies that end at EOF, and one cookie
(kept from ``Set-Cookie`` and sent back, as a browser would).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_READ_SIZE = 256 * 1024
_MAX_HEAD = 64 * 1024
# Bounds for loops that wait on the network; far above anything a benchmark produces.
_MAX_READS = 10_000_000


class HttpError(Exception):
    """The server broke the HTTP framing, or the connection ended early."""


@dataclass(slots=True)
class Head:
    status: int
    headers: dict[str, str]


@dataclass(slots=True)
class SseEvent:
    event: str
    data: bytes
    id: str | None = None


class HttpConnection:
    """One keep-alive connection; requests are sent one after another."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host
        self._buf = bytearray()
        self.received = 0
        self.cookie: str | None = None  # "name=value" from the last Set-Cookie
        # Body framing of the response being read.
        self._chunked = False
        self._length: int | None = None

    @classmethod
    async def open(cls, host: str, port: int, local_host: str | None = None) -> HttpConnection:
        local_addr = (local_host, 0) if local_host else None
        reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr, limit=_READ_SIZE)
        return cls(reader, writer, f"{host}:{port}")

    def abort(self) -> None:
        self._writer.transport.abort()

    async def aclose(self) -> None:
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        except (TimeoutError, ConnectionError):
            self.abort()

    async def _fill(self) -> bool:
        data = await self._reader.read(_READ_SIZE)
        if not data:
            return False
        self.received += len(data)
        self._buf += data
        return True

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Head:
        """Send a request and read the response head; then read the body with ``body`` or ``stream``."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        for _ in range(_MAX_READS):
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEAD or not await self._fill():
                raise HttpError("connection closed before the response head")
        else:
            raise HttpError("response head never ended")
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        status = int(head[0].split(" ", 2)[1])
        parsed: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
        if "set-cookie" in parsed:
            self.cookie = parsed["set-cookie"].split(";", 1)[0]
        self._chunked = parsed.get("transfer-encoding", "").lower() == "chunked"
        length = parsed.get("content-length")
        self._length = int(length) if length is not None else None
        if method == "HEAD" or status in (204, 304):
            self._length = 0
        return Head(status, parsed)

    async def body(self) -> bytes:
        """The whole response body."""
        return b"".join([piece async for piece in self.stream()])

    async def stream(self) -> AsyncIterator[bytes]:
        """The response body, one piece per socket read (chunk framing removed)."""
        if self._chunked:
            decoder = _ChunkDecoder()
            pieces, finished = decoder.feed(self._buf)
            for _ in range(_MAX_READS):
                if pieces:
                    yield b"".join(pieces)
                if finished:
                    return
                if not await self._fill():
                    raise HttpError("connection closed inside a chunked body")
                pieces, finished = decoder.feed(self._buf)
            raise HttpError("chunked body never ended")
        if self._length is not None:
            left = self._length
            for _ in range(_MAX_READS):
                if self._buf and left:
                    take = min(left, len(self._buf))
                    piece = bytes(self._buf[:take])
                    del self._buf[:take]
                    left -= take
                    yield piece
                if not left:
                    return
                if not await self._fill():
                    raise HttpError("connection closed inside a body")
            raise HttpError("body never ended")
        for _ in range(_MAX_READS):  # until EOF
            if self._buf:
                piece = bytes(self._buf)
                self._buf.clear()
                yield piece
            if not await self._fill():
                return


@dataclass(slots=True)
class _ChunkDecoder:
    """Incremental chunked transfer decoding that consumes from the caller's buffer."""

    left: int = 0  # payload bytes still to come in the current chunk
    crlf: bool = False  # the CRLF after a chunk's payload is still to be consumed
    last: bool = False  # the zero-size chunk was seen; its final CRLF is next

    def feed(self, buf: bytearray) -> tuple[list[bytes], bool]:
        pieces: list[bytes] = []
        for _ in range(len(buf) + 2):
            if self.crlf:
                if len(buf) < 2:
                    break
                del buf[:2]
                self.crlf = False
            if self.last:
                if len(buf) < 2:
                    break
                del buf[:2]  # no trailers are sent by the servers measured here
                return pieces, True
            if self.left == 0:
                nl = buf.find(b"\r\n")
                if nl < 0:
                    break
                size = int(bytes(buf[:nl]).split(b";", 1)[0], 16)
                del buf[: nl + 2]
                if size == 0:
                    self.last = True
                    continue
                self.left = size
            take = min(self.left, len(buf))
            if take == 0:
                break
            pieces.append(bytes(buf[:take]))
            del buf[:take]
            self.left -= take
            if self.left:
                break
            self.crlf = True
        return pieces, False


@dataclass(slots=True)
class SseDecoder:
    """Split an event stream into events (``\\n`` or ``\\r\\n`` line ends; comments skipped)."""

    _buf: bytearray = field(default_factory=bytearray)
    _cr: bool = False

    def feed(self, data: bytes) -> list[SseEvent]:
        if self._cr:
            data = b"\r" + data
            self._cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._cr = True
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        buf = self._buf
        buf += data
        events: list[SseEvent] = []
        start = 0
        for _ in range(len(buf)):
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            event = _parse_event(bytes(buf[start:end]))
            start = end + 2
            if event is not None:
                events.append(event)
        if start:
            del buf[:start]
        return events


def _parse_event(block: bytes) -> SseEvent | None:
    kind, ident, data = "message", None, []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            kind = value.decode()
        elif name == b"id":
            ident = value.decode()
    if not data and kind == "message":
        return None  # a comment-only block (keep-alive)
    return SseEvent(kind, b"\n".join(data), ident)
