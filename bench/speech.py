"""Spoken turns end to end: end of the candidate's speech to the first byte of the interviewer's voice.

A real hotseat server (uvicorn on port 0, the scripted model writing a
three-sentence reply at about 30 tokens a second, the embedded faster-whisper
tiny.en and Piper) gets N spoken answers, each in a new session. For each:

- latency: from sending the recording (the client has heard the end of the
  speech) to the first audio byte of the reply: transcription, the answer
  stored, the model's first sentence, its synthesis;
- STT real-time factor: the answer's 202 time over the recording's length;
- TTS real-time factor: the whole spoken reply's time after its first byte
  over its audio length (a lower bound: the model is still writing);
- event-loop lag: how late a 10 ms timer on the server's loop fires while all
  this runs (STT and TTS run on their own threads), after the first turn,
  which loads the models (their imports hold the GIL for a few hundred ms).

    .venv/bin/python bench/speech.py [--turns 20]     # about 80 s on two busy cores
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread
from hotseat.speech import audio

ANSWER = "I moved the payments database to PostgreSQL and added idempotency keys to every request."
REPLY = "Thanks, that is clear. How did you test the migration before the switch? What would you change?"
CV = "Backend engineer. Moved payments to PostgreSQL with idempotency keys; Kafka consumers."


def recording(directory: Path) -> bytes:
    path = directory / "answer.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+m1", "-s", "150", "-w", str(path), ANSWER], check=True)
    return path.read_bytes()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def lag_probe(samples: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(0.01)
        samples.append(max(0.0, loop.time() - start - 0.01))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = recording(Path(tmp))
        spoken_seconds = audio.decode(data, 60).size / audio.SAMPLE_RATE
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            backend="scripted",
            answer_rate_per_minute=0,
            answer_rate_per_minute_per_ip=0,
        )
        backend = ScriptedBackend()
        with (
            ServerThread(create_app(settings, backend=backend)) as server,
            httpx.Client(base_url=server.base_url, timeout=60) as client,
        ):
            assert server.loop is not None
            lags: list[float] = []
            stop = asyncio.Event()
            probe = None
            cv = client.post("/api/cvs", files={"file": ("cv.txt", CV.encode(), "text/plain")}).json()
            latencies, stt_rtf, tts_rtf = [], [], []
            for turn in range(args.turns + 1):  # the first one loads the models: not counted
                backend.enqueue("Hello. Tell me about a migration.", ScriptedReply(REPLY, token_delay=0.033))
                session = client.post(
                    "/api/sessions", json={"pack": "backend-engineer", "cv_id": cv["id"]}
                ).json()
                while (
                    client.get(f"/api/sessions/{session['id']}").json()["turns"][0]["status"] == "streaming"
                ):
                    time.sleep(0.02)
                started = time.perf_counter()
                reply = client.post(
                    f"/api/sessions/{session['id']}/answers",
                    files={"audio": ("answer.wav", data, "audio/wav")},
                )
                answered = time.perf_counter()
                assert reply.status_code == 202, reply.text
                url = f"/api/sessions/{session['id']}/turns/{reply.json()['turn_id']}/speech"
                with client.stream("GET", url) as response:
                    chunks = response.iter_bytes()
                    first = next(chunks)
                    heard = time.perf_counter()
                    body = first + b"".join(chunks)
                    ended = time.perf_counter()
                if turn == 0:  # the models are loaded now: from here on, the loop's lag counts
                    probe = asyncio.run_coroutine_threadsafe(lag_probe(lags, stop), server.loop)
                    continue
                latencies.append(heard - started)
                stt_rtf.append((answered - started) / spoken_seconds)
                reply_seconds = (len(body) - 44) / 2 / 22_050
                tts_rtf.append((ended - heard) / reply_seconds)
            server.loop.call_soon_threadsafe(stop.set)
            if probe is not None:
                probe.result(5)
    print(f"{args.turns} spoken turns; the answer is {spoken_seconds:.1f} s of espeak-ng speech")
    print(
        f"end of speech -> first audio byte: p50 {statistics.median(latencies):.2f} s, "
        f"p95 {percentile(latencies, 0.95):.2f} s, max {max(latencies):.2f} s"
    )
    print(f"STT real-time factor (202 time / speech): p50 {statistics.median(stt_rtf):.3f}")
    tts = statistics.median(tts_rtf)
    print(f"TTS real-time factor (stream time after first byte / audio, upper bound): p50 {tts:.3f}")
    print(
        f"event-loop lag (10 ms timer, {len(lags)} samples): p50 {statistics.median(lags) * 1000:.1f} ms, "
        f"p99 {percentile(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
