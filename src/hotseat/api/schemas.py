"""Request and response bodies of the HTTP API and the WebSocket client frames."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hotseat.api.clean_input import strip_invisible
from hotseat.config import ANSWER_CHARS_CEILING
from hotseat.errors import BadRequest
from hotseat.interview.packs import PackRegistry
from hotseat.interview.records import SessionRow, TurnRow
from hotseat.interview.service import StartedTurn

Id = Annotated[str, Field(min_length=1, max_length=64)]
# Candidate text that reaches the model: without invisible characters (api/clean_input.py). An
# answer left empty by that is refused by the interview service, as any blank answer is.
AnswerText = Annotated[
    str, Field(min_length=1, max_length=ANSWER_CHARS_CEILING), AfterValidator(strip_invisible)
]
JobDescription = Annotated[str, Field(max_length=20000), AfterValidator(strip_invisible)]


class CreateSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pack: Id
    cv_id: Id | None = None
    job_description: JobDescription | None = None
    language: str | None = Field(
        default=None, min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
    )


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: AnswerText


class TurnStarted(BaseModel):
    """The 202 of a move: the interviewer turn it started, and the candidate's turn it stored."""

    turn_id: str
    kind: str
    candidate_turn_id: str | None

    @classmethod
    def of(cls, started: StartedTurn) -> TurnStarted:
        return cls(turn_id=started.turn_id, kind=started.kind, candidate_turn_id=started.candidate_turn_id)


class SessionCreated(BaseModel):
    id: str
    pack: str
    language: str
    status: str
    turn_id: str


class SessionSummary(BaseModel):
    id: str
    pack: str
    title: str
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: SessionRow, packs: PackRegistry) -> SessionSummary:
        title = packs.get(row.pack_id).title if row.pack_id in packs else row.pack_id
        return cls(
            id=row.id,
            pack=row.pack_id,
            title=title,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class TurnOut(BaseModel):
    id: str
    role: str
    kind: str
    question_index: int | None
    text: str
    status: str
    finish_reason: str | None
    usage: dict[str, int] | None
    error: dict[str, str] | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: TurnRow) -> TurnOut:
        usage = None
        if row.prompt_tokens is not None and row.completion_tokens is not None:
            usage = {"prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens}
        error = {"code": row.error_code, "message": row.error_message or ""} if row.error_code else None
        return cls(
            id=row.id,
            role=row.role,
            kind=row.kind,
            question_index=row.question_index,
            text=row.text,
            status=row.status,
            finish_reason=row.finish_reason,
            usage=usage,
            error=error,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


class SessionOut(BaseModel):
    id: str
    pack: str
    language: str
    status: str
    cv_id: str | None
    job_description: str | None
    created_at: datetime
    turns: list[TurnOut]

    @classmethod
    def of(cls, session: SessionRow, turns: list[TurnRow]) -> SessionOut:
        return cls(
            id=session.id,
            pack=session.pack_id,
            language=session.language,
            status=session.status,
            cv_id=session.cv_id,
            job_description=session.job_description,
            created_at=session.created_at,
            turns=[TurnOut.of(turn) for turn in turns],
        )


# -- WebSocket client frames -------------------------------------------------------


# A client's own name for a frame, echoed on the frame's ``accepted`` reply and on its errors.
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")]


class _Frame(BaseModel):
    # Unknown fields are ignored so that newer clients keep working with this server.
    model_config = ConfigDict(extra="ignore")

    ref: Ref | None = None


class AnswerFrame(_Frame):
    type: Literal["answer"]
    text: AnswerText


class CancelFrame(_Frame):
    type: Literal["cancel"]
    turn_id: Id | None = None


class ResumeFrame(_Frame):
    type: Literal["resume"]
    turn_id: Id
    after: int = Field(default=0, ge=0)


class FinishFrame(_Frame):
    type: Literal["finish"]


class SkipFrame(_Frame):
    type: Literal["skip"]


class RetryFrame(_Frame):
    type: Literal["retry"]


class StartFrame(CreateSession):
    """The body of ``POST /api/sessions`` as the first frame of a WebSocket opened without a session.

    It carries no ``ref``: its ``session`` reply is its acknowledgement.
    """

    model_config = ConfigDict(extra="ignore")  # as for every frame

    type: Literal["start"]


ClientFrame = Annotated[
    AnswerFrame | CancelFrame | ResumeFrame | FinishFrame | SkipFrame | RetryFrame | StartFrame,
    Field(discriminator="type"),
]
client_frame: TypeAdapter[Any] = TypeAdapter(ClientFrame)
_ref: TypeAdapter[str] = TypeAdapter(Ref)


def ref_of(data: object) -> str | None:
    """The ``ref`` of a frame that may fail validation, if it has a valid one (to echo on its error)."""
    ref = data.get("ref") if isinstance(data, dict) else None
    if ref is None:
        return None
    try:
        return _ref.validate_python(ref)
    except ValidationError:
        return None


def check_answer(text: str, limit: int) -> None:
    """An answer (typed, or a recording's transcript) within ``HOTSEAT_MAX_ANSWER_CHARS``; the
    schemas' ceiling is fixed, the setting is checked here."""
    if len(text) > limit:
        raise BadRequest(f"The answer is longer than {limit} characters; shorten it or split it.")
