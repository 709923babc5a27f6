"""Request bodies counted as they arrive: one past its route's limit is answered 413 early.

The framework reads a body whole (JSON into memory, multipart into a temporary
file) before a handler runs, so a check in the handler comes too late: a 20 GB
chunked upload would fill the temporary directory first. This layer sits in
front: a declared ``Content-Length`` over the limit is refused before a byte is
read, and a body without one (chunked) is counted chunk by chunk and refused as
soon as it passes the limit. The client gets ``413 too_large`` with the limit in
the message, and the connection is closed (the rest of the body is never read).

The limits are per route (``BodyLimits.for_request``): a CV upload, an answer
(typed, or a recording), a recording to transcribe, and everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotseat.api.errors import error_response
from hotseat.errors import TooLarge

# Multipart framing around a CV file or a recording: its boundaries and part headers.
MULTIPART_OVERHEAD = 64 * 1024
# JSON may escape every character: a character outside the BMP is two \uXXXX escapes (12 bytes).
_BYTES_PER_CHAR = 12
# The JSON around an answer's text ({"text": ...}) and some whitespace.
_ANSWER_FRAMING = 4 * 1024
# Every other body is a small JSON object; the largest is a new session's job description (at most
# 20,000 characters: 240,000 bytes with every character escaped).
OTHER_BODY_BYTES = 256 * 1024

_ANSWER_PATH = re.compile(r"^/api/sessions/[^/]+/answers$")
_TRANSCRIPT_PATH = re.compile(r"^/api/sessions/[^/]+/transcripts$")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The most bytes a request body may have, by route."""

    cv: int
    answer: int
    recording: int
    other: int = OTHER_BODY_BYTES

    @classmethod
    def of(cls, cv_max_bytes: int, max_answer_chars: int, recording_max_bytes: int) -> BodyLimits:
        recording = recording_max_bytes + MULTIPART_OVERHEAD
        return cls(
            cv=cv_max_bytes + MULTIPART_OVERHEAD,
            # An answer is JSON text or a multipart recording (spoken answers).
            answer=max(max_answer_chars * _BYTES_PER_CHAR + _ANSWER_FRAMING, recording),
            recording=recording,
        )

    def for_request(self, method: str, path: str) -> tuple[int, str]:
        """The limit for this request, and the message of its 413."""
        if method == "POST" and path == "/api/cvs":
            file_limit = self.cv - MULTIPART_OVERHEAD
            return self.cv, (
                f"The file is larger than {file_limit / 1024 / 1024:.0f} MB; upload a smaller CV "
                "(a PDF or DOCX export)."
            )
        if method == "POST" and _ANSWER_PATH.match(path):
            return self.answer, (
                "The answer is far longer than this server accepts; shorten it or split it (a recording: "
                f"at most {(self.recording - MULTIPART_OVERHEAD) / 1024 / 1024:.0f} MB)."
            )
        if method == "POST" and _TRANSCRIPT_PATH.match(path):
            file_limit = self.recording - MULTIPART_OVERHEAD
            return self.recording, (
                f"The recording is larger than {file_limit / 1024 / 1024:.0f} MB; record a shorter answer."
            )
        return self.other, (
            f"The request body is larger than {self.other // 1024} KiB, the most this endpoint accepts; "
            "see docs/protocol.md for what it expects."
        )


class BodyLimitMiddleware:
    """Pure ASGI, so it sees each chunk as the server receives it."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = self.limits.for_request(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(scope, receive, send, message)
            return
        received = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise HTTPException(413, message)
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _too_large(scope, receive, send, message)
                    # Unwinds the app's reading as the framework's own 413 would; whatever the app
                    # answers then is dropped (the 413 is already sent).
                    raise HTTPException(413, message)
            return event

        async def guarded_send(event: Message) -> None:
            nonlocal started
            if refused:
                return
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        await self.app(scope, counted_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(scope: Scope, receive: Receive, send: Send, message: str) -> None:
    response = error_response(TooLarge(message))
    # The rest of the body is never read, so the connection cannot carry another request.
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
