"""Speech through OpenAI-compatible servers (HOTSEAT_STT_URL, HOTSEAT_TTS_URL), against a real mock one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import wait_quiet
from pydantic import SecretStr

from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread
from hotseat.speech.sentences import speakable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "speech"))
from audiofiles import tone, wav
from mock_speech import MockSpeech

REPLY = "Thanks. Which **database** did you pick? And why that one?"


@pytest.fixture
def mock() -> Iterator[tuple[MockSpeech, ServerThread]]:
    speech = MockSpeech()
    with ServerThread(speech.app()) as running:
        yield speech, running


@pytest.fixture
def settings(settings: Settings, mock: tuple[MockSpeech, ServerThread]) -> Settings:
    url = f"{mock[1].base_url}/v1"
    return settings.model_copy(
        update={"stt_url": url, "tts_url": url, "stt_api_key": SecretStr("sk-speech"), "tts_voice": "nova"}
    )


def korean_session(client: httpx.Client, backend: ScriptedBackend) -> dict[str, Any]:
    backend.enqueue("안녕하세요.")
    cv = client.post(
        "/api/cvs", files={"file": ("cv.txt", b"Moved billing to PostgreSQL.", "text/plain")}
    ).json()
    session: dict[str, Any] = client.post(
        "/api/sessions", json={"pack": "backend-engineer", "cv_id": cv["id"], "language": "ko"}
    ).json()
    wait_quiet(client, session["id"])
    return session


def test_a_server_hears_any_language_with_the_cvs_terms_as_its_prompt(
    client: httpx.Client, backend: ScriptedBackend, mock: tuple[MockSpeech, ServerThread]
) -> None:
    """The recording goes as a 16 kHz WAV with the language, the model, the key and the terms as prompt."""
    speech, _ = mock
    session = korean_session(client, backend)
    assert client.get("/api/speech").json()["stt"] == {"backend": "server", "languages": None}
    backend.enqueue("Why?")
    reply = client.post(f"/api/sessions/{session['id']}/answers", files={"audio": ("a.wav", wav(tone(1.0)))})
    assert reply.status_code == 202, reply.text
    assert reply.json()["transcript"] == speech.transcript
    sent = speech.transcriptions[-1]
    assert (sent["model"], sent["language"], sent["authorization"]) == ("whisper-1", "ko", "Bearer sk-speech")
    assert "PostgreSQL" in sent["prompt"]
    assert sent["file"][:4] == b"RIFF"
    turns = wait_quiet(client, session["id"])
    assert turns[1]["text"] == speech.transcript
    # A spoken answer's 202 names the turns as a typed one's does.
    assert (reply.json()["candidate_turn_id"], reply.json()["turn_id"]) == (turns[1]["id"], turns[2]["id"])


def test_a_server_speaks_each_sentence_in_order(
    client: httpx.Client, backend: ScriptedBackend, mock: tuple[MockSpeech, ServerThread]
) -> None:
    """Each sentence is one request (voice and pcm asked for), and the stream is 24 kHz WAV of them all."""
    speech, _ = mock
    session = korean_session(client, backend)
    backend.enqueue(REPLY)
    turn_id = client.post(f"/api/sessions/{session['id']}/answers", json={"text": "It was hard."}).json()[
        "turn_id"
    ]
    wait_quiet(client, session["id"])
    spoken = client.get(f"/api/sessions/{session['id']}/turns/{turn_id}/speech")
    assert spoken.status_code == 200
    asked = [(s["input"], s["voice"], s["response_format"]) for s in speech.syntheses]
    sentences = ["Thanks.", "Which database did you pick?", "And why that one?"]
    assert asked == [(text, "nova", "pcm") for text in sentences]
    assert int.from_bytes(spoken.content[24:28], "little") == 24_000  # the WAV header's sample rate
    assert len(spoken.content) == 44 + sum(2 * 2400 * len(speakable(s).split()) for s in sentences)


@pytest.mark.parametrize(("status", "code"), [(500, "upstream_error"), (429, "upstream_rate_limited")])
def test_a_failing_server_is_an_upstream_error_and_nothing_is_stored(
    client: httpx.Client,
    backend: ScriptedBackend,
    mock: tuple[MockSpeech, ServerThread],
    status: int,
    code: str,
) -> None:
    """The server's failure becomes a 502 with its code, before anything is stored; speech likewise."""
    speech, _ = mock
    session = korean_session(client, backend)
    speech.fail_status = status
    refused = client.post(
        f"/api/sessions/{session['id']}/answers", files={"audio": ("a.wav", wav(tone(1.0)))}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (502, code)
    assert len(wait_quiet(client, session["id"])) == 1
    silent = client.get(f"/api/sessions/{session['id']}/turns/{session['turn_id']}/speech")
    assert (silent.status_code, silent.json()["error"]["code"]) == (502, code)


def test_an_unreachable_server_is_upstream_unavailable(
    client: httpx.Client, backend: ScriptedBackend, mock: tuple[MockSpeech, ServerThread]
) -> None:
    """A speech server that is not running: 502 upstream_unavailable naming the setting."""
    session = korean_session(client, backend)
    mock[1].stop()
    refused = client.post(
        f"/api/sessions/{session['id']}/answers", files={"audio": ("a.wav", wav(tone(1.0)))}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (502, "upstream_unavailable")
    assert "HOTSEAT_STT_URL" in refused.json()["error"]["message"]
