"""The model server's failures in the words a candidate or operator can act on (``upstream_*`` codes)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp

from hotseat.errors import (
    HotseatError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("hotseat.llm.openai")


@dataclass(frozen=True, slots=True)
class UpstreamFailures:
    """Words for one configured server: its URL, model and limits are named in the messages."""

    base_url: str
    model: str
    connect_timeout: float
    read_timeout: float
    max_connections: int

    def refused(self, status: int, retry_after: float | None) -> HotseatError:
        """The documented error for an HTTP status the server answered with, after any retries."""
        if status == 429:
            return UpstreamRateLimited(
                "The model server is rate-limiting requests; wait a moment and retry.",
                retry_after=retry_after,
            )
        if status in (401, 403):
            return UpstreamError("The model server refused the API key; check HOTSEAT_OPENAI_API_KEY.")
        if status == 404:
            return UpstreamError(f"The model server does not know model {self.model!r}; check HOTSEAT_MODEL.")
        return UpstreamError(f"The model server failed (HTTP {status}); retry the turn.")

    def translate(self, exc: Exception, streaming: bool) -> HotseatError:
        """Map transport and parsing failures to the documented upstream error codes."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return UpstreamTimeout(
                f"No connection to the model server at {self.base_url} within "
                f"{self.connect_timeout:g} s (it did not accept one, or all {self.max_connections} "
                "were busy); check that it is running, or raise HOTSEAT_UPSTREAM_CONNECT_TIMEOUT "
                "or HOTSEAT_UPSTREAM_MAX_CONNECTIONS."
            )
        if isinstance(exc, TimeoutError):  # no head in time, or a body read that stalled
            return UpstreamTimeout(
                f"The model server did not answer within {self.read_timeout:g} s; retry, or raise "
                "HOTSEAT_UPSTREAM_READ_TIMEOUT."
            )
        if isinstance(exc, aiohttp.ClientError | OSError):
            if streaming:
                return UpstreamError("The connection to the model server broke mid-reply; retry the turn.")
            return UpstreamUnavailable(
                f"Cannot reach the model server at {self.base_url}; check that it is running and "
                "HOTSEAT_OPENAI_BASE_URL."
            )
        if isinstance(exc, ValueError | LookupError | TypeError | AttributeError):
            # Not JSON (orjson's error is a ValueError), or JSON of another shape than a chunk's.
            return UpstreamError("The model server sent a malformed reply; retry the turn.")
        logger.exception("unexpected upstream failure")
        return UpstreamError("The model server failed unexpectedly; retry the turn.")
