"""The interview page at ``/`` in a real Chromium against a real server with a scripted model.

Every wait is on a DOM condition (``expect`` or ``wait_for_function``), never a sleep.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from hotseat.llm.scripted import ScriptedBackend, ScriptedReply, split_tokens
from hotseat.testing.server import ServerThread

try:
    from playwright.sync_api import Locator, Page, WebSocketRoute, expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "interview.png"

OPENING = (
    "Hello, and thanks for making the time today. I'd like to start with something you have built "
    "yourself. Tell me about a backend service you designed: what it did, who used it, and the one "
    "design decision you are proudest of."
)
ANSWER = (
    "I designed the ingestion API for our metrics platform. It took about forty thousand writes a "
    "second from agents, and the decision I'm proudest of was making every write idempotent with a "
    "client-generated key, so retries never double-counted.\n\nThat one choice made the rest simple."
)
QUESTION = (
    "Idempotency keys are a good call. Let's stay there for a moment: where did you store those keys, "
    "how long did you keep them, and what happened the day that store was slow or unavailable?"
)
REPORT = (
    "Summary: a clear, concrete answer about a real system.\n\n"
    "Strengths: you explained the design decision and why it mattered.\n"
    "To work on: quantify the trade-offs (storage cost of the keys, their retention window)."
)
# 200 word-sized tokens: at 50 ms each the reply takes about ten seconds to stream.
LONG = " ".join(f"word{i}" for i in range(200))


def turn(page: Page, kind: str) -> Locator:
    return page.locator(f'.turn[data-kind="{kind}"]')


def shown_text(locator: Locator) -> str:
    """The exact text of a turn as rendered (textContent: no whitespace normalisation)."""
    text = locator.locator(".text").text_content()
    assert text is not None
    return text


def session_id(page: Page) -> str:
    assert "#session=" in page.url, page.url
    return page.url.split("#session=", 1)[1]


def server_session(server: ServerThread, sid: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/api/sessions/{sid}", timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def start_interview(page: Page, server: ServerThread, pack_title: str = "Backend software engineer") -> str:
    page.goto(f"{server.base_url}/")
    expect(page.locator("#conn")).to_have_text("Not connected")
    page.get_by_role("radio", name=pack_title, exact=True).check()
    page.get_by_role("button", name="Start interview").click()
    page.wait_for_url("**/#session=*")
    expect(page.locator("#conn")).to_have_text("Connected")
    return session_id(page)


def record_text_lengths(page: Page, kind: str) -> None:
    """Record every distinct length the text of the ``kind`` turn goes through, as it changes."""
    page.evaluate(
        """(kind) => {
            window.__lengths = [];
            const seen = () => {
                const el = document.querySelector(`.turn[data-kind="${kind}"] .text`);
                const n = el ? el.textContent.length : -1;
                if (n > 0 && window.__lengths.at(-1) !== n) window.__lengths.push(n);
            };
            new MutationObserver(seen).observe(document.getElementById("transcript"),
                {childList: true, subtree: true, characterData: true});
        }""",
        kind,
    )


def test_full_interview_flow(server: ServerThread, backend: ScriptedBackend, page: Page) -> None:
    """Pick a pack, start, watch the opening stream, answer, get the next question, finish, see the report."""
    backend.enqueue(
        ScriptedReply(OPENING, token_delay=0.02),
        ScriptedReply(QUESTION, token_delay=0.05),
        ScriptedReply(REPORT, token_delay=0.02),
    )
    sid = start_interview(page, server)

    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")
    assert shown_text(opening) == OPENING
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#hint")).to_have_text("Your turn.")

    # Answer (Shift+Enter makes a new line, Enter sends); the next question streams token by token.
    record_text_lengths(page, "question")
    box = page.get_by_label("Your answer")
    first, second = ANSWER.split("\n\n")
    box.fill(first)
    box.press("Shift+Enter")
    box.press("Shift+Enter")
    box.press_sequentially(second)
    expect(box).to_have_value(ANSWER)
    box.press("Enter")
    expect(box).to_have_value("")
    answer = turn(page, "answer")
    expect(answer).to_have_count(1)
    assert shown_text(answer) == ANSWER

    question = turn(page, "question")
    expect(question).to_have_attribute("data-status", "streaming")
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator("#send")).to_be_disabled()
    if os.environ.get("HOTSEAT_DOCS_SCREENSHOT"):
        page.wait_for_function(
            """() => document.querySelector('.turn[data-kind="question"] .text').textContent.length > 60"""
        )
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        box.blur()
        page.screenshot(path=str(DOCS_SCREENSHOT))
    expect(question).to_have_attribute("data-status", "complete")
    assert shown_text(question) == QUESTION
    lengths = page.evaluate("window.__lengths")
    assert len(lengths) >= len(split_tokens(QUESTION)) // 2, f"the question did not stream: {lengths}"
    assert lengths == sorted(lengths), f"the question's text shrank while streaming: {lengths}"
    expect(page.locator("#stop")).to_be_hidden()

    # Finish: the report streams in, and the interview is over.
    page.get_by_role("button", name="Finish & get report").click()
    report = turn(page, "report")
    expect(report).to_have_attribute("data-status", "complete")
    assert shown_text(report) == REPORT
    expect(page.locator("#send")).to_be_hidden()
    expect(page.locator("#hint")).to_have_text("The interview is over. Here is your report.")

    data = server_session(server, sid)
    assert data["status"] == "finished"
    assert [(t["role"], t["kind"], t["status"]) for t in data["turns"]] == [
        ("interviewer", "opening", "complete"),
        ("candidate", "answer", "complete"),
        ("interviewer", "question", "complete"),
        ("interviewer", "report", "complete"),
    ]
    assert [t["text"] for t in data["turns"]] == [OPENING, ANSWER, QUESTION, REPORT]
    assert page.locator(".turn").count() == 4


def test_stop_mid_reply(server: ServerThread, backend: ScriptedBackend, page: Page) -> None:
    """Stop cancels a streaming reply: the server marks it cancelled; the page shows exactly its text."""
    backend.enqueue(ScriptedReply(LONG, token_delay=0.05))
    sid = start_interview(page, server)

    opening = turn(page, "opening")
    page.wait_for_function(
        """() => (document.querySelector('.turn[data-kind="opening"] .text')?.textContent || '')
                    .split(' ').length > 10"""
    )
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(opening).to_have_attribute("data-status", "cancelled")
    expect(stop).to_be_hidden()
    expect(opening.locator(".meta")).to_have_text("Stopped.")

    data = server_session(server, sid)
    [row] = data["turns"]
    assert row["status"] == "cancelled"
    assert row["finish_reason"] == "cancelled"
    assert 0 < len(row["text"]) < len(LONG)
    assert LONG.startswith(row["text"])
    assert shown_text(opening) == row["text"]
    expect(page.get_by_label("Your answer")).to_be_enabled()
    expect(page.locator("#send")).to_be_visible()


def test_reload_mid_reply(server: ServerThread, backend: ScriptedBackend, page: Page) -> None:
    """Reloading while a reply streams reopens the session and ends with exactly the server's text."""
    backend.enqueue(ScriptedReply(LONG, token_delay=0.03))
    sid = start_interview(page, server)

    page.wait_for_function(
        """() => (document.querySelector('.turn[data-kind="opening"] .text')?.textContent || '')
                    .split(' ').length > 20"""
    )
    page.reload()
    assert session_id(page) == sid
    opening = turn(page, "opening")
    # Back mid-reply: the turn is still streaming after the reload, and resumes from the stream.
    expect(opening).to_have_attribute("data-status", "streaming")
    expect(page.locator("#conn")).to_have_text("Connected")
    expect(opening).to_have_attribute("data-status", "complete", timeout=30_000)

    data = server_session(server, sid)
    [row] = data["turns"]
    assert row["status"] == "complete"
    assert row["text"] == LONG
    assert shown_text(opening) == row["text"]
    assert page.locator(".turn").count() == 1


def test_reconnect_after_socket_drop(server: ServerThread, backend: ScriptedBackend, page: Page) -> None:
    """A socket dropped mid-reply is reported and reopened; the reply ends with exactly the server's text."""
    backend.enqueue(ScriptedReply(LONG, token_delay=0.03))
    sockets: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()  # a transparent proxy the test can cut
        sockets.append(ws)

    page.route_web_socket("**/ws?session=*", through)
    sid = start_interview(page, server)
    page.evaluate(
        """() => {
            window.__conn = [];
            const el = document.getElementById("conn");
            new MutationObserver(() => window.__conn.push(el.dataset.state))
                .observe(el, {attributes: true, childList: true, subtree: true});
        }"""
    )
    page.wait_for_function(
        """() => (document.querySelector('.turn[data-kind="opening"] .text')?.textContent || '')
                    .split(' ').length > 20"""
    )
    assert len(sockets) == 1
    sockets[0].close(code=1011, reason="dropped by the test")

    page.wait_for_function("() => window.__conn.includes('offline')")
    expect(page.locator("#conn")).to_have_text("Connected")
    assert len(sockets) == 2
    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete", timeout=30_000)

    data = server_session(server, sid)
    [row] = data["turns"]
    assert row["status"] == "complete"
    assert row["text"] == LONG
    assert shown_text(opening) == row["text"]
    assert page.locator(".turn").count() == 1
