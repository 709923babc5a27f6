"""Audio on the WebSocket: the candidate's recordings in, the interviewer's speech out.

``api.ws_frames.receive_frame`` hands this module every binary frame and every
JSON frame whose ``type`` is in ``FRAME_TYPES``; the contract is docs/protocol.md ("Audio on the
WebSocket").

In: ``audio_start`` (an optional ``ref``, and ``mode``: ``transcript`` or
``answer``), the recording's bytes as binary frames, then ``audio_end`` (or
``audio_cancel``). The recording is decoded and transcribed off the receive
loop, exactly as ``POST …/transcripts`` or a spoken ``POST …/answers`` would:
a ``transcript`` frame answers with the words, and in ``answer`` mode they
are also stored as the answer. A refused recording stores and starts nothing.

Out: ``speech`` asks for a turn spoken from a seq on. Each sentence's audio
goes out in binary frames that carry their own header (the turn, the seq
range of the sentence, the sample rate), so nothing the connection sends
meanwhile can come between a header and its audio; ``speech_end`` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocket

from hotseat.api.deps import Services, owned_session
from hotseat.api.errors import bad_frame, ws_error_frame
from hotseat.api.schemas import Id, Ref, ref_of
from hotseat.api.speech import answer_recording, check_speakable, speech_of, transcribe_recording, vocabulary
from hotseat.errors import BadRequest, Busy, HotseatError, Internal

logger = logging.getLogger(__name__)

FRAME_TYPES = frozenset({"audio_start", "audio_end", "audio_cancel", "speech", "speech_stop"})
# Recordings of one connection being transcribed at once; one more is refused `busy` (the
# recogniser's own queue, shared by every client, is HOTSEAT_STT_QUEUE_LIMIT).
MAX_TRANSCRIBING = 2
# PCM per binary speech frame: well under any client's frame limit (the websockets library's
# default is 1 MiB), and a long sentence still starts playing before all of it has arrived.
SPEECH_PART_BYTES = 32 * 1024
# Partial transcripts: at most one per this many seconds of a recording, of its last PREVIEW_WINDOW
# seconds, so that each costs the recogniser about the same (a second of CPU at most).
PREVIEW_EVERY = 1.5
PREVIEW_WINDOW = 12.0
# A binary speech frame: this length of the JSON header, the header, then 16-bit mono PCM.
HEADER_LENGTH = struct.Struct(">I")

Send = Callable[[str | bytes], Awaitable[None]]


class AudioStart(BaseModel):
    type: Literal["audio_start"]
    ref: Ref | None = None
    mode: Literal["transcript", "answer"] = "transcript"
    partial: bool = False


class AudioEnd(BaseModel):
    type: Literal["audio_end"]


class AudioCancel(BaseModel):
    type: Literal["audio_cancel"]


class SpeechRequest(BaseModel):
    type: Literal["speech"]
    turn_id: Id
    after: int = Field(default=0, ge=0)


class SpeechStop(BaseModel):
    type: Literal["speech_stop"]


AudioFrame = Annotated[
    AudioStart | AudioEnd | AudioCancel | SpeechRequest | SpeechStop, Field(discriminator="type")
]
_audio_frame: TypeAdapter[Any] = TypeAdapter(AudioFrame)


class Taken:
    """What ``receive_frame`` returns for a frame handled here: the connection has nothing more to do."""


TAKEN = Taken()


@dataclass(slots=True)
class _Recording:
    ref: str | None
    mode: str
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    refused: bool = False  # an error was sent: what the client still sends of it is dropped
    partial: bool = False  # transcript_partial frames asked for
    previewed_at: float = 0.0  # loop time the last preview began
    previewing: asyncio.Task[None] | None = None
    language: str = "en"
    words: list[str | None] = field(default_factory=list)  # the hints' sources, read at audio_start


class AudioChannel:
    """The audio of one WebSocket connection: at most one recording arriving, one turn being spoken."""

    def __init__(self, websocket: WebSocket, services: Services, session_id: str, owner: str, send: Send):
        self.websocket = websocket
        self.services = services
        self.session_id = session_id
        self.owner = owner
        self._send = send
        self._recording: _Recording | None = None
        self._transcribing: set[asyncio.Task[None]] = set()
        self._speaking: tuple[str, asyncio.Task[None]] | None = None

    @staticmethod
    def handles(data: object) -> bool:
        """Whether a parsed JSON frame is one of this module's."""
        return isinstance(data, dict) and data.get("type") in FRAME_TYPES

    async def frame(self, data: object) -> Taken:
        """One of the JSON frames of ``FRAME_TYPES``; errors go back as error frames."""
        try:
            frame = _audio_frame.validate_python(data)
        except ValidationError as exc:
            await self._error(bad_frame(exc), ref_of(data))
            return TAKEN
        if isinstance(frame, AudioStart):
            await self._start(frame)
        elif isinstance(frame, AudioEnd):
            await self._end()
        elif isinstance(frame, AudioCancel):
            self._drop_recording()
        elif isinstance(frame, SpeechRequest):
            await self._stop_speaking()
            task = asyncio.create_task(self._speak(frame.turn_id, frame.after))
            self._speaking = (frame.turn_id, task)
        else:
            await self._stop_speaking()
        return TAKEN

    async def binary(self, data: bytes) -> Taken:
        """A binary frame: the next part of the recording that ``audio_start`` opened."""
        recording = self._recording
        if recording is None:
            await self._error(
                BadRequest('A binary frame is part of a recording: send {"type": "audio_start"} first.')
            )
        elif not recording.refused:
            speech = speech_of(self.websocket)
            if recording.size + len(data) > speech.max_bytes:
                recording.refused, recording.parts = True, []
                await self._error(speech.too_large(), recording.ref)
            else:
                recording.parts.append(data)
                recording.size += len(data)
                self._maybe_preview(recording)
        return TAKEN

    async def close(self) -> None:
        """The connection is closing: stop speaking, drop what is being recorded or transcribed."""
        self._drop_recording()
        tasks = [*self._transcribing, *([self._speaking[1]] if self._speaking else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the candidate's recordings ---------------------------------------------------------------

    async def _start(self, frame: AudioStart) -> None:
        if self._recording is not None and not self._recording.refused:
            await self._error(
                BadRequest(
                    "A recording is already open on this connection; end it with audio_end or "
                    "audio_cancel before starting another."
                ),
                frame.ref,
            )
            return
        self._drop_recording()  # a refused one, still open
        recording = self._recording = _Recording(frame.ref, frame.mode, partial=frame.partial)
        try:
            # Refused before the client sends megabytes that cannot be heard.
            session = await owned_session(self.services, self.owner, self.session_id)
            speech_of(self.websocket).require_listening(session.language)
            recording.language = session.language
            if frame.partial:
                recording.words = await vocabulary(self.services, session)
        except HotseatError as exc:
            recording.refused = True
            await self._error(exc, recording.ref)

    async def _end(self) -> None:
        recording = self._recording
        self._drop_recording()
        if recording is None:
            await self._error(BadRequest('There is no recording to end: send {"type": "audio_start"} first.'))
        elif recording.refused:
            return  # its error has been sent
        elif len(self._transcribing) >= MAX_TRANSCRIBING:
            busy = Busy(
                f"{MAX_TRANSCRIBING} recordings of this connection are being transcribed; wait for "
                "their transcripts, then send this one again.",
                retry_after=2.0,
            )
            await self._error(busy, recording.ref)
        else:
            task = asyncio.create_task(self._transcribe(recording))
            self._transcribing.add(task)
            task.add_done_callback(self._transcribing.discard)

    def _drop_recording(self) -> None:
        """No recording open any more; a preview of it is abandoned (its transcript would be stale)."""
        recording, self._recording = self._recording, None
        if recording is not None and recording.previewing is not None:
            recording.previewing.cancel()

    def _maybe_preview(self, recording: _Recording) -> None:
        """Start a partial transcript of the recording so far, if asked for and one is due."""
        now = asyncio.get_running_loop().time()
        running = recording.previewing is not None and not recording.previewing.done()
        if not recording.partial or running or now - recording.previewed_at < PREVIEW_EVERY:
            return
        recording.previewed_at = now
        recording.previewing = asyncio.create_task(self._preview(recording, b"".join(recording.parts)))

    async def _preview(self, recording: _Recording, data: bytes) -> None:
        speech = speech_of(self.websocket)
        try:
            text = await speech.preview(data, recording.language, recording.words, PREVIEW_WINDOW)
        except Exception:  # a preview is best effort; the final transcript reports real failures
            logger.exception("a partial transcript failed")
            return
        if text and self._recording is recording:
            frame = {"type": "transcript_partial", "ref": recording.ref, "text": text}
            await self._emit(orjson.dumps({k: v for k, v in frame.items() if v is not None}).decode())

    async def _transcribe(self, recording: _Recording) -> None:
        data = b"".join(recording.parts)
        reply: dict[str, Any] = {"type": "transcript"}
        if recording.ref is not None:
            reply["ref"] = recording.ref
        try:
            session = await owned_session(self.services, self.owner, self.session_id)
            if recording.mode == "answer":
                # Shielded as a typed move is: an answer that has begun is stored and its turn
                # started even if the connection closes meanwhile.
                started = await asyncio.shield(answer_recording(self.websocket, self.services, session, data))
                reply.update(started.model_dump(exclude={"transcript"}), text=started.transcript)
            else:
                heard = await transcribe_recording(self.websocket, self.services, session, data)
                reply.update(text=heard.transcript, seconds=heard.seconds)
        except HotseatError as exc:
            await self._error(exc, recording.ref)
            return
        except Exception:
            logger.exception("transcribing a recording from a WebSocket failed")
            await self._error(Internal("Transcribing the recording failed; send it again."), recording.ref)
            return
        await self._emit(orjson.dumps(reply).decode())

    # -- the interviewer's speech ---------------------------------------------------------------------

    async def _speak(self, turn_id: str, after: int) -> None:
        """Send the turn's sentences after seq ``after`` as they are spoken, then ``speech_end``."""
        end: dict[str, Any] = {"type": "speech_end", "turn_id": turn_id, "reason": "done"}
        speech = speech_of(self.websocket)
        try:
            session = await owned_session(self.services, self.owner, self.session_id)
            seat = self.services.seats.of(session.id)
            await check_speakable(seat, speech, session, turn_id)
            spoken = speech.speak(seat.follow(turn_id), after)
            try:
                async for said in spoken:
                    pcm, sentence = said.audio.pcm, said.sentence
                    for start in range(0, len(pcm), SPEECH_PART_BYTES):
                        header = {
                            "type": "speech",
                            "turn_id": turn_id,
                            "first": sentence.first,
                            "last": sentence.last,
                            "rate": said.audio.rate,
                            "end": start + SPEECH_PART_BYTES >= len(pcm),
                        }
                        if not await self._emit(
                            _speech_frame(header, pcm[start : start + SPEECH_PART_BYTES])
                        ):
                            return
            finally:
                await spoken.aclose()
        except HotseatError as exc:
            end.update(reason="error", error=exc.to_dict())
        except Exception:
            logger.exception("speaking turn %s to a WebSocket failed", turn_id)
            end.update(
                reason="error", error=Internal("Speaking this reply failed; ask for it again.").to_dict()
            )
        await self._emit(orjson.dumps(end).decode())

    async def _stop_speaking(self) -> None:
        """Stop the turn being spoken, if any, and say so with ``speech_end``."""
        speaking, self._speaking = self._speaking, None
        if speaking is None or speaking[1].done():
            return
        turn_id, task = speaking
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._emit(
            orjson.dumps({"type": "speech_end", "turn_id": turn_id, "reason": "stopped"}).decode()
        )

    # -- sending --------------------------------------------------------------------------------------

    async def _error(self, error: HotseatError, ref: str | None = None) -> None:
        await self._emit(ws_error_frame(error, ref=ref))

    async def _emit(self, message: str | bytes) -> bool:
        """Put in the connection's outbox, for its one sender (whose sends the stall watchdog guards);
        False once the connection has ended."""
        try:
            await self._send(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection was closed or ended by the server: nobody is listening
            return False
        return True


def _speech_frame(header: dict[str, Any], pcm: bytes) -> bytes:
    encoded = orjson.dumps(header)
    return HEADER_LENGTH.pack(len(encoded)) + encoded + pcm
