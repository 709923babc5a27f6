"""Playwright fixtures for the page tests: Debian's Chromium, headless, one screenshot per test.

Needs ``apt-get install chromium`` and ``pip install playwright`` (never ``playwright install``:
the tests drive the system browser at /usr/bin/chromium). Without them the tests are skipped,
except under CI (the ``CI`` environment variable set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# HOTSEAT_CHROMIUM points elsewhere on systems that install it under another name.
CHROMIUM = Path(os.environ.get("HOTSEAT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: run `.venv/bin/pip install playwright`")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is absent: run `apt-get install -y chromium` to run the page tests")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; fails the test on any uncaught page error; screenshots it at the end."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport={"width": 900, "height": 760})
    new_page = context.new_page()
    page_errors: list[str] = []
    new_page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        yield new_page
        assert not page_errors, f"uncaught errors on the page: {page_errors}"
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            new_page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()
