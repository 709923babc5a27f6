"""The start screen (CV upload, job, language), the report view and past interviews, end to end."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.testing.server import ServerThread

try:
    from playwright.sync_api import Page, Request, expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

from pagehelpers import open_start, owner_cookies, server_session, session_id, shown_text, turn

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DOCS = bool(os.environ.get("HOTSEAT_DOCS_SCREENSHOT"))

CV = """# Jane Doe

Backend engineer, Berlin.

## Experience

- **Lumen Metrics** (2021-2025): built the ingestion API that takes 40,000 writes a second.
- **Parcelhub** (2018-2021): moved order processing from cron jobs to a queue.
"""

OPENING = (
    "Hello Jane, thanks for making the time. Your CV says you built an ingestion API at Lumen Metrics. "
    "Tell me about it: who used it, and the one design decision you are proudest of."
)
ANSWER_1 = (
    "At Lumen Metrics I designed the ingestion API for our metrics platform. It took about forty "
    "thousand writes a second from agents, and the decision I am proudest of was making every write "
    "idempotent with a client-generated key, so retries never double-counted anything."
)
QUESTION_2 = (
    "Let's talk about data. How did you model the data behind that API, and which query patterns "
    "drove the schema and its indexes?"
)
ANSWER_2 = (
    "We kept one wide table per tenant partitioned by day, because almost every read was a time range "
    "for one tenant. Indexes followed the dashboards: tenant, metric name and time, nothing else, to "
    "keep the write path cheap."
)
QUESTION_3 = "Thank you. Now a concurrency problem: two people book the last seat at once. What happens?"
SUMMARY = (
    "## Summary\n\nYou gave **concrete**, well-scoped answers.\n\n"
    "- Strong on idempotency and retries.\n- Say more about evolution and versioning."
)


def assessment(points: int, evidence: str, low: bool = False) -> str:
    """A structured assessment reply: one entry per point, scores 5,4,3,2,1,... (or all 2)."""
    scores = [2] * points if low else [5 - (i % 5) for i in range(points)]
    return json.dumps(
        {
            "points": [
                {
                    "score": score,
                    "justification": f"Point {i + 1}: justified at {score}.",
                    "evidence": evidence if i == 0 else "",
                    "cv_line": "",
                }
                for i, score in enumerate(scores)
            ],
            "suggestion": "Quantify the trade-offs: how long keys were kept and what it cost.",
        }
    )


def pack_points(server: ServerThread, pack: str) -> list[list[str]]:
    data = httpx.get(f"{server.base_url}/api/packs/{pack}", timeout=10).json()
    return [q["assessment"] for q in data["questions"]]


def watch_progress(page: Page) -> None:
    """Record every value the upload progress bar takes (its `value` attribute)."""
    page.evaluate(
        """() => {
            window.__progress = [];
            const bar = document.getElementById("cv-progress");
            new MutationObserver(() => window.__progress.push(bar.getAttribute("value")))
                .observe(bar, {attributes: true, attributeFilter: ["value"]});
        }"""
    )


def test_full_interview_with_cv_and_report(
    server: ServerThread, backend: ScriptedBackend, page: Page, tmp_path: Path
) -> None:
    """CV upload with progress, two answers, finish: the report charts scores; evidence scrolls to answers."""
    points = pack_points(server, "backend-engineer")
    backend.enqueue(
        ScriptedReply(OPENING, token_delay=0.01),
        ScriptedReply(QUESTION_2, token_delay=0.04 if DOCS else 0.01),
        ScriptedReply(QUESTION_3, token_delay=0.01),
        ScriptedReply(SUMMARY, token_delay=0.01),
    )
    scoring = threading.Event()  # the second answer's score is held back: the report is pending
    backend.enqueue_structured(
        assessment(len(points[0]), "making every write idempotent with a client-generated key"),
        ScriptedReply(assessment(len(points[1]), "Indexes followed the dashboards", low=True), hold=scoring),
    )
    cv_file = tmp_path / "jane-doe.md"
    cv_file.write_text(CV, encoding="utf-8")

    open_start(page, server)
    expect(page.get_by_text("A technical conversation for backend")).to_be_visible()  # the pack's description
    page.get_by_role("radio", name="Backend software engineer", exact=True).check()
    expect(page.locator("#language")).to_have_value("en")
    watch_progress(page)
    page.locator("#cv-file").set_input_files(str(cv_file))
    expect(page.locator("#cv-status")).to_have_text(
        re.compile(r"^Uploaded jane-doe\.md \(\d+ characters\)\.$")
    )
    assert "100" in page.evaluate("window.__progress"), page.evaluate("window.__progress")
    page.get_by_label("Job description").fill("Senior backend engineer for a metrics platform.")
    if DOCS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#job").blur()
        # A viewport as tall as the page, so the sticky header stays at the top of the picture.
        height = page.evaluate("document.scrollingElement.scrollHeight")
        page.set_viewport_size({"width": 900, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / "start.png"))
        page.set_viewport_size({"width": 900, "height": 760})

    created: list[dict[str, Any]] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/sessions"):
            created.append(request.post_data_json)

    page.on("request", on_request)
    page.get_by_role("button", name="Start interview").click()
    page.wait_for_url("**/#session=*")
    sid = session_id(page)
    [body] = created
    assert body["pack"] == "backend-engineer"
    assert body["job_description"] == "Senior backend engineer for a metrics platform."
    assert body["cv_id"]
    assert "language" not in body  # unchanged from the pack's: not sent

    box = page.get_by_label("Your answer")
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    box.fill(ANSWER_1)
    box.press("Enter")
    question = turn(page, "question")
    expect(question).to_have_attribute("data-status", "complete")
    box.fill(ANSWER_2)
    box.press("Enter")
    expect(turn(page, "answer")).to_have_count(2)
    expect(turn(page, "question").nth(1)).to_have_attribute("data-status", "complete")

    page.get_by_role("button", name="Finish interview").click()
    report = page.locator("#report")
    expect(report).to_be_visible()
    # While an answer is still being scored the report says so, and reads itself again.
    expect(report).to_have_attribute("data-status", "pending")
    expect(report.locator(".report-status")).to_have_text(
        "Still scoring some answers; this report updates by itself."
    )
    expect(report.locator(".question-card").nth(1).locator(".badge")).to_have_text("Scoring…")
    scoring.set()
    expect(report).to_have_attribute("data-status", "complete")
    expect(report.locator(".report-status")).to_be_hidden()

    # Per question, one bar per assessment point, each as long as its score.
    cards = report.locator(".question-card")
    expect(cards).to_have_count(3)  # the third question was asked, then the interview finished
    first_bars = cards.nth(0).locator("svg.chart rect.bar")
    expect(first_bars).to_have_count(len(points[0]))
    widths = [float(w) for w in first_bars.evaluate_all("els => els.map((el) => el.getAttribute('width'))")]
    scores = [5 - (i % 5) for i in range(len(points[0]))]
    assert [round(w / widths[0] * 5, 3) for w in widths] == [float(s) for s in scores]
    expect(cards.nth(1).locator("svg.chart rect.bar")).to_have_count(len(points[1]))
    expect(cards.nth(0).locator(".point-item .point")).to_have_text(points[0])
    expect(cards.nth(0).locator(".suggestion")).to_contain_text("Quantify the trade-offs")
    expect(cards.nth(2)).to_contain_text("not answered before the interview ended")
    expect(report.locator(".strengths")).to_contain_text(points[0][0])
    expect(report.locator(".priorities")).to_contain_text("Quantify the trade-offs")
    expect(report.locator(".summary h2")).to_have_text("Summary")

    # Downloads.
    md_link = report.get_by_role("link", name="Download Markdown")
    json_link = report.get_by_role("link", name="Download JSON")
    expect(md_link).to_have_attribute("href", f"/api/sessions/{sid}/export?format=md")
    expect(json_link).to_have_attribute("href", f"/api/sessions/{sid}/export?format=json")
    exported = page.request.get(f"{server.base_url}/api/sessions/{sid}/export?format=json")
    assert exported.ok and exported.json()["session_id"] == sid

    if DOCS:
        # Tall enough for the overview, strengths and priorities, and the first question's chart.
        page.set_viewport_size({"width": 900, "height": 1500})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / "report.png"))
        page.set_viewport_size({"width": 900, "height": 760})

    # The evidence link scrolls to the answer it quotes, and highlights it.
    data = server_session(server, sid, owner_cookies(page))
    answer_ids = [t["id"] for t in data["turns"] if t["kind"] == "answer"]
    evidence = cards.nth(0).locator(".evidence").first
    expect(evidence.locator("blockquote")).to_have_text(
        "making every write idempotent with a client-generated key"
    )
    answer = page.locator(f"#turn-{answer_ids[0]}")
    expect(answer).not_to_be_in_viewport()
    evidence.get_by_role("link", name="Show in your answer").click()
    expect(answer).to_be_in_viewport()
    expect(answer).to_have_class(re.compile(r"\bhighlight\b"))
    assert shown_text(answer) == ANSWER_1
    assert page.url.endswith("&view=report")  # the link scrolled; it did not navigate


def test_refused_cv_shows_the_servers_message(server: ServerThread, page: Page, tmp_path: Path) -> None:
    """A dropped file that is not a CV is refused, and the page shows the server's own message in words."""
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    expected = httpx.post(
        f"{server.base_url}/api/cvs", files={"file": ("photo.png", png.read_bytes(), "image/png")}, timeout=10
    )
    assert expected.status_code == 415
    message = expected.json()["error"]["message"]

    open_start(page, server)
    # Dropped on the drop zone, as a candidate would drag it from their desktop.
    page.locator("#dropzone").evaluate(
        """(zone, bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "photo.png", {type: "image/png"}));
            const init = {dataTransfer: data, bubbles: true, cancelable: true};
            zone.dispatchEvent(new DragEvent("dragover", init));
            zone.dispatchEvent(new DragEvent("drop", init));
        }""",
        list(png.read_bytes()),
    )
    expect(page.locator("#cv-status")).to_have_text(message)
    expect(page.locator("#dropzone")).to_have_attribute("data-state", "error")
    expect(page.get_by_role("button", name="Start interview")).to_be_enabled()


def test_past_interviews_reopen_a_session(server: ServerThread, backend: ScriptedBackend, page: Page) -> None:
    """Past interviews lists this browser's sessions, newest first, and reopens one with its transcript."""
    probe = httpx.get(f"{server.base_url}/api/sessions", timeout=10)
    if probe.status_code == 404:
        pytest.skip("GET /api/sessions is not served yet (the list of past interviews)")
    backend.enqueue(
        ScriptedReply("Another browser's interview.", token_delay=0.01),
        ScriptedReply("First interview: tell me about a conflict.", token_delay=0.01),
        ScriptedReply("Second interview: tell me about an API you designed.", token_delay=0.01),
    )
    # Another browser's session must not be listed.
    other = httpx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"}, timeout=10)
    assert other.status_code == 201

    open_start(page, server)
    page.get_by_role("radio", name="Behavioural interview", exact=True).check()
    page.get_by_role("button", name="Start interview").click()
    page.wait_for_url("**/#session=*")
    first = session_id(page)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")

    page.locator(".brand").click()
    page.get_by_role("radio", name="Backend software engineer", exact=True).check()
    page.get_by_role("button", name="Start interview").click()
    page.wait_for_function(
        f"() => location.hash.startsWith('#session=') && !location.hash.includes({first!r})"
    )
    second = session_id(page)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")

    page.get_by_role("link", name="Past interviews").click()
    items = page.locator(".session-item")
    expect(items).to_have_count(2)
    expect(items.locator(".session-title")).to_have_text(
        ["Backend software engineer", "Behavioural interview"]
    )
    assert items.evaluate_all("els => els.map((a) => a.dataset.sessionId)") == [second, first]

    items.nth(1).click()
    page.wait_for_url(f"**/#session={first}")
    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")
    assert shown_text(opening) == "First interview: tell me about a conflict."
    expect(page.locator("#session-title")).to_have_text("Behavioural interview")


def test_language_is_sent_only_when_changed(server: ServerThread, page: Page) -> None:
    """The language defaults to the chosen pack's; a different choice is sent with the new session."""
    open_start(page, server)
    page.get_by_role("radio", name="경험 기반 인성 면접", exact=True).check()
    expect(page.locator("#language")).to_have_value("ko")
    page.get_by_role("radio", name="Behavioural interview", exact=True).check()
    expect(page.locator("#language")).to_have_value("en")
    page.get_by_label("Interview language").select_option("de")
    expect(page.locator("#language-note")).to_have_text(
        "The interviewer will hold the interview in this language."
    )
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/sessions")) as request:
        page.get_by_role("button", name="Start interview").click()
    assert request.value.post_data_json == {"pack": "general-behavioural", "language": "de"}
    page.wait_for_url("**/#session=*")
    data = server_session(server, session_id(page), owner_cookies(page))
    assert data["language"] == "de"
