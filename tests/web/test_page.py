"""The interview page at ``/`` in a real Chromium against a real server with a scripted model.

Every wait is on a DOM condition (``expect`` or ``wait_for_function``), never a sleep. Tests
that depend on the transport run on both: the WebSocket and Server-Sent Events.
"""

from __future__ import annotations

import json
import os
import threading

import httpx
import pytest

from hotseat.errors import UpstreamRateLimited
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply, split_tokens
from hotseat.serving import ServerThread

try:
    from playwright.sync_api import Page, Route, WebSocketRoute, expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

from gatedbackend import GatedBackend, GatedReply
from pagehelpers import (
    TRANSPORTS,
    owner_cookies,
    rendered,
    send_answer,
    server_session,
    session_id,
    shown_text,
    shown_turn_ids,
    start_interview,
    turn,
    turn_ids,
    use_transport,
    wait_words,
    watch_conn_states,
)

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
    "Idempotency keys are a good call. Let's stay there for a moment: **where** did you store those keys, "
    "how long did you keep them, and what happened the day that store was slow or unavailable?"
)
REPORT = (
    "Summary: a clear, concrete answer about a real system.\n\n"
    "Strengths: you explained the design decision and why it mattered.\n"
    "To work on: quantify the trade-offs (storage cost of the keys, their retention window)."
)
# A long reply in two parts: the first 30 words stream at once, the rest when the test opens
# the gate, so a test can act while the reply is surely in the middle.
WORDS = [f"word{i}" for i in range(200)]
HEAD = " ".join(WORDS[:30])
TAIL = " " + " ".join(WORDS[30:])
LONG = HEAD + TAIL


def long_reply(gate: threading.Event) -> GatedReply:
    return GatedReply([HEAD, TAIL], gates=[gate])


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
    """Pick a pack, start, watch the opening stream, answer, get a follow-up, finish, see the report."""
    backend.enqueue(
        ScriptedReply(OPENING, token_delay=0.02),
        ScriptedReply(QUESTION, token_delay=0.03),
        ScriptedReply(REPORT, token_delay=0.02),
    )
    sid = start_interview(page, server)

    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")
    assert shown_text(opening) == OPENING
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#hint")).to_have_text("Your turn.")

    # Answer (Shift+Enter makes a new line, Enter sends); the next question streams token by token.
    record_text_lengths(page, "followup")
    box = page.get_by_label("Your answer")
    first, second = ANSWER.split("\n\n")
    box.fill(first)
    box.press("Shift+Enter")
    box.press("Shift+Enter")
    box.press_sequentially(second)
    expect(box).to_have_value(ANSWER)
    expect(page.locator("#send")).to_be_enabled()
    box.press("Enter")
    expect(box).to_have_value("")
    answer = turn(page, "answer")
    expect(answer).to_have_count(1)
    assert shown_text(answer) == ANSWER

    question = turn(page, "followup")
    expect(question).to_have_attribute("data-status", "streaming")
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator("#send")).to_be_hidden()
    expect(page.locator("#skip")).to_be_disabled()
    expect(page.locator("#finish")).to_be_disabled()
    expect(question).to_have_attribute("data-status", "complete")
    assert shown_text(question) == rendered(page, QUESTION)
    expect(question.locator("strong")).to_have_text("where")
    lengths = page.evaluate("window.__lengths")
    assert len(lengths) >= len(split_tokens(QUESTION)) // 2, f"the question did not stream: {lengths}"
    assert lengths == sorted(lengths), f"the question's text shrank while streaming: {lengths}"
    expect(page.locator("#stop")).to_be_hidden()

    # Finish: the written summary streams in, the interview is over, and the report opens.
    page.get_by_role("button", name="Finish interview").click()
    report = turn(page, "report")
    expect(report).to_have_attribute("data-status", "complete")
    assert shown_text(report) == rendered(page, REPORT)
    expect(page.locator("#send")).to_be_hidden()
    expect(page.locator("#hint")).to_have_text("The interview is over. Here is your report.")
    expect(page.locator("#report")).to_be_visible()
    assert page.url.endswith("&view=report")

    data = server_session(server, sid, owner_cookies(page))
    assert data["status"] == "finished"
    assert [(t["role"], t["kind"], t["status"]) for t in data["turns"]] == [
        ("interviewer", "opening", "complete"),
        ("candidate", "answer", "complete"),
        ("interviewer", "followup", "complete"),
        ("interviewer", "report", "complete"),
    ]
    assert [t["text"] for t in data["turns"]] == [OPENING, ANSWER, QUESTION, REPORT]
    assert page.locator(".turn").count() == 4
    # Every turn carries its server id, so the report's evidence links can find the answers.
    assert shown_turn_ids(page) == turn_ids(data)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_session_is_read_once(
    server: ServerThread, backend: ScriptedBackend, page: Page, transport: str
) -> None:
    """Opening a session reads its transcript once, and a move reads it no more: the answer or skip
    takes its server id from the move's own answer (`accepted`: a frame on the socket, or
    the first event of the move's own response over SSE)."""
    backend.enqueue("Hello. First question?", "Thanks. Tell me more?", "Next question?")
    use_transport(page, transport)
    reads: list[str] = []
    page.on("request", lambda request: reads.append(request.url) if "/turns/" not in request.url else None)
    sid = start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    send_answer(page, "I built a payments system.")
    expect(turn(page, "followup")).to_have_attribute("data-status", "complete")
    page.get_by_role("button", name="Skip question").click()
    expect(turn(page, "question")).to_have_attribute("data-status", "complete")
    data = server_session(server, sid, owner_cookies(page))
    assert [t["kind"] for t in data["turns"]] == ["opening", "answer", "followup", "skip", "question"]
    assert shown_turn_ids(page) == turn_ids(data)
    assert [url for url in reads if url.endswith(f"/api/sessions/{sid}")] == [
        f"{server.base_url}/api/sessions/{sid}"
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stop_mid_reply(server: ServerThread, backend: GatedBackend, page: Page, transport: str) -> None:
    """Stop cancels a streaming reply on the server; the page shows exactly the server's partial text."""
    use_transport(page, transport)
    backend.enqueue(long_reply(threading.Event()))  # the gate never opens: stopped mid-reply
    sid = start_interview(page, server)

    opening = turn(page, "opening")
    wait_words(page, "opening", 29)
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(opening).to_have_attribute("data-status", "cancelled")
    expect(stop).to_be_hidden()
    expect(opening.locator(".meta")).to_have_text("Stopped.")

    data = server_session(server, sid, owner_cookies(page))
    [row] = data["turns"]
    assert row["status"] == "cancelled"
    assert row["finish_reason"] == "cancelled"
    assert row["text"] == HEAD
    assert shown_text(opening) == row["text"]
    expect(page.get_by_label("Your answer")).to_be_enabled()
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#retry")).to_be_visible()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reload_mid_reply(server: ServerThread, backend: GatedBackend, page: Page, transport: str) -> None:
    """Reloading while a reply streams reopens the session and ends with exactly the server's text."""
    use_transport(page, transport)
    gate = threading.Event()
    backend.enqueue(long_reply(gate))
    sid = start_interview(page, server)

    wait_words(page, "opening", 29)
    page.reload()
    assert session_id(page) == sid
    opening = turn(page, "opening")
    # Back mid-reply: the turn is still streaming after the reload, rendered from the stream.
    expect(opening).to_have_attribute("data-status", "streaming")
    expect(page.locator("#conn")).to_have_text("Connected")
    wait_words(page, "opening", 29)
    assert shown_text(opening) == HEAD
    gate.set()
    expect(opening).to_have_attribute("data-status", "complete")

    data = server_session(server, sid, owner_cookies(page))
    [row] = data["turns"]
    assert row["status"] == "complete"
    assert row["text"] == LONG
    assert shown_text(opening) == row["text"]
    assert page.locator(".turn").count() == 1


def test_reconnect_after_socket_drop(server: ServerThread, backend: GatedBackend, page: Page) -> None:
    """A socket dropped mid-reply is reported and reopened; the reply ends with exactly the server's text."""
    gate = threading.Event()
    backend.enqueue(long_reply(gate))
    sockets: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        ws.connect_to_server()  # a transparent proxy the test can cut
        sockets.append(ws)

    page.route_web_socket("**/ws?session=*", through)
    sid = start_interview(page, server)
    watch_conn_states(page)
    wait_words(page, "opening", 29)
    assert len(sockets) == 1
    sockets[0].close(code=1011, reason="dropped by the test")

    page.wait_for_function("() => window.__conn.includes('offline')")
    expect(page.locator("#conn")).to_have_text("Connected")
    assert len(sockets) == 2
    gate.set()
    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")

    data = server_session(server, sid, owner_cookies(page))
    [row] = data["turns"]
    assert row["status"] == "complete"
    assert row["text"] == LONG
    assert shown_text(opening) == row["text"]
    assert page.locator(".turn").count() == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_network_drop(server: ServerThread, backend: GatedBackend, page: Page, transport: str) -> None:
    """The network going away mid-reply shows as offline; when it is back the reply ends exactly as stored."""
    use_transport(page, transport)
    gate = threading.Event()
    backend.enqueue(long_reply(gate))
    sid = start_interview(page, server)
    wait_words(page, "opening", 29)

    page.context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    expect(page.locator("#send")).to_be_hidden()
    page.context.set_offline(False)
    expect(page.locator("#conn")).to_have_text("Connected", timeout=20_000)
    gate.set()

    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")
    data = server_session(server, sid, owner_cookies(page))
    [row] = data["turns"]
    assert row["text"] == LONG
    assert shown_text(opening) == row["text"]
    assert page.locator(".turn").count() == 1


def forward_cut(page: Page, route: Route, events: int) -> None:
    """Send the page's request to the server, and give the page only its first ``events`` events."""
    request = route.request
    headers = {**request.headers, "cookie": "; ".join(f"{k}={v}" for k, v in owner_cookies(page).items())}
    received = ""
    with httpx.stream("POST", request.url, content=request.post_data, headers=headers, timeout=10) as reply:
        assert reply.status_code == 202, reply.read()
        for text in reply.iter_text():
            if received.count("\n\n") >= events:
                break
            received += text
    kept = "".join(part + "\n\n" for part in received.split("\n\n")[:events])
    route.fulfill(status=202, content_type="text/event-stream", body=kept)


def test_an_answer_streams_in_its_own_response_and_resumes_after_a_break(
    server: ServerThread, backend: GatedBackend, page: Page
) -> None:
    """Over SSE the answer's POST streams the reply itself. When that response ends early (here cut
    after five events), the rest is read from the turn's events after the last seq shown, and the
    reply ends exactly as stored."""
    use_transport(page, "sse")
    gate = threading.Event()
    backend.enqueue("Hello. First question?", long_reply(gate))
    requests: list[tuple[str, str]] = []
    page.on("request", lambda request: requests.append((request.method, request.url)))
    sid = start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    page.route("**/answers", lambda route: forward_cut(page, route, 5))
    send_answer(page, "I built a payments system.")
    followup = turn(page, "followup")
    expect(followup).to_have_count(1)
    gate.set()
    expect(followup).to_have_attribute("data-status", "complete", timeout=20_000)
    data = server_session(server, sid, owner_cookies(page))
    assert [t["kind"] for t in data["turns"]] == ["opening", "answer", "followup"]
    assert shown_text(followup) == data["turns"][2]["text"] == LONG
    assert shown_turn_ids(page) == turn_ids(data)
    assert len([url for method, url in requests if method == "POST" and url.endswith("/answers")]) == 1
    # Read on from the fourth delta (the first event is `accepted`), not from the start.
    resumed = [url for _, url in requests if f"/turns/{data['turns'][2]['id']}/events" in url]
    assert resumed and resumed[0].endswith("?after=4")


def test_an_answer_whose_response_ends_before_accepted_still_counts(
    server: ServerThread, backend: ScriptedBackend, page: Page
) -> None:
    """A 202 with no events: the answer was made, so it stays; the transcript names it, and its
    reply is read from the start."""
    use_transport(page, "sse")
    backend.enqueue("Hello. First question?", "Thanks. Tell me more?")
    sid = start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    page.route("**/answers", lambda route: forward_cut(page, route, 0))
    send_answer(page, "I built a payments system.")
    expect(turn(page, "followup")).to_have_attribute("data-status", "complete")
    data = server_session(server, sid, owner_cookies(page))
    assert [t["kind"] for t in data["turns"]] == ["opening", "answer", "followup"]
    assert shown_turn_ids(page) == turn_ids(data)
    assert shown_text(turn(page, "followup")) == "Thanks. Tell me more?"
    assert page.get_by_label("Your answer").input_value() == ""  # not handed back as refused


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_queue_position_is_shown(
    server: ServerThread, backend: GatedBackend, page: Page, transport: str
) -> None:
    """While the local model is busy the turn shows its place in the queue, then streams as usual."""
    use_transport(page, transport)
    first, second = threading.Event(), threading.Event()
    reply = GatedReply(
        ["Thanks for waiting. Tell me about yourself."], queued=[2, 1], queue_gates=[first, second]
    )
    backend.enqueue(reply)
    start_interview(page, server)
    opening = turn(page, "opening")
    expect(opening.locator(".meta")).to_have_text("Waiting for the model: number 2 in the queue…")
    expect(page.locator("#hint")).to_have_text("Waiting for the model…")
    first.set()
    expect(opening.locator(".meta")).to_have_text("Waiting for the model: number 1 in the queue…")
    second.set()
    expect(opening).to_have_attribute("data-status", "complete")
    expect(opening.locator(".meta")).to_be_hidden()
    assert shown_text(opening) == reply.text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_failed_reply_retry_and_skip(
    server: ServerThread, backend: ScriptedBackend, page: Page, transport: str
) -> None:
    """An upstream error is explained with its message; Retry rewrites the reply; Skip moves on."""
    use_transport(page, transport)
    hold = threading.Event()
    backend.enqueue(
        ScriptedReply(
            "Let me think about",
            error=UpstreamRateLimited("The model server is rate-limiting."),
            fail_after=3,
        ),
        ScriptedReply("Tell me about an API you designed.", token_delay=0.01),
        ScriptedReply("Next question: how did you model the data?", hold=hold),
    )
    sid = start_interview(page, server)

    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "failed")
    expect(opening.locator(".meta")).to_contain_text("The model server is rate-limiting.")
    expect(opening.locator(".meta")).to_contain_text("You can retry")
    assert shown_text(opening) == "Let me think"  # the three tokens before the failure

    page.get_by_role("button", name="Retry").click()
    retried = page.locator('.turn[data-kind="opening"]').nth(1)
    expect(retried).to_have_attribute("data-status", "complete")
    assert shown_text(retried) == "Tell me about an API you designed."
    expect(page.locator("#retry")).to_be_hidden()

    page.get_by_role("button", name="Skip question").click()
    expect(turn(page, "skip")).to_have_count(1)
    question = turn(page, "question")
    expect(question).to_have_attribute("data-status", "streaming")
    hold.set()
    expect(question).to_have_attribute("data-status", "complete")

    data = server_session(server, sid, owner_cookies(page))
    assert [(t["kind"], t["status"]) for t in data["turns"]] == [
        ("opening", "failed"),
        ("opening", "complete"),
        ("skip", "complete"),
        ("question", "complete"),
    ]
    assert shown_turn_ids(page) == turn_ids(data)


def test_falls_back_to_sse_when_websocket_fails(
    server: ServerThread, backend: ScriptedBackend, page: Page
) -> None:
    """When the WebSocket cannot connect three times in a row, the page switches to SSE and carries on."""
    # A WebSocket that never opens, as behind a proxy that refuses the upgrade.
    page.add_init_script(
        """window.WebSocket = class extends EventTarget {
            constructor(url) {
                super();
                this.url = url;
                this.readyState = 0;
                window.__wsAttempts = (window.__wsAttempts || 0) + 1;
                setTimeout(() => {
                    this.readyState = 3;
                    this.dispatchEvent(new CloseEvent("close", {code: 1006}));
                }, 10);
            }
            send() { throw new Error("not open"); }
            close() {}
        };"""
    )
    backend.enqueue(ScriptedReply(OPENING, token_delay=0.01))
    sid = start_interview(page, server)

    opening = turn(page, "opening")
    expect(opening).to_have_attribute("data-status", "complete")
    assert shown_text(opening) == OPENING
    assert page.evaluate("window.__wsAttempts") == 3
    expect(page.locator("#notice")).to_contain_text("switched to Server-Sent Events")
    # The fallback is for this page only: the saved setting is untouched.
    assert page.evaluate("localStorage.getItem('hotseat.transport')") is None
    assert server_session(server, sid, owner_cookies(page))["turns"][0]["text"] == OPENING


def test_a_refused_answer_is_matched_by_its_ref(
    server: ServerThread, backend: ScriptedBackend, page: Page
) -> None:
    """The server refuses an answer frame (echoing its ref): it leaves the transcript, returns to the box."""
    backend.enqueue(ScriptedReply(OPENING, token_delay=0.01), ScriptedReply(QUESTION, token_delay=0.01))
    sent: list[dict[str, object]] = []

    def spoil_first_answer(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "answer":
                sent.append(frame)
                if len(sent) == 1:
                    # Only whitespace: a real refusal from the real server, which echoes the ref.
                    message = json.dumps({**frame, "text": "   "})
            upstream.send(message)

        ws.on_message(forward)

    page.route_web_socket("**/ws?session=*", spoil_first_answer)
    sid = start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")

    box = page.get_by_label("Your answer")
    box.fill("I led the migration.")
    expect(page.locator("#send")).to_be_enabled()
    box.press("Enter")
    expect(page.locator("#notice")).to_contain_text("The answer is empty")  # the server's own words
    expect(box).to_have_value("I led the migration.")
    expect(turn(page, "answer")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()
    assert isinstance(sent[0].get("ref"), str) and sent[0]["ref"]

    box.press("Enter")  # the same words again, now untouched
    expect(turn(page, "followup")).to_have_attribute("data-status", "complete")
    assert sent[1]["ref"] != sent[0]["ref"]
    data = server_session(server, sid, owner_cookies(page))
    assert [(t["kind"], t["text"]) for t in data["turns"][:2]] == [
        ("opening", OPENING),
        ("answer", "I led the migration."),
    ]
    assert shown_turn_ids(page) == turn_ids(data)


def test_a_move_from_another_tab_shows_in_order(
    server: ServerThread, backend: ScriptedBackend, page: Page
) -> None:
    """Two tabs on one interview: an answer sent in one appears in the other, before the turn it started."""
    backend.enqueue(ScriptedReply(OPENING, token_delay=0.01), ScriptedReply(QUESTION, token_delay=0.01))
    sid = start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    other = page.context.new_page()
    other.goto(page.url)
    expect(turn(other, "opening")).to_have_attribute("data-status", "complete")
    expect(other.locator("#conn")).to_have_text("Connected")

    send_answer(page, ANSWER)
    for tab in (page, other):
        expect(turn(tab, "followup")).to_have_attribute("data-status", "complete")
        expect(turn(tab, "answer")).to_have_count(1)
    data = server_session(server, sid, owner_cookies(page))
    ids = turn_ids(data)
    for tab in (page, other):
        expect(tab.locator(".turn")).to_have_count(len(ids))
        assert shown_turn_ids(tab) == ids
    assert shown_text(turn(other, "answer")) == ANSWER
