"""``extract_cv``: an upload's bytes to clean text, synchronously (the sandbox runs it in a child)."""

from __future__ import annotations

from hotseat.errors import TooLarge, Unprocessable
from hotseat.interview.cv.detect import detect_kind
from hotseat.interview.cv.model import (
    DEFAULT_LIMITS,
    MSG_DOCX_EMPTY,
    MSG_EMPTY_FILE,
    MSG_PDF_SCANNED,
    MSG_TEXT_EMPTY,
    CvLimits,
    ExtractedCv,
    mb,
)
from hotseat.interview.cv.pdf import extract_pdf
from hotseat.interview.cv.text import clean_text, decode_text, truncate
from hotseat.interview.cv.word import extract_docx


def check_size(data: bytes, limits: CvLimits) -> None:
    if len(data) > limits.max_bytes:
        raise TooLarge(
            f"This file is {mb(len(data))} MB; the limit is {mb(limits.max_bytes)} MB. "
            "Upload a smaller version (for example a PDF without large images, or DOCX/TXT)."
        )
    if not data:
        raise Unprocessable(MSG_EMPTY_FILE)


def extract_cv(
    data: bytes, filename: str, content_type: str | None, limits: CvLimits = DEFAULT_LIMITS
) -> ExtractedCv:
    """Read an uploaded CV into clean text (synchronous and CPU-bound; no time limit).

    Raises ``TooLarge`` (over ``max_bytes``, or a PDF over ``max_pages``),
    ``UnsupportedType`` (see :func:`detect_kind`) or ``Unprocessable`` (unreadable,
    protected, scanned, a bomb, binary, or empty after cleaning). Use
    :func:`extract_cv_async` for uploads: it also enforces ``parse_timeout``.
    """
    check_size(data, limits)
    kind = detect_kind(filename, content_type, data)
    pages: int | None = None
    if kind == "pdf":
        raw, pages, cut_short = extract_pdf(data, limits)
        empty_message = MSG_PDF_SCANNED
    elif kind == "docx":
        raw, cut_short = extract_docx(data, limits)
        empty_message = MSG_DOCX_EMPTY
    else:
        raw, cut_short = decode_text(data), False
        empty_message = MSG_TEXT_EMPTY
    # One PDF page or a text file can hold far more than a CV; cleaning only ever
    # shrinks text, so four times the limit is plenty and bounds the work.
    if len(raw) > limits.max_chars * 4:
        raw, cut_short = raw[: limits.max_chars * 4], True
    full = clean_text(raw)
    text = truncate(full, limits.max_chars)
    if not text:
        raise Unprocessable(empty_message)
    truncated = cut_short or len(text) < len(full)
    return ExtractedCv(text=text, chars=len(text), pages=pages, kind=kind, truncated=truncated)
