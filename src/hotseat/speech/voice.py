"""``Speech``: the speech services of one app, built from the settings; what the routes call.

``transcribe`` turns a recording into text (decode and check it off the event
loop, then the transcriber, hinted with the candidate's vocabulary);
``speak`` turns a turn's event batches into audio, sentence by sentence, as
the turn streams. Each side is the embedded model or a server, by one
setting (HOTSEAT_STT_URL, HOTSEAT_TTS_URL).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from hotseat.config import Settings
from hotseat.errors import BadRequest, HotseatError, TooLarge
from hotseat.speech import audio, hints
from hotseat.speech.correct import correct_terms
from hotseat.speech.sentences import Sentence, SentenceSplitter
from hotseat.speech.server import SpeechServer
from hotseat.speech.stt import EmbeddedTranscriber, ServerTranscriber, Transcriber, Transcript
from hotseat.speech.tts import Audio, EmbeddedSynthesizer, ServerSynthesizer, Synthesizer
from hotseat.speech.worker import BoundedWorker
from hotseat.streaming.events import Event


@dataclass(frozen=True, slots=True)
class Spoken:
    """One sentence of a turn, spoken: its audio and the seqs of the deltas it came from."""

    sentence: Sentence
    audio: Audio


class Speech:
    def __init__(
        self, transcriber: Transcriber, synthesizer: Synthesizer, *, max_seconds: float, max_bytes: int
    ) -> None:
        self.transcriber = transcriber
        self.synthesizer = synthesizer
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        # Decoding is CPU work too (FFmpeg): off the loop, bounded like the models.
        self._decoder = BoundedWorker("hotseat-decode", "Audio decoding", queue_limit=8)

    @classmethod
    def from_settings(cls, settings: Settings) -> Speech:
        transcriber: Transcriber
        if settings.stt_url:
            server = _server(settings, "stt", "Speech recognition", settings.stt_queue_limit)
            transcriber = ServerTranscriber(server, settings.stt_model)
        else:
            transcriber = EmbeddedTranscriber(
                settings.stt_model_path, threads=settings.stt_threads, queue_limit=settings.stt_queue_limit
            )
        synthesizer: Synthesizer
        if settings.tts_url:
            server = _server(settings, "tts", "Speech synthesis", settings.tts_queue_limit)
            synthesizer = ServerSynthesizer(server, settings.tts_model, settings.tts_voice)
        else:
            synthesizer = EmbeddedSynthesizer(settings.tts_voice_path, queue_limit=settings.tts_queue_limit)
        return cls(
            transcriber,
            synthesizer,
            max_seconds=settings.speech_max_seconds,
            max_bytes=settings.speech_max_bytes,
        )

    def can_listen(self, language: str) -> bool:
        languages = self.transcriber.languages
        return languages is None or language in languages

    def too_large(self) -> TooLarge:
        """The error of a recording over ``max_bytes``, with the limit as a person reads it."""
        return TooLarge(
            f"The recording is larger than {self.max_bytes / 1024 / 1024:.3g} MB; answer in shorter parts."
        )

    def require_listening(self, language: str) -> None:
        """``BadRequest`` unless speech in ``language`` can be recognised here."""
        if not self.can_listen(language):
            raise BadRequest(
                f"This server cannot recognise speech in {language!r}: its speech model is English-only "
                "(an operator can set HOTSEAT_STT_URL to a server that can). Type your answer instead."
            )

    def can_speak(self, language: str) -> bool:
        languages = self.synthesizer.languages
        return languages is None or language in languages

    def describe(self) -> dict[str, object]:
        """What ``GET /api/speech`` says: each side's backend and languages (None: any), and the limits."""

        def languages(known: frozenset[str] | None) -> list[str] | None:
            return sorted(known) if known is not None else None

        return {
            "stt": {"backend": self.transcriber.name, "languages": languages(self.transcriber.languages)},
            "tts": {"backend": self.synthesizer.name, "languages": languages(self.synthesizer.languages)},
            "max_seconds": self.max_seconds,
            "max_bytes": self.max_bytes,
        }

    async def transcribe(
        self,
        data: bytes,
        language: str,
        vocabulary: Iterable[str | None],
        admit: Callable[[float], Awaitable[None]] | None = None,
    ) -> Transcript:
        """The text of the recording in ``data``, hinted with the terms of ``vocabulary`` (first first).

        ``admit`` is given the recording's length in seconds once it is decoded, before the
        recogniser runs; it raises to refuse it (the per-owner limit on seconds of audio).
        """
        self.require_listening(language)
        if len(data) > self.max_bytes:
            raise self.too_large()
        pcm = await self._decoder.run(lambda: audio.decode(data, self.max_seconds))
        if admit is not None:
            await admit(len(pcm) / audio.SAMPLE_RATE)
        terms = hints.select(vocabulary)
        heard = await self.transcriber.transcribe(pcm, language, hints.prompt(terms, language))
        if not heard.text:
            raise audio.no_words()
        return Transcript(correct_terms(heard.text, terms), heard.seconds)

    async def preview(
        self, data: bytes, language: str, vocabulary: Iterable[str | None], window_seconds: float
    ) -> str | None:
        """Best-effort words of the last ``window_seconds`` of a recording still being made.

        Only with the embedded recogniser, and only when it has nothing else to do, so a preview
        delays another transcription by at most the one preview already running (the window
        bounds it to about a second), and costs a speech server nothing. None when skipped, or
        when the part recorded so far cannot be decoded or holds no words yet.
        """
        transcriber = self.transcriber
        if not isinstance(transcriber, EmbeddedTranscriber) or transcriber.worker.slots.taken:
            return None
        try:
            pcm = await self._decoder.run(lambda: audio.decode(data, self.max_seconds))
            pcm = pcm[-int(window_seconds * audio.SAMPLE_RATE) :]
            terms = hints.select(vocabulary)
            heard = await transcriber.transcribe(pcm, language, hints.prompt(terms, language))
        except HotseatError:  # cut mid-packet, still silent, busy meanwhile: the next one may do
            return None
        return correct_terms(heard.text, terms) or None

    async def speak(self, batches: AsyncIterator[list[Event]], after: int = 0) -> AsyncGenerator[Spoken]:
        """The sentences of a turn as audio, each as soon as it is complete; from seq ``after`` on.

        ``batches`` are the turn's events from its start (the splitter needs the whole text). A
        sentence whose last delta is at or before ``after`` was already heard and is skipped. A
        turn that was stopped or failed ends with its last whole sentence: the words after it
        were cut off, and speaking them would go on past the Stop.
        """
        splitter = SentenceSplitter()
        async for batch in batches:
            for event in batch:
                if event.type == "delta":
                    sentences: Iterable[Sentence] = splitter.add(event.seq, event.payload["text"])
                elif event.type == "done" and event.payload.get("finish_reason") != "cancelled":
                    sentences = splitter.finish(event.seq)
                elif event.terminal:
                    return
                else:
                    continue
                for sentence in sentences:
                    if sentence.last > after:
                        yield Spoken(sentence, await self.synthesizer.synthesize(sentence.text))

    async def aclose(self) -> None:
        self._decoder.close()
        await self.transcriber.aclose()
        await self.synthesizer.aclose()


def _server(settings: Settings, side: Literal["stt", "tts"], what: str, queue_limit: int) -> SpeechServer:
    """The speech server of one side, from ``HOTSEAT_STT_*`` or ``HOTSEAT_TTS_*``."""
    url: str = getattr(settings, f"{side}_url")
    key: SecretStr = getattr(settings, f"{side}_api_key")
    return SpeechServer(
        url,
        key.get_secret_value(),
        setting=f"HOTSEAT_{side.upper()}_URL",
        what=what,
        timeout=settings.speech_timeout_seconds,
        max_in_flight=queue_limit + 1,
    )
