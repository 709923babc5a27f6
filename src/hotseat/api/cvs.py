"""``POST /api/cvs``: upload a CV (PDF, DOCX, TXT, Markdown) and keep its clean text."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from hotseat.api.deps import OwnerDep, ServicesDep, owned_cv
from hotseat.api.limits import client_ip, limits_of
from hotseat.config import Settings
from hotseat.errors import BadRequest, TooLarge
from hotseat.interview.analysis.claims import claims_of, cv_deletions
from hotseat.interview.cv import CvLimits, extract_cv_async
from hotseat.interview.records import CvRow

router = APIRouter(prefix="/api")

_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


class ClaimOut(BaseModel):
    id: str
    line: str
    metric: str | None
    skills: list[str]


class CvOut(BaseModel):
    id: str
    filename: str
    chars: int
    pages: int | None
    truncated: bool = False
    # The achievement lines the interviewer anchors questions on (docs/interview.md).
    claims: list[ClaimOut]

    @classmethod
    def of(cls, row: CvRow, *, truncated: bool = False, deletions_before_read: int | None = None) -> CvOut:
        """``deletions_before_read``: ``cv_deletions()`` before ``row`` was read (``claims_of``)."""
        claims = [
            ClaimOut(**claim.to_dict())
            for claim in claims_of(row.text, deletions_before_read=deletions_before_read)
        ]
        return cls(
            id=row.id,
            filename=row.filename,
            chars=row.chars,
            pages=row.pages,
            truncated=truncated,
            claims=claims,
        )


def _safe_filename(name: str | None) -> str:
    base = (name or "cv").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:255] or "cv"


@router.post("/cvs", status_code=201, openapi_extra=_UPLOAD_SCHEMA)
async def upload_cv(request: Request, services: ServicesDep, owner: OwnerDep) -> CvOut:
    """The multipart form is read here, after the rate limit: a refused upload costs no disk.

    (Declared as a ``File()`` parameter, FastAPI would store the whole body before the
    handler ran; ``api/body_limit.py`` has already refused a body over the size limit.)
    """
    await limits_of(request).uploads.hit(owner, client_ip(request))
    limits = _cv_limits(services.settings)
    async with request.form(max_files=1, max_fields=4) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadRequest(
                "Send the CV as multipart/form-data with the file in a field named file "
                "(curl -F file=@cv.pdf)."
            )
        data = await file.read(limits.max_bytes + 1)
        content_type = file.content_type
        filename = _safe_filename(file.filename)
    if len(data) > limits.max_bytes:
        raise TooLarge(_too_large(limits.max_bytes))
    extracted = await extract_cv_async(data, filename, content_type, limits)
    row = await services.records.add_cv(owner, filename, extracted)
    return CvOut.of(row, truncated=extracted.truncated)


@router.get("/cvs/{cv_id}")
async def get_cv(cv_id: str, services: ServicesDep, owner: OwnerDep) -> CvOut:
    deletions = cv_deletions()  # before the read: a CV deleted meanwhile is not kept
    row = await owned_cv(services, owner, cv_id)
    return CvOut.of(row, deletions_before_read=deletions)


@router.delete("/cvs/{cv_id}", status_code=204)
async def delete_cv(cv_id: str, services: ServicesDep, owner: OwnerDep) -> Response:
    """Delete the CV's text; sessions that used it keep their transcripts."""
    row = await owned_cv(services, owner, cv_id)
    await services.records.delete_cv(row.id)
    return Response(status_code=204)


def _cv_limits(settings: Settings) -> CvLimits:
    return CvLimits(
        max_bytes=settings.cv_max_bytes,
        max_pages=settings.cv_max_pages,
        max_chars=settings.cv_max_chars,
        parse_timeout=settings.cv_parse_timeout_seconds,
    )


def _too_large(limit: int) -> str:
    return (
        f"The file is larger than {limit / 1024 / 1024:.0f} MB; upload a smaller CV (a PDF or DOCX export)."
    )
