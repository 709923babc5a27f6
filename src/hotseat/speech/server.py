"""An OpenAI-compatible speech server: ``POST /audio/transcriptions`` and ``POST /audio/speech``.

One small client for both directions, with the failures mapped once to the
closed set of error codes: refused connection ``upstream_unavailable``, no
answer in time ``upstream_timeout``, 429 ``upstream_rate_limited``, anything
else ``upstream_error``. Messages name the setting an operator would check.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from hotseat.errors import (
    HotseatError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hotseat.speech.worker import Slots


class SpeechServer:
    """``base_url`` is the server's ``/v1`` URL, as for HOTSEAT_OPENAI_BASE_URL; ``setting`` names it."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        setting: str,
        what: str,
        timeout: float,
        max_in_flight: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._setting = setting
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._client: aiohttp.ClientSession | None = None
        # Requests in flight at once; more are refused with busy rather than piling up on the server.
        self.slots = Slots(max_in_flight, what)

    async def post(self, path: str, *, data: Any = None, json: Any = None) -> tuple[bytes, str]:
        """POST to ``path`` and return the body and its content type; failures as upstream errors."""
        self.slots.take()
        try:
            async with self._session().post(
                self.base_url + path, data=data, json=json, headers=self._headers
            ) as response:
                body = await response.read()
                if response.status >= 400:
                    raise self._refused(response.status, response.headers.get("Retry-After"))
                return body, response.content_type
        except HotseatError:
            raise
        except TimeoutError:
            raise UpstreamTimeout(
                f"The speech server at {self._setting} did not answer in time; try again."
            ) from None
        except aiohttp.ClientConnectionError:
            raise UpstreamUnavailable(
                f"Cannot connect to the speech server at {self._setting}; check that it is running."
            ) from None
        except aiohttp.ClientError:
            raise UpstreamError("The speech server failed unexpectedly; try again.") from None
        finally:
            self.slots.give_back()

    def _refused(self, status: int, retry_after: str | None) -> HotseatError:
        if status == 429:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            return UpstreamRateLimited(
                "The speech server is rate-limiting requests; wait a moment.", retry_after=wait
            )
        if status in (401, 403):
            return UpstreamError(f"The speech server refused the API key; check {self._setting}'s key.")
        return UpstreamError(f"The speech server failed (HTTP {status}); try again.")

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=self._timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
