"""Helpers shared by the page tests (DOM waits, server reads, the transport switch)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from hotseat.serving import ServerThread

TRANSPORTS = ["ws", "sse"]


def use_transport(page: Page, transport: str) -> None:
    """Make the page use this transport (the setting it keeps in localStorage), from the first load."""
    page.add_init_script(f"localStorage.setItem('hotseat.transport', {transport!r})")


def turn(page: Page, kind: str) -> Locator:
    return page.locator(f'.turn[data-kind="{kind}"]')


def shown_text(locator: Locator) -> str:
    """The exact text of a turn as rendered (textContent: no whitespace normalisation)."""
    text = locator.locator(".text").text_content()
    assert text is not None
    return text


def rendered(page: Page, source: str) -> str:
    """The text the page's own Markdown pipeline shows for ``source`` (rendered once, whole)."""
    text: str = page.evaluate(
        "async (source) => (await import('/static/markdown.js')).renderedText(source)", source
    )
    return text


def session_id(page: Page) -> str:
    assert "#session=" in page.url, page.url
    return page.url.split("#session=", 1)[1].split("&", 1)[0]


def server_session(server: ServerThread, sid: str, cookies: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/api/sessions/{sid}", cookies=cookies, timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def shown_turn_ids(page: Page) -> list[str]:
    """The element ids of the turns the page shows, in order (``turn-<id>``, the server's id)."""
    ids: list[str] = page.eval_on_selector_all(".turn", "els => els.map((el) => el.id)")
    return ids


def turn_ids(data: dict[str, Any]) -> list[str]:
    """The element ids the page should give the turns of a session read from the server."""
    return [f"turn-{t['id']}" for t in data["turns"]]


def owner_cookies(page: Page) -> dict[str, str]:
    """The page's cookies, so the test reads the sessions this browser owns."""
    return {c["name"]: c["value"] for c in page.context.cookies() if "name" in c and "value" in c}


def open_start(page: Page, server: ServerThread) -> None:
    page.goto(f"{server.base_url}/")
    expect(page.get_by_role("button", name="Start interview")).to_be_enabled()


def start_interview(page: Page, server: ServerThread, pack_title: str = "Backend software engineer") -> str:
    open_start(page, server)
    page.get_by_role("radio", name=pack_title, exact=True).check()
    page.get_by_role("button", name="Start interview").click()
    page.wait_for_url("**/#session=*")
    expect(page.locator("#conn")).to_have_text("Connected")
    return session_id(page)


def send_answer(page: Page, text: str) -> None:
    """Type an answer and press Enter once the page accepts one (Send enabled): a keypress while the
    page is still settling after a turn is ignored, as it would be for a person."""
    box = page.get_by_label("Your answer")
    box.fill(text)
    expect(page.locator("#send")).to_be_enabled()
    box.press("Enter")
    expect(box).to_have_value("")


def wait_words(page: Page, kind: str, count: int) -> None:
    """Wait until the ``kind`` turn shows more than ``count`` words."""
    page.wait_for_function(
        """([kind, count]) => (document.querySelector(`.turn[data-kind="${kind}"] .text`)?.textContent || '')
                .split(' ').length > count""",
        arg=[kind, count],
    )


def watch_conn_states(page: Page) -> None:
    """Record every state the connection status goes through in ``window.__conn``."""
    page.evaluate(
        """() => {
            window.__conn = [];
            const el = document.getElementById("conn");
            new MutationObserver(() => window.__conn.push(el.dataset.state))
                .observe(el, {attributes: true, childList: true, subtree: true});
        }"""
    )
