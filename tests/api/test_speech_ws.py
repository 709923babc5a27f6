"""Audio on the WebSocket against a real server: recordings in as binary frames, speech out.

The server runs the scripted model and the real embedded speech models
(faster-whisper tiny.en, Piper); recordings are made with espeak-ng.
"""

from __future__ import annotations

import contextlib
import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import recv_json, wait_quiet
from test_speech import ANSWER, REPLY, start, transcribe
from websockets.sync.client import ClientConnection

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread, uvicorn_config_kwargs
from hotseat.speech.audio import streaming_wav_header
from hx import ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "speech"))
from audiofiles import espeak, tone, wav

CHUNK = 16 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short limits, so that a test recording can pass them."""
    return settings.model_copy(update={"speech_max_seconds": 8.0, "speech_max_bytes": 400_000})


def connect(server: ServerThread, session_id: str) -> ClientConnection:
    return ws_connect(f"{server.ws_url}/ws?session={session_id}")


def send_recording(ws: ClientConnection, data: bytes, ref: str, mode: str = "transcript") -> None:
    """audio_start, the recording in binary frames, audio_end."""
    ws.send(json.dumps({"type": "audio_start", "ref": ref, "mode": mode}))
    for start_at in range(0, len(data), CHUNK):
        ws.send(data[start_at : start_at + CHUNK])
    ws.send(json.dumps({"type": "audio_end"}))


def probe(ws: ClientConnection) -> dict[str, Any]:
    """A frame with a known answer: what arrives next proves nothing else was sent before it."""
    ws.send(json.dumps({"type": "resume", "turn_id": "probe", "after": 0}))
    return recv_json(ws, timeout=30)


def read_speech(ws: ClientConnection) -> tuple[list[dict[str, Any]], bytes, dict[str, Any], list[str]]:
    """Frames until speech_end: (speech headers, their PCM, the end frame, each frame's type in order)."""
    headers: list[dict[str, Any]] = []
    pcm = b""
    order: list[str] = []
    while True:
        message = ws.recv(timeout=30)
        if isinstance(message, bytes):
            (length,) = struct.unpack(">I", message[:4])
            headers.append(json.loads(message[4 : 4 + length]))
            pcm += message[4 + length :]
            order.append("audio")
            continue
        frame = json.loads(message)
        if frame["type"] == "speech_end":
            return headers, pcm, frame, order
        order.append(frame["type"])


def test_a_recording_on_the_socket_comes_back_as_its_transcript(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """audio_start, binary frames, audio_end: a transcript frame with the ref and the CV's terms."""
    session = start(client, backend)
    with connect(server, session["id"]) as ws:
        send_recording(ws, espeak(ANSWER, tmp_path), "r1")
        heard = recv_json(ws, timeout=30)
    assert heard["type"] == "transcript" and heard["ref"] == "r1", heard
    assert "PostgreSQL" in heard["text"] and "idempotency" in heard["text"]
    assert heard["seconds"] > 2 and "turn_id" not in heard
    assert len(wait_quiet(client, session["id"])) == 1


def test_partial_transcripts_arrive_while_the_recording_streams(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """partial: true, the recording sent in real time: words come back before audio_end, then the whole."""
    session = start(client, backend)
    data = espeak(ANSWER, tmp_path)  # 22 050 Hz, 16-bit: 44 100 bytes a second
    second = 44_100
    partials: list[dict[str, Any]] = []
    with connect(server, session["id"]) as ws:
        ws.send(json.dumps({"type": "audio_start", "ref": "live", "partial": True}))
        for start_at in range(0, len(data), second // 4):
            ws.send(data[start_at : start_at + second // 4])
            time.sleep(0.25)
            with contextlib.suppress(TimeoutError):
                partials.append(recv_json(ws, timeout=0))
        ws.send(json.dumps({"type": "audio_end"}))
        final = recv_json(ws, timeout=30)
        while final["type"] == "transcript_partial":  # one that was on its way
            partials.append(final)
            final = recv_json(ws, timeout=30)
    assert partials, "no partial transcript while the recording streamed"
    assert all(p["type"] == "transcript_partial" and p["ref"] == "live" and p["text"] for p in partials)
    assert any("moved" in p["text"] or "payment" in p["text"] for p in partials), partials
    assert final["type"] == "transcript" and "PostgreSQL" in final["text"], final


def test_a_spoken_answer_on_the_socket_starts_the_next_turn(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """mode answer: the transcript is stored as the answer, and the next turn streams on the socket."""
    session = start(client, backend)
    backend.enqueue("What did you do first?")
    with connect(server, session["id"]) as ws:
        send_recording(ws, espeak(ANSWER, tmp_path), "r2", mode="answer")
        frames: dict[str, dict[str, Any]] = {}
        while "transcript" not in frames or "done" not in frames:
            frame = recv_json(ws, timeout=30)
            frames.setdefault(frame["type"], frame)
    assert frames["transcript"]["turn_id"] == frames["turn"]["turn_id"] == frames["done"]["turn_id"]
    turns = wait_quiet(client, session["id"])
    assert [t["role"] for t in turns] == ["interviewer", "candidate", "interviewer"]
    assert turns[1]["text"] == frames["transcript"]["text"] and "PostgreSQL" in turns[1]["text"]
    assert frames["transcript"]["candidate_turn_id"] == turns[1]["id"]
    assert frames["transcript"]["kind"] == turns[2]["kind"]


def test_bad_recordings_on_the_socket_get_errors_and_store_nothing(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """Out of order, too large, too long, silent, another type: each its error with the ref."""
    session = start(client, backend)
    with connect(server, session["id"]) as ws:
        ws.send(b"RIFF")
        assert recv_json(ws)["code"] == "bad_request"  # binary before audio_start
        ws.send(json.dumps({"type": "audio_end"}))
        assert recv_json(ws)["code"] == "bad_request"
        ws.send(json.dumps({"type": "audio_start", "ref": "x", "mode": "speak"}))
        refused = recv_json(ws)
        assert "mode" in refused["message"] and refused["ref"] == "x"  # a malformed start's ref is echoed
        ws.send(json.dumps({"type": "audio_start", "ref": "a"}))
        ws.send(json.dumps({"type": "audio_start", "ref": "b"}))
        twice = recv_json(ws)
        assert (twice["code"], twice["ref"]) == ("bad_request", "b")
        ws.send(json.dumps({"type": "audio_cancel"}))
        # Over speech_max_bytes: refused at the chunk that passes it, the rest dropped silently.
        send_recording(ws, bytes(420_000), "big")
        big = recv_json(ws)
        assert (big["code"], big["ref"]) == ("too_large", "big") and "0.381 MB" in big["message"]
        assert probe(ws)["code"] == "not_found"  # nothing more about "big"
        cases = [
            (b"\x89PNG\r\n\x1a\n" + bytes(100), "unsupported_type"),
            (wav(tone(2.0) * 0), "unprocessable"),
            (wav(tone(9.0, level=0.2)), "too_large"),  # over speech_max_seconds
        ]
        for index, (data, code) in enumerate(cases):
            send_recording(ws, data, f"c{index}", mode="answer")
            refused = recv_json(ws, timeout=30)
            assert (refused["type"], refused["code"], refused["ref"]) == ("error", code, f"c{index}")
    assert len(wait_quiet(client, session["id"])) == 1


def test_a_third_recording_while_two_are_transcribed_is_busy(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """Two recordings of one socket are transcribed at once; a third meanwhile gets busy with its ref."""
    session = start(client, backend)
    data = espeak(ANSWER, tmp_path)
    with connect(server, session["id"]) as ws:
        for ref in ("one", "two", "three"):
            send_recording(ws, data, ref)
        replies = {frame["ref"]: frame for frame in (recv_json(ws, timeout=30) for _ in range(3))}
    assert replies["three"]["code"] == "busy" and replies["three"]["retry_after"] == 2
    assert replies["one"]["type"] == replies["two"]["type"] == "transcript"


def test_seconds_of_audio_are_rate_limited_per_owner(
    settings: Settings, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """With a 6 s burst of audio seconds, a second 5 s recording is refused rate_limited."""
    limited = settings.model_copy(update={"speech_seconds_burst": 6, "speech_seconds_per_minute": 1.0})
    config = uvicorn_config_kwargs(limited) | {"log_level": "warning"}
    with (
        ServerThread(create_app(limited, backend=backend), **config) as server,
        hx.client(server.base_url, timeout=30) as client,
    ):
        session = start(client, backend)
        recording = espeak(ANSWER, tmp_path)  # about 5 s: two do not fit in 6 s
        with connect(server, session["id"]) as ws:
            send_recording(ws, recording, "first")
            assert recv_json(ws, timeout=30)["type"] == "transcript"
            send_recording(ws, recording, "second")
            refused = recv_json(ws, timeout=30)
        over_http = client.post(
            f"/api/sessions/{session['id']}/transcripts", files={"audio": ("a.wav", recording)}
        )
    assert (refused["code"], refused["ref"]) == ("rate_limited", "second") and refused["retry_after"] >= 1
    assert over_http.status_code == 429 and over_http.headers["retry-after"]


def test_the_reply_is_spoken_on_the_socket_with_its_seq_ranges(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """speech frames: binary parts headed by turn and seq range, the first while the turn still streams."""
    session = start(client, backend)
    backend.enqueue(ScriptedReply(REPLY, token_delay=0.3))  # 5 s: time for a loaded machine to speak
    with connect(server, session["id"]) as ws:
        ws.send(json.dumps({"type": "answer", "text": "I led it."}))
        accepted, turn = recv_json(ws), recv_json(ws)
        assert accepted["type"] == "accepted" and turn["type"] == "turn"
        assert accepted["turn_id"] == turn["turn_id"]
        ws.send(json.dumps({"type": "speech", "turn_id": turn["turn_id"], "after": 0}))
        headers, pcm, end, order = read_speech(ws)
    assert end == {"type": "speech_end", "turn_id": turn["turn_id"], "reason": "done"}
    assert order.index("audio") < order.index("done")  # the first sentence was heard while the text streamed
    assert {h["turn_id"] for h in headers} == {turn["turn_id"]} and {h["rate"] for h in headers} == {22050}
    sentences = [(h["first"], h["last"]) for h in headers if h["end"]]
    assert len(sentences) == 3 and sentences == sorted(sentences)
    assert all(first <= last for first, last in sentences)
    heard = transcribe(streaming_wav_header(22050) + pcm)
    assert "hardest bug" in heard and "learn" in heard, heard


def test_speech_resumes_after_a_seq_and_can_be_stopped(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend
) -> None:
    """after skips the sentences heard; speech_stop ends it (stopped); an unknown turn ends in error."""
    session = start(client, backend)
    backend.enqueue(REPLY)
    turn_id = client.post(f"/api/sessions/{session['id']}/answers", json={"text": "I led it."}).json()[
        "turn_id"
    ]
    wait_quiet(client, session["id"])
    with connect(server, session["id"]) as ws:
        # "Thanks for that answer." is complete at seq 5 (one token per word).
        ws.send(json.dumps({"type": "speech", "turn_id": turn_id, "after": 5}))
        headers, pcm, end, _ = read_speech(ws)
        assert end["reason"] == "done" and min(h["last"] for h in headers) > 5
        heard = transcribe(streaming_wav_header(22050) + pcm)
        assert "thanks" not in heard.lower() and "hardest bug" in heard, heard
        ws.send(json.dumps({"type": "speech", "turn_id": turn_id}))
        first = ws.recv(timeout=30)
        assert isinstance(first, bytes)
        ws.send(json.dumps({"type": "speech_stop"}))
        _, _, stopped, _ = read_speech(ws)
        assert stopped == {"type": "speech_end", "turn_id": turn_id, "reason": "stopped"}
        ws.send(json.dumps({"type": "speech", "turn_id": "nope"}))
        _, nothing, missing, _ = read_speech(ws)
    assert nothing == b"" and missing["reason"] == "error" and missing["error"]["code"] == "not_found"


def test_korean_voice_on_the_socket_needs_a_speech_server(
    server: ServerThread, client: httpx.Client, backend: ScriptedBackend, tmp_path: Path
) -> None:
    """A Korean session: audio_start is refused at once with the ref, speech ends with bad_request."""
    session = start(client, backend, language="ko")
    with connect(server, session["id"]) as ws:
        send_recording(ws, espeak(ANSWER, tmp_path), "ko")
        refused = recv_json(ws)
        assert (refused["code"], refused["ref"]) == ("bad_request", "ko")
        assert "HOTSEAT_STT_URL" in refused["message"]
        assert probe(ws)["code"] == "not_found"  # the recording's frames were dropped silently
        ws.send(json.dumps({"type": "speech", "turn_id": session["turn_id"]}))
        _, _, end, _ = read_speech(ws)
    assert end["reason"] == "error" and "HOTSEAT_TTS_URL" in end["error"]["message"]
