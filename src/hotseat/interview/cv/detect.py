"""Which kind of CV an upload is (PDF, DOCX, TXT, Markdown), or a refusal that says what it looks like."""

from __future__ import annotations

import contextlib
import io
import zipfile
from pathlib import PurePosixPath

from hotseat.errors import UnsupportedType
from hotseat.interview.cv.model import ACCEPTED, CvKind

_TEXT_EXTENSIONS: dict[str, CvKind] = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md"}
_TEXT_CONTENT_TYPES: dict[str, CvKind] = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
}
_SAVE_AS = "Save it as .docx or PDF and upload that"
# Magic bytes of files people upload by mistake: what they are, and advice when there is some.
_KNOWN_OTHER_MAGIC: tuple[tuple[bytes, str, str | None], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Word (.doc) file", _SAVE_AS),
    (b"{\\rtf", "an RTF file", _SAVE_AS),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", None),
    (b"\xff\xd8\xff", "a JPEG image", None),
    (b"GIF87a", "a GIF image", None),
    (b"GIF89a", "a GIF image", None),
    (b"II*\x00", "a TIFF image", None),
    (b"MM\x00*", "a TIFF image", None),
    (b"MZ", "a program (.exe)", None),
    (b"\x7fELF", "a program", None),
    (b"Rar!", "a RAR archive", None),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", None),
    (b"\x1f\x8b", "a gzip archive", None),
)
_EXTENSION_HINTS: dict[str, tuple[str, str]] = {
    ".doc": ("an old Word (.doc) file", _SAVE_AS),
    ".rtf": ("an RTF file", _SAVE_AS),
    ".odt": ("an OpenDocument (.odt) file", _SAVE_AS),
    ".pages": ("a Pages file", "Export it as .docx or PDF and upload that"),
}


def _unsupported(what: str, advice: str | None = None) -> UnsupportedType:
    if advice:
        return UnsupportedType(
            f"This looks like {what}, which can't be read as a CV. {advice} (accepted: {ACCEPTED})."
        )
    return UnsupportedType(
        f"This looks like {what}, which can't be read as a CV. Upload your CV as {ACCEPTED}."
    )


def _zip_kind(head: bytes, ext: str) -> CvKind:
    """Decide whether a zip (``PK\\x03\\x04``) upload is a Word document."""
    names: list[str] | None = None
    with (
        contextlib.suppress(zipfile.BadZipFile, ValueError, OSError, EOFError),
        zipfile.ZipFile(io.BytesIO(head)) as archive,
    ):
        names = archive.namelist()
    if names is None:  # only part of the file was given, or a damaged zip: look at the local headers
        if b"word/" in head or ext == ".docx":
            return "docx"
        raise _unsupported("a ZIP archive")
    if "word/document.xml" in names:
        return "docx"
    if any(name.startswith("xl/") for name in names):
        raise _unsupported("an Excel spreadsheet", _SAVE_AS)
    if any(name.startswith("ppt/") for name in names):
        raise _unsupported("a PowerPoint presentation", _SAVE_AS)
    if "mimetype" in names or ext == ".odt":
        raise _unsupported("an OpenDocument file", _SAVE_AS)
    raise _unsupported("a ZIP archive")


def detect_kind(filename: str, content_type: str | None, head: bytes) -> CvKind:
    """Which kind of CV this is: by magic bytes first, then by extension, then by content type.

    ``head`` is the start of the file (the whole file is best: a zip's directory is at
    its end, though a DOCX is recognised from its first local headers too). Raises
    :class:`UnsupportedType` naming what is accepted, with a hint for common mistakes
    (old .doc, images, programs, archives).
    """
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if b"%PDF-" in head[:1024]:  # the header may follow a little junk
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(head, ext)
    for magic, what, advice in _KNOWN_OTHER_MAGIC:
        if head.startswith(magic):
            raise _unsupported(what, advice)
    if ext == ".pdf":
        return "pdf"  # no header: it will be reported as damaged
    if ext == ".docx":
        return "docx"
    if ext in _TEXT_EXTENSIONS:
        return _TEXT_EXTENSIONS[ext]
    if ext in _EXTENSION_HINTS:
        raise _unsupported(*_EXTENSION_HINTS[ext])
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not ext and media_type in _TEXT_CONTENT_TYPES:
        return _TEXT_CONTENT_TYPES[media_type]
    shown = f"{ext} files" if ext else "this file (it has no extension)"
    raise UnsupportedType(f"Can't read {shown} as a CV. Upload your CV as {ACCEPTED}.")
