"""The mock's own minimal HTTP/1.1: request heads and bodies (plain or chunked), response heads, chunks.

Written on bare asyncio streams rather than an ASGI stack so that a token costs the mock one byte
concatenation and one socket write: the mock must never be the bottleneck of what it measures.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
from collections.abc import Sequence
from typing import Any

_MAX_HEAD = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_READ_SIZE = 64 * 1024


class HttpError(Exception):
    """A request the mock cannot frame; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Connection:
    """One client connection: a byte buffer over the reader, so that bytes read while
    watching for EOF during a response are not lost to the next request."""

    __slots__ = ("buf", "closing", "eof", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        # Set when the server itself closes the socket (Cut), so the EOF that follows is
        # not mistaken for the client hanging up.
        self.closing = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(_READ_SIZE)
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def read_head(self) -> bytes | None:
        scanned = 0
        while True:
            end = self.buf.find(b"\r\n\r\n", max(0, scanned - 3))
            if end >= 0:
                head = bytes(self.buf[:end])
                del self.buf[: end + 4]
                return head
            if len(self.buf) > _MAX_HEAD:
                raise HttpError(431, "Request headers are too large.")
            scanned = len(self.buf)
            if not await self._fill():
                return None

    async def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), n)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return line
            if len(self.buf) > _MAX_HEAD:
                raise HttpError(400, "Chunk-size line is too long.")
            if not await self._fill():
                raise asyncio.IncompleteReadError(bytes(self.buf), None)

    async def watch_eof(self) -> None:
        """Return when the client closes its side.

        A hanging stream writes nothing, so write errors alone would never reveal a
        client that went away; reading is the only reliable signal.
        """
        while await self._fill():
            if len(self.buf) > _MAX_BODY:
                # A client flooding us mid-response is not a client we need to keep.
                return


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    # latin-1 maps every byte, so decoding cannot fail on hostile input.
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "Malformed HTTP request line.")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(400, "Malformed HTTP header line.")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


async def read_body(conn: Connection, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        while True:
            line = await conn.read_line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(400, "Malformed chunk size in request body.") from None
            if size == 0:
                while await conn.read_line():
                    pass  # trailers carry nothing we use
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                raise HttpError(413, "Request body is too large.")
            parts.append(await conn.read_exact(size))
            await conn.read_exact(2)
    raw_length = headers.get("content-length")
    if raw_length is None:
        return b""
    try:
        length = int(raw_length)
    except ValueError:
        raise HttpError(400, "Malformed Content-Length header.") from None
    if length < 0:
        raise HttpError(400, "Malformed Content-Length header.")
    if length > _MAX_BODY:
        raise HttpError(413, "Request body is too large.")
    return await conn.read_exact(length)


@functools.lru_cache(maxsize=64)
def status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


def response_head(status: int, headers: Sequence[tuple[str, str]], *, keep_alive: bool) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in headers]
    if not keep_alive:
        lines.append("connection: close\r\n")
    lines.append("server: hotseat-mock-openai\r\n\r\n")
    return status_line(status) + "".join(lines).encode("latin-1")


def json_response(
    status: int, payload: Any, *, keep_alive: bool, extra: Sequence[tuple[str, str]] = ()
) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body))), *extra]
    return response_head(status, headers, keep_alive=keep_alive) + body


def chunk(payload: bytes) -> bytes:
    """``payload`` as one chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


async def close_writer(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    if abort:
        writer.transport.abort()
    else:
        writer.close()
    try:
        # Bounded, because a graceful close waits for a client that may not be reading.
        async with asyncio.timeout(5.0):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()


async def forever() -> None:
    await asyncio.get_running_loop().create_future()


# --------------------------------------------------------------------------- the server
