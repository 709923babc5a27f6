"""The one exception root of hotseat, and the closed set of error codes.

    HotseatError                      code             HTTP
    ├── BadRequest                    bad_request      400
    ├── Unauthorized                  unauthorized     401
    ├── Forbidden                     forbidden        403
    ├── NotFound                      not_found        404
    ├── Conflict                      conflict         409
    ├── TooLarge                      too_large        413
    ├── UnsupportedType               unsupported_type 415
    ├── Unprocessable                 unprocessable    422
    ├── RateLimited                   rate_limited     429
    ├── Busy                          busy             503
    ├── Unavailable                   unavailable      503
    ├── UpstreamError                 upstream_error   502
    │   ├── UpstreamUnavailable       upstream_unavailable
    │   ├── UpstreamRateLimited       upstream_rate_limited
    │   └── UpstreamTimeout           upstream_timeout 504
    ├── Interrupted                   interrupted      503
    └── Internal                      internal         500

Errors are data: each carries a stable ``code`` (the wire contract, listed in
docs/protocol.md), a message a person can act on, and whether retrying the same
request may succeed. They are turned into HTTP responses, WebSocket frames and
SSE events in exactly one place each (``api/errors.py``); nothing else formats
an error for a client, so no stack trace can leak.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HotseatError(Exception):
    """Root of every error hotseat reports to a client."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """The JSON body every transport sends: ``{"code", "message"}`` (+ hints)."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retryable:
            body["retryable"] = True
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class BadRequest(HotseatError):
    code = "bad_request"
    http_status = 400


class Unauthorized(HotseatError):
    code = "unauthorized"
    http_status = 401


class Forbidden(HotseatError):
    """A state change from another site (the request's Origin or Sec-Fetch-Site says so)."""

    code = "forbidden"
    http_status = 403


class NotFound(HotseatError):
    code = "not_found"
    http_status = 404


def session_not_found(session_id: str) -> NotFound:
    """The 404 for a session that does not exist, or is not the caller's (the same either way)."""
    return NotFound(f"No interview session {session_id!r}; it may have been deleted.")


class Conflict(HotseatError):
    code = "conflict"
    http_status = 409


class TooLarge(HotseatError):
    code = "too_large"
    http_status = 413


class UnsupportedType(HotseatError):
    code = "unsupported_type"
    http_status = 415


class Unprocessable(HotseatError):
    code = "unprocessable"
    http_status = 422


class RateLimited(HotseatError):
    code = "rate_limited"
    http_status = 429
    retryable = True


class Busy(HotseatError):
    code = "busy"
    http_status = 503
    retryable = True


class Unavailable(HotseatError):
    """The database or Redis cannot be reached; hotseat recovers by itself once it is back."""

    code = "unavailable"
    http_status = 503
    retryable = True


class DatabaseBusy(Busy):
    """No pooled database connection came free in time: overload, not an outage (retried like one)."""


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached (the store raises it; ``outages`` retries and logs it as such)."""


class UpstreamError(HotseatError):
    code = "upstream_error"
    http_status = 502
    retryable = True


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"


class UpstreamRateLimited(UpstreamError):
    code = "upstream_rate_limited"


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    http_status = 504


class Interrupted(HotseatError):
    code = "interrupted"
    http_status = 503
    retryable = True


INTERRUPTED_MESSAGE = "The server stopped while this reply was being written; retry it."
DATABASE_DOWN_MESSAGE = "The database cannot be reached; retry in a few seconds."
DATABASE_BUSY_MESSAGE = "The server is too busy to reach its database right now; retry in a few seconds."
REDIS_DOWN_MESSAGE = "The live-stream store (Redis) cannot be reached; retry in a few seconds."


class Internal(HotseatError):
    code = "internal"
    http_status = 500


def _all_subclasses(cls: type[HotseatError]) -> list[type[HotseatError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


_BY_CODE: dict[str, type[HotseatError]] = {}
for _cls in _all_subclasses(HotseatError):
    _BY_CODE.setdefault(_cls.code, _cls)  # a code's first class: Busy, not its subclass DatabaseBusy
ERROR_CODES: tuple[str, ...] = tuple(sorted(_BY_CODE))


def error_for_code(code: str, message: str) -> HotseatError:
    """Rebuild a stored error (code and message) as its exception class."""
    return _BY_CODE.get(code, Internal)(message)
