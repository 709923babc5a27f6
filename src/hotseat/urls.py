"""Credentials in URLs (``scheme://user:password@host/...``): taken out before use or display.

An operator may put a user and password in ``HOTSEAT_OPENAI_BASE_URL`` (a model
server behind basic auth). The URL appears in error messages that reach
clients, so only ``without_credentials(url)[0]`` is ever shown.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@``, and the (percent-decoded) user and password, if any."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))
