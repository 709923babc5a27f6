"""The one place errors become HTTP responses and WebSocket frames.

Every response body is ``{"error": {"code", "message"}}``; a WebSocket error is
``{"type": "error", "code", "message"}``; SSE errors are log events. The
database or Redis being down is ``unavailable``, and no database connection
free in time is ``busy`` (both 503 with Retry-After, logged as one line); the
store and the Redis modules raise them as ``HotseatError`` (``hotseat.outages``).
Anything else that is not a ``HotseatError`` is logged with its traceback here and
reaches the client only as ``internal``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotseat.errors import BadRequest, HotseatError, Internal, NotFound, TooLarge
from hotseat.outages import outage_of

logger = logging.getLogger(__name__)

_STATUS_ERRORS: dict[int, type[HotseatError]] = {404: NotFound, 413: TooLarge}


def error_response(error: HotseatError) -> JSONResponse:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return JSONResponse({"error": error.to_dict()}, status_code=error.http_status, headers=headers)


def describe_validation(errors: list[Any]) -> str:
    """One readable line per problem, e.g. ``text: Field required``."""
    lines = []
    for err in errors[:5]:
        location = ".".join(str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path"))
        lines.append(
            f"{location}: {err.get('msg', 'invalid')}" if location else str(err.get("msg", "invalid"))
        )
    return "; ".join(lines)


def ws_error_frame(error: HotseatError, turn_id: str | None = None, ref: str | None = None) -> str:
    """The error as a WebSocket (or SSE ``data:``) frame; ``ref`` is that of the client frame it answers."""
    frame: dict[str, Any] = {"type": "error"}
    if turn_id is not None:
        frame["turn_id"] = turn_id
    if ref is not None:
        frame["ref"] = ref
    frame.update(error.to_dict())
    return orjson.dumps(frame).decode()


def bad_frame(exc: ValidationError | ValueError) -> BadRequest:
    if isinstance(exc, ValidationError):
        return BadRequest(f"Bad frame: {describe_validation(list(exc.errors()))}.")
    return BadRequest("Bad frame: not valid JSON. Send one JSON object per text frame.")


def install(app: FastAPI) -> None:
    async def on_hotseat_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HotseatError)
        if outage_of(exc) is not None:
            cause = exc.__cause__ or exc
            logger.warning(
                "answered %d: %s (%s: %s)", exc.http_status, exc.message, type(cause).__name__, cause
            )
        return error_response(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(BadRequest(f"Invalid request: {describe_validation(list(exc.errors()))}."))

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        cls = _STATUS_ERRORS.get(exc.status_code)
        if cls is NotFound:
            return error_response(NotFound("No such page or endpoint; see docs/protocol.md for the API."))
        if cls is not None:
            return error_response(cls(str(exc.detail)))
        body = {"error": {"code": "bad_request", "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(Internal("Something went wrong on the server; it has been logged. Retry."))

    app.add_exception_handler(HotseatError, on_hotseat_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
