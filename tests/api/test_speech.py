"""Speech over HTTP against a real server: spoken answers in, the interviewer's reply as audio out.

The server runs the scripted model and the real embedded speech models
(faster-whisper tiny.en, Piper); recordings are made with espeak-ng.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import wait_quiet

from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.speech import audio
from hotseat.speech.stt import EmbeddedTranscriber

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "speech"))
from audiofiles import espeak, tone, wav

CV = "Jane Doe. Backend engineer: moved the payments database to PostgreSQL and added idempotency keys."
ANSWER = "I moved the payments database to PostgreSQL with idempotency keys."
REPLY = "Thanks for that answer. Tell me about the hardest bug you fixed. What did you learn from it?"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short limits, so that a test recording can pass them."""
    return settings.model_copy(update={"speech_max_seconds": 8.0, "speech_max_bytes": 400_000})


def start(client: httpx.Client, backend: ScriptedBackend, **fields: Any) -> dict[str, Any]:
    """A session with the CV, its opening turn finished."""
    backend.enqueue("Hello. Tell me about a migration you led.")
    cv = client.post("/api/cvs", files={"file": ("cv.txt", CV.encode(), "text/plain")}).json()
    session: dict[str, Any] = client.post(
        "/api/sessions", json={"pack": "backend-engineer", "cv_id": cv["id"], **fields}
    ).json()
    wait_quiet(client, session["id"])
    return session


def answer(client: httpx.Client, session_id: str, data: bytes, name: str = "answer.wav") -> httpx.Response:
    return client.post(f"/api/sessions/{session_id}/answers", files={"audio": (name, data, "audio/wav")})


def test_a_spoken_answer_is_stored_as_its_transcript(
    client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """A recorded answer gets 202 with the transcript (the CV's terms heard right), stored as the answer."""
    session = start(client, backend)
    backend.enqueue("What did you do first?")
    reply = answer(client, session["id"], espeak(ANSWER, tmp_path))
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert "PostgreSQL" in body["transcript"] and "idempotency" in body["transcript"]
    turns = wait_quiet(client, session["id"])
    assert [t["role"] for t in turns] == ["interviewer", "candidate", "interviewer"]
    assert turns[1]["text"] == body["transcript"]
    assert turns[2]["id"] == body["turn_id"]


def test_bad_recordings_get_clear_errors_and_lose_nothing(
    client: httpx.Client, backend: ScriptedBackend
) -> None:
    """Another file type, silence, a recording too long or too large, or no audio field: each its error."""
    session = start(client, backend)
    cases = [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), 415, "unsupported_type"),
        (wav(tone(2.0) * 0), 422, "unprocessable"),
        (wav(tone(9.0, level=0.2)), 413, "too_large"),  # over speech_max_seconds
        (bytes(400_001), 413, "too_large"),  # over speech_max_bytes (the framing fits the body limit)
    ]
    for data, status, code in cases:
        refused = answer(client, session["id"], data)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), refused.text
        assert refused.json()["error"]["message"]
    no_field = client.post(f"/api/sessions/{session['id']}/answers", files={"file": ("a.wav", b"RIFF")})
    assert no_field.status_code == 400 and "audio" in no_field.json()["error"]["message"]
    assert len(wait_quiet(client, session["id"])) == 1  # nothing was stored or started


def test_a_transcript_alone_is_not_an_answer(
    client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """POST .../transcripts returns the words for the candidate to correct, and stores nothing."""
    session = start(client, backend)
    heard = client.post(
        f"/api/sessions/{session['id']}/transcripts", files={"audio": ("a.wav", espeak(ANSWER, tmp_path))}
    )
    assert heard.status_code == 200, heard.text
    assert "PostgreSQL" in heard.json()["transcript"] and heard.json()["seconds"] > 2
    assert len(wait_quiet(client, session["id"])) == 1


def test_korean_needs_a_speech_server(client: httpx.Client, backend: ScriptedBackend, tmp_path: Path) -> None:
    """With the English-only embedded models, a Korean session gets a clear 400 for voice either way."""
    session = start(client, backend, language="ko")
    refused = answer(client, session["id"], espeak(ANSWER, tmp_path))
    assert refused.status_code == 400 and "HOTSEAT_STT_URL" in refused.json()["error"]["message"]
    silent = client.get(f"/api/sessions/{session['id']}/turns/{session['turn_id']}/speech")
    assert silent.status_code == 400 and "HOTSEAT_TTS_URL" in silent.json()["error"]["message"]
    assert client.get("/api/speech").json()["tts"] == {"backend": "embedded", "languages": ["en"]}


def test_the_reply_is_spoken_while_it_streams(client: httpx.Client, backend: ScriptedBackend) -> None:
    """The first sentence's audio arrives while the turn still generates; the whole WAV says the reply."""
    session = start(client, backend)
    backend.enqueue(ScriptedReply(REPLY, token_delay=0.15))
    turn_id = client.post(f"/api/sessions/{session['id']}/answers", json={"text": "I led it."}).json()[
        "turn_id"
    ]
    url = f"/api/sessions/{session['id']}/turns/{turn_id}/speech"
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        chunks = response.iter_bytes()
        first = next(chunks)
        statuses = {
            t["id"]: t["status"] for t in client.get(f"/api/sessions/{session['id']}").json()["turns"]
        }
        assert statuses[turn_id] == "streaming"  # the first sentence was heard before the reply ended
        body = first + b"".join(chunks)
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    heard = transcribe(body)
    assert "hardest bug" in heard and "learn" in heard, heard


def test_speech_resumes_after_the_seq_already_heard(client: httpx.Client, backend: ScriptedBackend) -> None:
    """?after= skips the sentences already spoken; past the last one there is nothing left (204)."""
    session = start(client, backend)
    backend.enqueue(REPLY)
    turn_id = client.post(f"/api/sessions/{session['id']}/answers", json={"text": "I led it."}).json()[
        "turn_id"
    ]
    wait_quiet(client, session["id"])
    url = f"/api/sessions/{session['id']}/turns/{turn_id}/speech"
    whole = client.get(url)
    # The scripted reply is one token per word: "Thanks for that answer." ends at seq 4 and is complete at 5.
    rest = client.get(url, params={"after": 5})
    assert rest.status_code == 200
    heard = transcribe(rest.content)
    assert "thanks" not in heard.lower() and "hardest bug" in heard
    assert len(rest.content) < len(whole.content)
    assert client.get(url, params={"after": 100}).status_code == 204


def transcribe(wav_stream: bytes) -> str:
    """What the embedded recogniser hears in a spoken turn."""
    import asyncio

    pcm = audio.decode(wav_stream, max_seconds=60)
    return asyncio.run(EmbeddedTranscriber().transcribe(pcm, "en", "")).text
