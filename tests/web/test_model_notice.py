"""The start page names the live model, and on the embedded 135M says how to get a better one."""

from __future__ import annotations

import os

import pytest

from hotseat.llm.local import LocalBackend
from hotseat.serving import ServerThread

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

from pagehelpers import open_start


@pytest.fixture
def backend() -> LocalBackend:
    """The real embedded model (SmolLM2-135M), as a fresh install runs it."""
    return LocalBackend(n_ctx=512)


def test_the_embedded_model_is_named_with_advice_to_get_a_larger_one(
    server: ServerThread, page: Page
) -> None:
    """On the 135M default the start page names it and says plainly how to get a larger model."""
    open_start(page, server)
    expect(page.locator("#model-live")).to_have_text(
        "Interviewer model: SmolLM2 135M Instruct (Q4_1, embedded)"
    )
    advice = page.locator("#model-advice")
    expect(advice).to_be_visible()
    expect(advice).to_contain_text("A larger model interviews far better")
    expect(advice).to_contain_text("hotseat models pull qwen2.5-1.5b")
    expect(advice).to_contain_text("HOTSEAT_LOCAL_MODEL=qwen2.5-1.5b")
