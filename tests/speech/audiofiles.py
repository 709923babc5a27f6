"""Recordings made in the tests: tones, silence and speech, as WAV or encoded by PyAV (FFmpeg)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np

from hotseat.speech.audio import pcm16, wav_file


def tone(seconds: float, rate: int = 16_000, level: float = 0.3) -> np.ndarray:
    """A 440 Hz tone: sound, but no words."""
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    return wav_file(pcm16(samples), rate)


def encoded(samples: np.ndarray, container: str, codec: str, rate: int = 48_000) -> bytes:
    """``samples`` (at 16 kHz) encoded as a browser would record them, e.g. WebM/Opus."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = 16_000
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for part in resampler.resample(frame):
            for packet in stream.encode(part):
                muxer.mux(packet)
        for packet in stream.encode(None):
            muxer.mux(packet)
    return out.getvalue()


def espeak(text: str, directory: Path, voice: str = "en-us+m1") -> bytes:
    """``text`` spoken by espeak-ng as a WAV file: a male variant, 130 words a minute, short word gaps."""
    path = directory / "espeak.wav"
    assert shutil.which("espeak-ng"), "espeak-ng is not installed (apt-get install espeak-ng)"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-g", "4", "-w", str(path), text], check=True)
    return path.read_bytes()
