"""Voice on the page, in Chromium with a fake microphone that plays a recorded answer.

Chromium runs with ``--use-fake-device-for-media-stream`` and
``--use-file-for-fake-audio-capture`` pointing at an espeak-ng recording, so
the page's microphone hears a real spoken answer; the server runs the real
embedded speech models.
"""

from __future__ import annotations

import json
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, unavailable
from gatedbackend import GatedBackend, GatedReply
from pagehelpers import owner_cookies, server_session, start_interview, turn

from hotseat.serving import ServerThread

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ANSWER = "I moved the payments database to PostgreSQL."
REPLY = "Good. What did you measure before the switch? And what changed afterwards?"
PAD_SECONDS = 1.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The answer as a WAV with a second of silence before and after; and its length in seconds."""
    directory = tmp_path_factory.mktemp("voice")
    spoken, padded = directory / "spoken.wav", directory / "answer.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(spoken), ANSWER], check=True)
    subprocess.run(["sox", str(spoken), "-r", "48000", str(padded), "pad", "1", "1"], check=True)
    seconds = float(
        subprocess.run(["soxi", "-D", str(padded)], check=True, capture_output=True, text=True).stdout
    )
    return padded, seconds


@pytest.fixture(scope="module")
def browser(recording: tuple[Path, float]) -> Iterator[Browser]:
    """Chromium whose microphone plays the recording once, and which may play audio unprompted."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: run `.venv/bin/pip install playwright`")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is absent: run `apt-get install -y chromium` to run the page tests")
    fake_audio = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={recording[0]}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *fake_audio]
        )
        try:
            yield launched
        finally:
            launched.close()


def hold_to_speak(page: Page, seconds: float) -> None:
    """Press the microphone button, keep it down while the fake microphone plays, release it."""
    page.get_by_role("button", name="Hold to speak").hover()
    page.mouse.down()
    time.sleep(seconds)
    page.mouse.up()


def test_an_answer_by_voice_and_the_reply_spoken(
    server: ServerThread, backend: GatedBackend, page: Page, recording: tuple[Path, float]
) -> None:
    """Held, the microphone records the answer; its transcript, corrected, is sent; the reply plays."""
    from playwright.sync_api import expect

    backend.enqueue("Hello. Tell me about a migration you led.", GatedReply([REPLY], token_delay=0.05))
    sid = start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    expect(page.locator("#voice")).to_be_visible()
    hold_to_speak(page, recording[1] + 0.5)
    box = page.get_by_label("Your answer")
    # The words heard, not their exact wording: the fake microphone plays in real time, and on a
    # busy machine Chromium drops some of it ("the payment to stay the base", seen in a full run);
    # what recognition gets right is tests/speech/test_recognition.py's to prove, on fixed files.
    page.wait_for_function(
        "() => /\\bmoved the payments?\\b/i.test(document.querySelector('#answer').value)", timeout=30_000
    )
    heard = box.input_value()
    box.fill(heard + " It took six weeks.")  # corrected before sending
    page.get_by_role("button", name="Send").click()
    expect(page.locator('#voice-out[data-playing="true"]')).to_have_count(1, timeout=20_000)
    answer = next(
        t for t in server_session(server, sid, owner_cookies(page))["turns"] if t["role"] == "candidate"
    )
    assert answer["text"] == heard + " It took six weeks."


def opened(page: Page, server: ServerThread, backend: GatedBackend) -> None:
    """An interview open on the page, its opening turn complete."""
    from playwright.sync_api import expect

    backend.enqueue("Hello. Tell me about a migration you led.")
    start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")


def heard_in_the_box(page: Page) -> None:
    """Wait for the recording's transcript in the answer box (no CV here to hint "database")."""
    page.wait_for_function(
        "() => /moved the payments?/i.test(document.querySelector('#answer').value)", timeout=30_000
    )


def test_the_words_show_while_the_candidate_speaks(
    server: ServerThread, backend: GatedBackend, page: Page, recording: tuple[Path, float]
) -> None:
    """Recorded on the socket, the words heard so far show by the microphone before it is released."""
    from playwright.sync_api import expect

    opened(page, server, backend)
    page.get_by_role("button", name="Hold to speak").hover()
    page.mouse.down()
    page.wait_for_function(
        "() => /Hearing: .*(moved|payment)/i.test(document.querySelector('#voice-note').textContent)",
        timeout=20_000,
    )
    assert page.get_by_label("Your answer").input_value() == ""  # only a preview so far
    page.mouse.up()
    heard_in_the_box(page)  # the whole recording, transcribed again
    expect(page.locator("#voice-note")).to_have_text("")


def test_hands_free_ends_the_answer_at_the_pause_and_fills_the_box(
    server: ServerThread, backend: GatedBackend, page: Page, recording: tuple[Path, float]
) -> None:
    """Hands-free: one press; the pause ends the answer, its words fill the box; stopping shows no error."""
    from playwright.sync_api import expect

    opened(page, server, backend)
    page.get_by_label("Microphone mode").select_option("hands-free")
    page.get_by_role("button", name="Start listening").click()
    heard_in_the_box(page)
    # Listening went on with a new recording; stopping it cancels that one on the server.
    page.get_by_role("button", name="Listening… (press to stop)").click()
    expect(page.get_by_role("button", name="Start listening")).to_be_visible()
    page.wait_for_timeout(1500)  # a refused frame would show its notice by now
    expect(page.locator("#notice")).to_be_hidden()


def test_speaking_over_the_interviewer_stops_the_reply(
    server: ServerThread, backend: GatedBackend, page: Page, recording: tuple[Path, float]
) -> None:
    """Barge-in: pressing the microphone while the reply plays stops the voice and cancels the turn."""
    from playwright.sync_api import expect

    gate = threading.Event()  # never opened: the reply is surely still streaming
    opening = (
        "Hello, and welcome to the interview. I will ask you about your work on the payments team. First"
    )
    backend.enqueue(GatedReply([opening, " question."], gates=[gate]))
    sid = start_interview(page, server)
    expect(page.locator('#voice-out[data-playing="true"]')).to_have_count(1, timeout=20_000)
    hold_to_speak(page, 0.5)
    expect(turn(page, "opening")).to_have_attribute("data-status", "cancelled")
    expect(page.locator('#voice-out[data-playing="false"]')).to_have_count(1)
    [row] = server_session(server, sid, owner_cookies(page))["turns"]
    assert row["status"] == "cancelled"


def test_a_reload_resumes_the_voice_after_the_last_sentence_heard(
    server: ServerThread, backend: GatedBackend, page: Page
) -> None:
    """Reloaded mid-reply, the page asks for the speech after the sentence it played, and plays it."""
    from playwright.sync_api import WebSocket, expect

    gate = threading.Event()  # holds the reply after its second sentence (incomplete until more comes)
    first = "Hello, and welcome to the interview. I will ask you about your work on the payments team. "
    backend.enqueue(GatedReply([first, "First, tell me about a migration you led."], gates=[gate]))
    start_interview(page, server)
    # The first sentence has been played to its end: the seq that completed it is kept for the turn.
    read_heard = "() => JSON.parse(sessionStorage.getItem('hotseat.voice.heard') || '[]')"
    page.wait_for_function(f"() => ({read_heard})().some(([, seq]) => seq > 0)", timeout=30_000)
    [[turn_id, seq]] = page.evaluate(read_heard)
    sent: list[dict[str, object]] = []
    received: list[dict[str, object]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: received.extend(speech_header(payload)))

    page.on("websocket", watch)
    page.reload()
    expect(page.locator("#conn")).to_have_text("Connected")
    expect(turn(page, "opening")).to_have_attribute("data-status", "streaming")
    gate.set()
    expect(page.locator('#voice-out[data-playing="true"]')).to_have_count(1, timeout=20_000)
    assert {"type": "speech", "turn_id": turn_id, "after": seq} in sent
    assert received and all(h["turn_id"] == turn_id and int(str(h["last"])) > seq for h in received)


def test_the_next_reply_is_asked_for_without_a_speech_stop(
    server: ServerThread, backend: GatedBackend, page: Page
) -> None:
    """A `speech` frame stops what the socket was saying (docs/protocol.md), so the page asks for
    the next reply's voice with it alone: one `speech` per turn, no `speech_stop` in between."""
    from playwright.sync_api import WebSocket, expect

    sent: list[dict[str, object]] = []

    def watch(socket: WebSocket) -> None:
        socket.on(
            "framesent",
            lambda payload: sent.append(json.loads(payload)) if isinstance(payload, str) else None,
        )

    def asked() -> list[object]:
        return [frame["type"] for frame in sent if frame["type"] in ("speech", "speech_stop")]

    def answer_and_hear(text: str, speeches: int) -> None:
        page.get_by_label("Your answer").fill(text)
        page.get_by_role("button", name="Send").click()
        for _ in range(200):
            if asked().count("speech") >= speeches:
                return
            page.wait_for_timeout(100)

    page.on("websocket", watch)
    # The replies stream slowly enough for the page to see them streaming, when it asks for voice
    # (the opening's comes over HTTP: the socket opens after it has begun).
    slow = [
        GatedReply([REPLY], token_delay=0.05),
        GatedReply(["And how did you roll it back?"], token_delay=0.05),
    ]
    backend.enqueue("Hello. Tell me about a migration you led.", *slow)
    start_interview(page, server)
    expect(turn(page, "opening")).to_have_attribute("data-status", "complete")
    answer_and_hear("I moved the payments database to PostgreSQL last spring.", 1)
    answer_and_hear("We kept the old database writable for a week.", 2)
    assert asked() == ["speech", "speech"]


def speech_header(payload: str | bytes) -> list[dict[str, object]]:
    """The header of a binary speech frame (none for a text frame)."""
    if isinstance(payload, str):
        return []
    (length,) = struct.unpack(">I", payload[:4])
    header: dict[str, object] = json.loads(payload[4 : 4 + length])
    return [header]
