"""Hostile CVs cost their own parse processes, not the interviews: eight uploads that each run into
the parse time limit leave a new session's first token about as fast as on an idle server (#22.4)."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
from hardening_kit import serving

import hx
from documents import make_pdf
from hotseat.config import Settings
from hotseat.serving import ServerThread

# A 23 KB PDF whose one page is 300,000 text operators: several seconds of pypdf's time.
SLOW_PDF = make_pdf(
    [["x"]], stream=b"BT /F1 12 Tf 72 720 Td " + b"(x) Tj 1 0 Td " * 300_000 + b"ET", compress=True
)


def first_token_seconds(server: ServerThread) -> float:
    """From POST /api/sessions to the first delta of its opening turn, read over SSE."""
    started = time.perf_counter()
    created = hx.post(f"{server.base_url}/api/sessions", json={"pack": "backend-engineer"}, timeout=30)
    assert created.status_code == 201, created.text
    body = created.json()
    url = f"{server.base_url}/api/sessions/{body['id']}/turns/{body['turn_id']}/events"
    with httpx.stream("GET", url, headers=hx.AUTH, timeout=30) as events:
        for line in events.iter_lines():
            if line.startswith("event: delta"):
                return time.perf_counter() - started
    raise AssertionError("the opening turn sent no text")


def test_slow_parses_do_not_slow_the_interviews(settings: Settings) -> None:
    """Eight uploads each killed at the parse limit: every one gets 422 (or 503 busy), and sessions
    started meanwhile reach their first token within twice the idle time, with 1.5 s of slack for
    a machine whose two cores are busy with the parses themselves (a parse on the event loop would
    hold every session for the whole 5 s it takes)."""
    with serving(settings, cv_parse_timeout_seconds=1.0, upload_burst=20, upload_burst_per_ip=20) as server:
        idle = statistics.median(first_token_seconds(server) for _ in range(5))
        answers: list[int] = []

        def upload() -> None:
            files = {"file": ("cv.pdf", SLOW_PDF, "application/pdf")}
            answers.append(hx.post(f"{server.base_url}/api/cvs", files=files, timeout=120).status_code)

        uploads = [threading.Thread(target=upload) for _ in range(8)]
        for thread in uploads:
            thread.start()
        time.sleep(0.5)  # the first parses are running, the rest queued
        loaded = statistics.median(first_token_seconds(server) for _ in range(5))
        for thread in uploads:
            thread.join(120)
    assert set(answers) <= {422, 503} and len(answers) == 8, answers
    assert loaded <= max(2 * idle, idle + 1.5), (idle, loaded)
