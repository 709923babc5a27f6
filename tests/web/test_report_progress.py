"""The report page's progress: a second finished interview of a pack charted against the first."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

from pagehelpers import open_start

PACK = "general-behavioural"
ANSWER = (
    "At Acme I led the move of our billing jobs to a queue. I wrote the plan, ran it with two other "
    "engineers, and we cut the nightly failures from ten a week to none within a month."
)


def _api(page: Page, server: ServerThread, method: str, path: str, body: Any = None) -> Any:
    """A call as this browser's owner (the page's cookies travel with page.request)."""
    url = f"{server.base_url}{path}"
    response = page.request.fetch(
        url,
        method=method,
        data=json.dumps(body) if body is not None else None,
        headers={"content-type": "application/json"} if body is not None else None,
    )
    assert response.ok, response.text()
    return response.json() if response.status != 204 else None


def _quiet(page: Page, server: ServerThread, sid: str) -> None:
    deadline = time.monotonic() + 10
    while any(t["status"] == "streaming" for t in _api(page, server, "GET", f"/api/sessions/{sid}")["turns"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _interview(page: Page, server: ServerThread, backend: ScriptedBackend, verdicts: list[str]) -> str:
    n_points = len(_api(page, server, "GET", f"/api/packs/{PACK}")["questions"][0]["assessment"])
    points = [{"verdict": v, "quotes": ["I wrote the plan"] if v == "demonstrated" else []} for v in verdicts]
    points += [{"verdict": "not_shown", "quotes": []}] * (n_points - len(points))
    backend.enqueue_structured(json.dumps({"points": points, "claims": [], "on_topic": True}))
    sid: str = _api(page, server, "POST", "/api/sessions", {"pack": PACK})["id"]
    _quiet(page, server, sid)
    _api(page, server, "POST", f"/api/sessions/{sid}/answers", {"text": ANSWER})
    _quiet(page, server, sid)
    _api(page, server, "POST", f"/api/sessions/{sid}/finish")
    _quiet(page, server, sid)
    deadline = time.monotonic() + 10
    while _api(page, server, "GET", f"/api/sessions/{sid}/report")["status"] != "complete":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return sid


def test_the_second_report_charts_progress_against_the_first(
    server: ServerThread, backend: ScriptedBackend, page: Page
) -> None:
    """The second interview's report page shows the progress card: averages chart, each point's trail."""
    open_start(page, server)
    first = _interview(page, server, backend, ["not_shown", "not_shown"])
    second = _interview(page, server, backend, ["not_shown", "demonstrated"])
    report = _api(page, server, "GET", f"/api/sessions/{second}/report")
    improved = next(p for p in report["progress"]["points"] if p["change"])
    trail = " → ".join(str(s["score"]) for s in improved["scores"])

    page.goto(f"{server.base_url}/#session={second}&view=report")
    card = page.locator("section.progress")
    expect(card.get_by_role("heading", name="Progress")).to_be_visible()
    expect(card).to_contain_text("Compared with your earlier interview of this pack.")
    chart = card.get_by_role("img", name="Average score per interview, of 5")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(2)
    line = card.locator("li", has_text=improved["point"])
    expect(line.locator(".trail")).to_have_text(trail)
    expect(line.locator(".change")).to_have_text(f"+{improved['change']}")
    # The first interview has nothing earlier: no progress card.
    page.goto(f"{server.base_url}/#session={first}&view=report")
    expect(page.get_by_role("heading", name="Your report")).to_be_visible()
    expect(page.locator("section.progress")).to_have_count(0)
