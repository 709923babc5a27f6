"""Playwright fixtures for the page tests: Debian's Chromium, headless, one screenshot per test.

Needs ``apt-get install chromium`` and ``pip install playwright`` (never ``playwright install``:
the tests drive the system browser at /usr/bin/chromium). Without them the tests are skipped,
except under CI (the ``CI`` environment variable set), where a missing browser is a failure.

Every page runs under the production Content-Security-Policy (no inline script, no inline
style), which the server sends: the ``page`` fixture checks that the page came with it, and
fails the test on any CSP violation the browser reports and on any uncaught error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, unavailable
from gatedbackend import GatedBackend

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

# What the server sends (hotseat.api.headers); kept here so the page is tested under it anyway.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@pytest.fixture
def backend() -> GatedBackend:
    """The scripted backend, which also streams ``GatedReply`` replies part by part."""
    return GatedBackend()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: run `.venv/bin/pip install playwright`")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is absent: run `apt-get install -y chromium` to run the page tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def _check_csp(response: Response, problems: list[str]) -> None:
    """The page itself must come with the CSP, or the tests would not prove the page under it."""
    if response.request.resource_type != "document":
        return
    policy = response.headers.get("content-security-policy", "")
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in policy.split(";") if part.strip()}
    for directive in CSP.split(";"):
        name = directive.strip().split(" ", 1)[0]
        if directives.get(name) != directive.strip():
            problems.append(f"{response.url}: expected CSP {directive.strip()!r}, got {policy!r}")


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page under the CSP; fails the test on page errors and CSP violations; screenshots it."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport={"width": 900, "height": 760})
    new_page = context.new_page()
    page_errors: list[str] = []
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    new_page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    new_page.on("console", on_console)
    # (No page.route here to add the header: request interception breaks route_web_socket's
    # connect_to_server in this Playwright. The server sends the CSP; this checks it.)
    new_page.on("response", lambda response: _check_csp(response, violations))
    try:
        yield new_page
        assert not page_errors, f"uncaught errors on the page: {page_errors}"
        assert not violations, f"Content-Security-Policy violations: {violations}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            new_page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()
