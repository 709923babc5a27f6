"""Speech over HTTP: spoken answers in, the interviewer's reply as audio out (docs/speech.md).

- ``POST /api/sessions/{sid}/answers`` with ``multipart/form-data`` and an
  ``audio`` file: transcribed, then the same move as a typed answer; its 202
  carries the ``transcript`` next to ``turn_id`` (``api/http.py`` hands the
  multipart form of that route to ``spoken_answer`` here).
- ``POST /api/sessions/{sid}/transcripts``: a recording's text only, for a
  client that lets the candidate correct it before sending it as a typed answer.
- ``GET /api/sessions/{sid}/turns/{tid}/speech``: the turn spoken as a WAV
  stream, sentence by sentence while the turn generates.
- ``GET /api/speech``: what this server can hear and say.

The moves behind them (``answer_recording``, ``transcribe_recording``,
``check_speakable``, ``vocabulary``) serve the WebSocket's audio too (``api/ws_audio.py``).

A voice answer is stored as its transcript: the interview, the assessment
and the report see text only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection

from hotseat.api.deps import OwnedSession, OwnerDep, Services, ServicesDep
from hotseat.api.limits import admit_move, client_ip, limits_of
from hotseat.api.schemas import Answer, TurnStarted, check_answer
from hotseat.errors import BadRequest, HotseatError
from hotseat.interview.flow import FlowState
from hotseat.interview.records import SessionRow
from hotseat.interview.seats import Seat
from hotseat.speech.audio import ACCEPTED, streaming_wav_header
from hotseat.speech.hints import question_sources
from hotseat.speech.voice import Speech, Spoken

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api")

# The bodies of the routes that read their own (for the OpenAPI schema).
_RECORDING = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["audio"],
            "properties": {"audio": {"type": "string", "format": "binary"}},
        }
    }
}
RECORDING_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": _RECORDING}}
ANSWER_BODIES: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Answer.model_json_schema()}, **_RECORDING},
    }
}


class SpokenTurnStarted(TurnStarted):
    """The 202 of a spoken answer: a typed answer's, and what was heard."""

    transcript: str


class Transcribed(BaseModel):
    transcript: str
    seconds: float


def speech_of(connection: HTTPConnection) -> Speech:
    speech: Speech = connection.app.state.speech
    return speech


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def typed_answer(request: Request) -> Answer:
    """The JSON body of ``POST .../answers``, with FastAPI's own validation errors."""
    try:
        return Answer.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def spoken_answer(session: SessionRow, services: Services, request: Request) -> SpokenTurnStarted:
    """A recorded answer: heard, then given as the typed answer it says (``POST .../answers``)."""
    data = await _recording(request, speech_of(request))
    return await answer_recording(request, services, session, data)


async def answer_recording(
    connection: HTTPConnection, services: Services, session: SessionRow, data: bytes
) -> SpokenTurnStarted:
    """A recording heard, then given as the answer it says (over HTTP or the WebSocket)."""
    speech = speech_of(connection)
    owner = session.owner_id
    # The rate counts before the expensive part, as for a CV upload.
    async with admit_move(connection, owner):
        words = await vocabulary(services, session)
        heard = await speech.transcribe(data, session.language, words, admit_audio(connection, owner))
        check_answer(heard.text, services.settings.max_answer_chars)
        started = await services.interview.answer(session.id, heard.text, owner=owner)
    return SpokenTurnStarted(**TurnStarted.of(started).model_dump(), transcript=heard.text)


async def transcribe_recording(
    connection: HTTPConnection, services: Services, session: SessionRow, data: bytes
) -> Transcribed:
    """A recording's words only, stored nowhere; counted against the answer rate."""
    owner = session.owner_id
    await limits_of(connection).answers.hit(owner, client_ip(connection))
    words = await vocabulary(services, session)
    heard = await speech_of(connection).transcribe(
        data, session.language, words, admit_audio(connection, owner)
    )
    return Transcribed(transcript=heard.text, seconds=round(heard.seconds, 2))


@router.get("/speech")
async def capabilities(request: Request) -> dict[str, object]:
    """Which recogniser and voice this server uses, the languages each handles (null: any), the limits."""
    return speech_of(request).describe()


@router.post("/sessions/{session_id}/transcripts", openapi_extra=RECORDING_BODY)
async def transcribe(session: OwnedSession, services: ServicesDep, request: Request) -> Transcribed:
    """The text of a recording, for the candidate to correct and send as a typed answer."""
    if not is_form(request):
        raise BadRequest(f"Send the recording as multipart/form-data, in a field named audio ({ACCEPTED}).")
    data = await _recording(request, speech_of(request))
    return await transcribe_recording(request, services, session, data)


@router.get("/sessions/{session_id}/turns/{turn_id}/speech", response_class=StreamingResponse)
async def turn_speech(
    session: OwnedSession,
    turn_id: str,
    services: ServicesDep,
    owner: OwnerDep,
    request: Request,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """The turn spoken, as ``audio/wav`` streamed sentence by sentence while the turn generates.

    The response starts with the first sentence's audio, so an error before it (a full queue,
    a speech server down) is an ordinary error response. ``after`` resumes: sentences wholly
    within the deltas up to that seq are not spoken again. 204 when nothing is left to say.
    """
    speech = speech_of(request)
    seat = services.seats.of(session.id)
    await check_speakable(seat, speech, session, turn_id)
    lease = await limits_of(request).lease(owner, client_ip(request))
    spoken = speech.speak(seat.follow(turn_id), after)
    try:
        with seat.watch():
            first = await anext(spoken, None)
    except BaseException:
        await spoken.aclose()
        await lease.release()
        raise
    if first is None:
        await lease.release()
        return Response(status_code=204)
    return StreamingResponse(
        _wav_stream(seat, first, spoken, lease.release),
        media_type="audio/wav",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def check_speakable(seat: Seat, speech: Speech, session: SessionRow, turn_id: str) -> None:
    """Raises unless ``turn_id`` is an interviewer turn of the session and there is a voice for it."""
    if not speech.can_speak(session.language):
        raise BadRequest(
            f"This server has no voice for {session.language!r}; its voice is English-only "
            "(an operator can set HOTSEAT_TTS_URL to a server that has one); the reply is shown as text."
        )
    try:
        await seat.resume(turn_id)  # NotFound for a turn not in the session
    except BadRequest:
        raise BadRequest("That turn is the candidate's answer; only interviewer turns are spoken.") from None


async def _wav_stream(
    seat: Seat,
    first: Spoken,
    rest: AsyncGenerator[Spoken],
    release: Callable[[], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """The WAV header and the first sentence, then each sentence as it is spoken."""
    try:
        with seat.watch():
            yield streaming_wav_header(first.audio.rate) + first.audio.pcm
            async for spoken in rest:
                yield spoken.audio.pcm
    except HotseatError as exc:
        # The status went out with the first sentence; the text of the turn is unaffected.
        logger.info("a spoken turn ended early: %s", exc.message)
    finally:
        await rest.aclose()
        await release()


async def _recording(request: Request, speech: Speech) -> bytes:
    """The ``audio`` file of a multipart request (a body far over the limit was refused unread by
    ``api.body_limit``; this checks the file itself)."""
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("audio")
        if not isinstance(upload, UploadFile):
            raise BadRequest(f"Send the recording in a multipart field named audio ({ACCEPTED}).")
        data = await upload.read(speech.max_bytes + 1)
    if len(data) > speech.max_bytes:
        raise speech.too_large()
    return data


def admit_audio(connection: HTTPConnection, owner: str) -> Callable[[float], Awaitable[None]]:
    """Counts a decoded recording's seconds against the owner's and the address's audio rate."""

    async def admit(seconds: float) -> None:
        await limits_of(connection).speech_seconds.hit(owner, client_ip(connection), cost=seconds)

    return admit


async def vocabulary(services: Services, session: SessionRow) -> list[str | None]:
    """What the candidate is likely to say, most likely first: the question, the job, their CV."""
    pack = services.packs.get(session.pack_id)
    index = FlowState.from_dict(session.flow).question
    question = pack.questions[min(index, len(pack.questions) - 1)]
    cv = await services.records.session_cv(session)
    return [*question_sources(question), session.job_description, cv.text if cv is not None else None]
