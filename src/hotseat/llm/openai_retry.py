"""The OpenAI SDK's retry rules, kept without the SDK: which refusals are worth another try, and when.

``OpenAIBackend.stream`` spends one budget on them (see ``hotseat.llm.openai``).
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import random
import time
from collections.abc import Mapping

import aiohttp

from hotseat.errors import HotseatError

# The SDK's limits: a longer retry-after is not waited for, and statuses worth a second try.
MAX_RETRY_AFTER_SECONDS = 120.0
_RETRIED_STATUSES = frozenset({408, 409, 429})


class Failed(Exception):
    """One request failed before any text; what to report, and what may be tried next.

    ``retryable``: the same request may be sent again (spending a retry), after
    ``delay`` seconds if the server named a wait. ``refuses_form``: the server may
    have refused the structured-output form asked in, so the next form may be
    tried. ``lasting``: that refusal is about the form, so later requests should
    start at the next form too: a 4xx, or a 5xx whose body names the format
    (llama-cpp-python's 500 does); not a 5xx that says nothing of it, which may
    be a passing failure that should not cost a server its best form for good.
    """

    def __init__(
        self,
        error: HotseatError,
        *,
        retryable: bool = True,
        delay: float | None = None,
        refuses_form: bool = False,
        lasting: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.delay = delay
        self.refuses_form = refuses_form
        self.lasting = lasting


def backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s ... up to 8 s, less up to a quarter at random (as the SDK does)."""
    return min(0.5 * 2.0 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())


def dropped(exc: Exception) -> bool:
    """A connection that was made, then closed or reset without an answer (not a timeout)."""
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc, aiohttp.ClientConnectorError | TimeoutError
    )


def worth_retrying(status: int, headers: Mapping[str, str]) -> bool:
    """As the SDK decides: the server's ``x-should-retry`` first, then the status."""
    wait = retry_after(headers)
    if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
        return False
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return status in _RETRIED_STATUSES or status >= 500


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else MAX_RETRY_AFTER_SECONDS + 1
    date = headers.get("retry-after")
    with contextlib.suppress(TypeError, ValueError, OverflowError):
        when = email.utils.parsedate_tz(date) if date else None
        if when is not None:
            return float(email.utils.mktime_tz(when) - time.time())
    return None
