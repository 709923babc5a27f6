"""How the interviewer's streamed Markdown is shown: rendered, sanitised, followed and announced."""

from __future__ import annotations

import os
import threading

import pytest

from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

from gatedbackend import GatedBackend, GatedReply
from pagehelpers import (
    TRANSPORTS,
    owner_cookies,
    rendered,
    server_session,
    shown_text,
    start_interview,
    turn,
    use_transport,
)

MARKDOWN = (
    "## Your first question\n\n"
    "Thanks for joining. We will cover **three** things:\n\n"
    "- the system you built\n"
    "- how it failed\n"
    "- what you changed\n\n"
    "```python\n"
    "def handler(event):\n"
    "\n"
    "    return store.put(event.key, event)\n"
    "```\n\n"
    "Which part would you like to start with?"
)

XSS = (
    'Hi <img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=2) '
    "<script>window.__pwned=3</script> and [the docs](https://example.com/docs). "
    '<a href="javascript:window.__pwned=4">raw link</a> <svg onload="window.__pwned=5"></svg>'
    " [elsewhere](//evil.example/x)"  # scheme-relative: another site, though it starts with /
)


def sentences(start: int, stop: int) -> str:
    """Short sentences, five to a paragraph, for a reply long enough to scroll."""
    text = ""
    for i in range(start, stop):
        text += f"Point {i} of a long reply, long enough to scroll."
        text += "\n\n" if i % 5 == 4 else " "
    return text


AT_END = """() => {
    const d = document.scrollingElement;
    return d.scrollHeight - d.scrollTop - d.clientHeight <= 8;
}"""

# Three parts, each released by the test: 30 sentences, then 15, then 10.
FOLLOW_PARTS = [sentences(0, 30), sentences(30, 45), sentences(45, 55).rstrip()]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_markdown_renders_block_by_block(
    server: ServerThread, backend: GatedBackend, page: Page, transport: str
) -> None:
    """Streamed Markdown becomes a heading, a list and a code block; finished blocks are never re-rendered."""
    use_transport(page, transport)
    rest = threading.Event()
    head = "## Your first question\n\nThanks for joining."
    backend.enqueue(GatedReply([head, MARKDOWN.removeprefix(head)], gates=[rest], token_delay=0.01))
    sid = start_interview(page, server)
    message = turn(page, "opening").locator(".md")
    expect(message.locator("p")).to_have_text("Thanks for joining.")
    # The heading's block is complete (a paragraph follows it): from now on it must stay the very
    # same node. A renderer that re-parsed the whole message on every token would replace it.
    page.evaluate(
        """() => {
            const message = document.querySelector('.turn[data-kind="opening"] .md');
            window.__headings = new Set([message.querySelector("h2")]);
            new MutationObserver(() => window.__headings.add(message.querySelector("h2")))
                .observe(message, {childList: true, subtree: true, characterData: true});
        }"""
    )
    rest.set()
    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")
    expect(message.locator("h2")).to_have_text("Your first question")
    expect(message.locator("strong")).to_have_text("three")
    expect(message.locator("ul > li")).to_have_text(
        ["the system you built", "how it failed", "what you changed"]
    )
    code = message.locator("pre > code")
    assert code.text_content() == "def handler(event):\n\n    return store.put(event.key, event)\n"
    expect(message.locator("p").last).to_have_text("Which part would you like to start with?")

    assert shown_text(opening) == rendered(page, MARKDOWN)
    data = server_session(server, sid, owner_cookies(page))
    assert data["turns"][0]["text"] == MARKDOWN
    assert page.evaluate("window.__headings.size") == 1, "the completed heading was rendered again"

    # Reloaded from the transcript, the same text renders to the same DOM.
    html = message.inner_html()
    page.reload()
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    assert turn(page, "opening").locator(".md").inner_html() == html


def test_model_output_cannot_run_script(server: ServerThread, backend: ScriptedBackend, page: Page) -> None:
    """HTML, javascript: links and event handlers in the model's output are shown inert, never run."""
    backend.enqueue(ScriptedReply(XSS, token_delay=0.01))
    start_interview(page, server)
    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")

    assert page.evaluate("window.__pwned") is None
    message = opening.locator(".md")
    assert message.locator("script, img, svg, iframe, object").count() == 0
    assert page.evaluate(
        """() => [...document.querySelectorAll('.turn .md *')]
              .every((el) => [...el.attributes].every((a) => !a.name.startsWith('on')))"""
    )
    hrefs = message.locator("a").evaluate_all("els => els.map((a) => a.getAttribute('href'))")
    assert hrefs == ["https://example.com/docs", None], hrefs  # the scheme-relative link loses its href
    link = message.get_by_role("link", name="the docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    # The raw HTML is shown as text, so the candidate sees what the model wrote.
    expect(message).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(message).to_contain_text("<script>window.__pwned=3</script>")
    assert page.evaluate("window.__pwned") is None


def test_follows_the_reply_until_the_reader_scrolls_up(
    server: ServerThread, backend: GatedBackend, page: Page
) -> None:
    """The page follows a reply, stops when the reader scrolls up, resumes at the end; announces sentences."""
    more, rest = threading.Event(), threading.Event()
    reply = GatedReply(FOLLOW_PARTS, gates=[more, rest])
    backend.enqueue(reply)
    page.set_viewport_size({"width": 360, "height": 640})  # a phone: the reply soon overflows
    start_interview(page, server)
    opening = turn(page, "opening")
    shows = "(text) => document.querySelector('.turn[data-kind=\"opening\"] .md').textContent.includes(text)"

    # Following: the first part overflows the viewport, and the page stays at its end.
    page.wait_for_function(shows, arg="Point 29 of")
    page.wait_for_function(AT_END)
    assert page.evaluate("document.scrollingElement.scrollHeight > innerHeight + 300")

    # The reader scrolls up: the page stays where they are while more text comes.
    page.mouse.move(180, 300)
    page.mouse.wheel(0, -400)
    expect(page.get_by_role("button", name="Follow the reply")).to_be_visible()
    top = page.evaluate("document.scrollingElement.scrollTop")
    height = page.evaluate("document.scrollingElement.scrollHeight")
    more.set()
    page.wait_for_function(shows, arg="Point 44 of")
    assert page.evaluate("document.scrollingElement.scrollHeight") > height
    assert page.evaluate("document.scrollingElement.scrollTop") == top

    # Back at the end (the "follow" button), following resumes for the text still to come.
    page.get_by_role("button", name="Follow the reply").click()
    page.wait_for_function(AT_END)
    expect(page.get_by_role("button", name="Follow the reply")).to_be_hidden()
    rest.set()
    expect(opening).to_have_attribute("data-status", "complete")
    page.wait_for_function(AT_END)
    assert shown_text(opening) == rendered(page, reply.text)

    # Screen readers hear whole sentences, never single tokens.
    announced = page.locator("#announcer p").all_text_contents()
    assert announced, "nothing was announced"
    assert all(text.endswith(".") for text in announced), announced
    assert announced[-1].endswith("Point 54 of a long reply, long enough to scroll.")
    assert page.locator("#announcer").get_attribute("aria-live") == "polite"
    assert page.locator("#transcript").get_attribute("aria-live") == "off"
    # No horizontal scrolling at phone width.
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
