"""What a CV upload may cost, what reading one gives, and the messages a candidate reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CvKind = Literal["pdf", "docx", "txt", "md"]

ACCEPTED = "PDF, DOCX, TXT or Markdown (.md)"


@dataclass(frozen=True)
class CvLimits:
    """What an upload may cost. ``parse_timeout`` is only enforced by :func:`extract_cv_async`."""

    max_bytes: int = 5 * 1024 * 1024
    max_pages: int = 30
    max_chars: int = 50_000
    parse_timeout: float = 10.0  # seconds


DEFAULT_LIMITS = CvLimits()


@dataclass(frozen=True)
class ExtractedCv:
    """The cleaned text of a CV and where it came from."""

    text: str
    chars: int
    pages: int | None  # None for TXT/MD/DOCX
    kind: CvKind
    truncated: bool = False  # True when the text was cut at max_chars


Extractor = Callable[[bytes, str, str | None, CvLimits], ExtractedCv]


MSG_EMPTY_FILE = "The uploaded file is empty; choose your CV file and upload it again."
MSG_PDF_PASSWORD = "This PDF is password-protected; remove the password (print to PDF) and upload it again."
MSG_PDF_ENCRYPTION = (
    "This PDF is encrypted in a way that can't be opened here; remove the protection "
    "(print to PDF) and upload it again."
)
MSG_PDF_DAMAGED = (
    "This PDF appears to be damaged and couldn't be read; export it again from your editor "
    "(or print to PDF) and upload it again, or upload DOCX/TXT instead."
)
MSG_PDF_COMPLEX = (
    "This PDF is too complex to read safely; export it again as a simple text-based PDF, "
    "or upload DOCX/TXT instead."
)
MSG_PDF_SCANNED = (
    "This PDF has no selectable text: it looks like a scanned image; export it as a "
    "text-based PDF or upload DOCX/TXT instead."
)
MSG_DOCX_DAMAGED = (
    "This Word document appears to be damaged and couldn't be read; save it again as .docx "
    "(or export it to PDF) and upload it again."
)
MSG_DOCX_BOMB = (
    "This Word document unpacks to far more data than a CV needs, so it wasn't opened; "
    "remove large images or embedded files (or export it to PDF) and upload it again."
)
MSG_DOCX_EMPTY = (
    "This Word document has no text that can be read; if your CV is made of images, "
    "export it as a text-based PDF or upload TXT instead."
)
MSG_TEXT_BINARY = (
    f"This file doesn't look like plain text (it contains binary data); upload your CV as {ACCEPTED}."
)
MSG_TEXT_EMPTY = "This file contains no text; upload a CV that has some."
MSG_PARSE_CRASHED = (
    "This file couldn't be read; export it again (for example as a simple PDF), or upload DOCX/TXT instead."
)
MSG_BUSY = "The server is busy reading other CVs; try again in a minute."


def timeout_message(seconds: float) -> str:
    return (
        f"This file took too long to read (more than {seconds:g} s); it may be very complex or "
        "damaged. Export it again as a simple text-based PDF, or upload DOCX/TXT instead."
    )


def mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}".removesuffix(".0")
