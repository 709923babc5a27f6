"""Reading a candidate's CV: uploaded bytes (PDF, DOCX, TXT, Markdown) in, clean text out.

Pure and framework-free: the HTTP layer hands over the bytes, the file name and
the declared content type, and gets back an :class:`ExtractedCv` or one of
hotseat's errors, each with a message that tells the candidate what to do:

* :class:`~hotseat.errors.UnsupportedType` (415): not a PDF, DOCX, TXT or Markdown file;
* :class:`~hotseat.errors.TooLarge` (413): more than ``max_bytes``, or a PDF with more
  than ``max_pages`` pages (a page count is a size limit like the byte count, so it is
  413 too; nothing is read from an over-long PDF);
* :class:`~hotseat.errors.Unprocessable` (422): the file is of an accepted kind but
  cannot be read: password-protected, damaged, a scanned image without text, a
  decompression bomb, binary data posing as text, too slow to parse, or no text at all.

Text longer than ``max_chars`` is not an error: it is cut at a word boundary with no
marker appended (``ExtractedCv.truncated`` says it happened). Extraction itself stops
early once twice that many characters have been collected, so a huge document costs
no more than a long one.

Untrusted files are parsed with hard limits. :func:`extract_cv` (synchronous,
CPU-bound) tightens pypdf's decompression limits and checks a DOCX's zip directory
(total declared size, compression ratio, member count) before python-docx opens it.
:func:`extract_cv_async` additionally runs the parse in a freshly spawned process
that is killed when ``parse_timeout`` passes, because a thread stuck in a parser
cannot be stopped. At most :data:`MAX_PARALLEL_PARSES` such processes run at once.
As with any ``spawn`` multiprocessing, the program's main script is re-imported in
the child under ``__mp_main__``, so it must guard its entry point
(``if __name__ == "__main__"``; console scripts and ``python -m`` already do).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import multiprocessing
import re
import threading
import traceback
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import PurePosixPath
from typing import Any, Literal

from hotseat.errors import Busy, HotseatError, TooLarge, Unprocessable, UnsupportedType, error_for_code

logger = logging.getLogger(__name__)

CvKind = Literal["pdf", "docx", "txt", "md"]

ACCEPTED = "PDF, DOCX, TXT or Markdown (.md)"

# DOCX (a zip of XML parts): refuse before python-docx inflates anything.
DOCX_MAX_UNCOMPRESSED = 50 * 1024 * 1024  # total declared size of all members
DOCX_MAX_MEMBERS = 2_000
DOCX_MAX_RATIO = 100  # uncompressed/compressed, checked for members over DOCX_RATIO_MIN_SIZE
DOCX_RATIO_MIN_SIZE = 1024 * 1024

# PDF: per-stream decompression caps handed to pypdf (its defaults are 75 MB each).
PDF_MAX_STREAM_OUTPUT = 20 * 1024 * 1024
PDF_MAX_STREAM_WORK = 60 * 1024 * 1024
PDF_MAX_XOBJECT_INVOCATIONS = 1_000

# extract_cv_async: how many parse processes may run at once, how long a request waits
# for one, and how long a fresh process may take to start (not counted in parse_timeout).
MAX_PARALLEL_PARSES = 2
QUEUE_TIMEOUT = 60.0
STARTUP_TIMEOUT = 60.0


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


# --- messages ------------------------------------------------------------------------------------------

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


def _timeout_message(seconds: float) -> str:
    return (
        f"This file took too long to read (more than {seconds:g} s); it may be very complex or "
        "damaged. Export it again as a simple text-based PDF, or upload DOCX/TXT instead."
    )


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}".removesuffix(".0")


# --- text cleaning -------------------------------------------------------------------------------------

# Invisible characters that can hide text from a person while a model still reads it
# (zero-width, bidi controls, the tag block's "ASCII smuggling", variation selectors),
# plus the soft hyphen and C0/C1 controls other than \t and \n.
_INVISIBLE = re.compile(
    "["
    "\u0000-\u0008\u000b-\u001f\u007f-\u009f"  # C0 (except \t \n) and C1 controls
    "\u00ad"  # soft hyphen
    "\u061c"  # Arabic letter mark (a bidi control)
    "\u180e"  # Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space/non-joiner/joiner, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated format chars
    "\ufe00-\ufe0f"  # variation selectors
    "\ufeff"  # zero-width no-break space / BOM
    "\ufff9-\ufffb"  # interlinear annotation controls
    "\U000e0000-\U000e007f"  # tag block
    "\U000e0100-\U000e01ef"  # variation selectors supplement
    "]+"
)
# Line breaks of every flavour become \n (before controls are stripped).
_NEWLINES = re.compile("\r\n|[\r\u000b\u000c\u0085\u2028\u2029]")
# Unicode spaces that are just spaces to a reader.
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_TAB_RUN = re.compile(r"[ \t]*\t[ \t]*")
_SPACE_RUN = re.compile(r" {2,}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{4,}")  # more than two blank lines


def clean_text(text: str, max_chars: int | None = None) -> str:
    """Normalise text for a model to read and a person to trust.

    NFC-normalises; removes invisible and control characters (zero-width
    U+200B-U+200F and U+2060-U+2064, U+FEFF, bidi controls U+202A-U+202E and
    U+2066-U+2069, the tag block U+E0000-U+E007F, variation selectors U+FE00-U+FE0F
    and U+E0100-U+E01EF, C0/C1 controls except ``\\n`` and ``\\t``, and a few
    related format characters such as the soft hyphen); turns every kind of line
    break into ``\\n`` and Unicode spaces into plain spaces; collapses runs of spaces
    (a run containing a tab becomes one tab), trailing spaces and more than two blank
    lines; strips the ends. With ``max_chars``, the result is cut to at most that many
    characters at a word boundary, with nothing appended.

    Removing U+200C/U+200D (ZWNJ/ZWJ) slightly changes the rendering of some scripts
    and emoji sequences but never the words, which is the trade for closing the channel.
    """
    text = _NEWLINES.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _TAB_RUN.sub("\t", text)
    text = _SPACE_RUN.sub(" ", text)
    text = _TRAILING_SPACE.sub("", text)
    text = _BLANK_LINES.sub("\n\n\n", text)
    text = text.strip()
    if max_chars is not None:
        text = _truncate(text, max_chars)
    return text


def _truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` to at most ``max_chars`` characters, at a word boundary when there is one."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if not text[max_chars].isspace():
        boundary = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if boundary > max_chars // 2:  # a single enormous "word" is cut where it stands
            cut = cut[:boundary]
    return cut.rstrip()


# --- kind detection ------------------------------------------------------------------------------------

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


# --- PDF -----------------------------------------------------------------------------------------------


def _pdf_limits() -> contextlib.AbstractContextManager[object]:
    """Tighter pypdf limits for the current context (pypdf >= 6's Configuration; a no-op before)."""
    import pypdf

    apply = getattr(pypdf, "apply_configuration", None)
    if apply is None:  # older pypdf: its built-in (looser) module-level caps still apply
        return contextlib.nullcontext()
    overrides: dict[str, Any] = {
        "zlib_maximum_output_length": PDF_MAX_STREAM_OUTPUT,
        "lzw_maximum_output_length": PDF_MAX_STREAM_OUTPUT,
        "run_length_maximum_output_length": PDF_MAX_STREAM_OUTPUT,
        "array_based_stream_maximum_output_length": PDF_MAX_STREAM_OUTPUT,
        "jbig2_maximum_output_length": PDF_MAX_STREAM_OUTPUT,
        "brotli_maximum_output_length": PDF_MAX_STREAM_OUTPUT,
        "image_maximum_buffer_size": PDF_MAX_STREAM_OUTPUT,
        "stream_decoding_work_maximum_length": PDF_MAX_STREAM_WORK,
        "xform_maximum_invocations_per_extraction": PDF_MAX_XOBJECT_INVOCATIONS,
        "jbig2dec_binary": None,  # never run an external decoder on an upload
    }
    fields = {field.name for field in dataclasses.fields(pypdf.Configuration)}
    known = {name: value for name, value in overrides.items() if name in fields}
    manager: contextlib.AbstractContextManager[object] = apply(**known)
    return manager


def _extract_pdf(data: bytes, limits: CvLimits) -> tuple[str, int, bool]:
    """Raw text, page count and whether reading stopped early; raises the candidate-facing errors."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, LimitReachedError

    with _pdf_limits():
        try:
            reader = PdfReader(io.BytesIO(data))
            # Some PDFs are encrypted with an empty user password (owner-only protection): read them.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise Unprocessable(MSG_PDF_PASSWORD)
            page_count = len(reader.pages)
        except HotseatError:
            raise
        except DependencyError as exc:  # e.g. AES without the `cryptography` package
            logger.info("cv: pdf encryption not supported: %s", exc)
            raise Unprocessable(MSG_PDF_ENCRYPTION) from None
        except LimitReachedError as exc:
            logger.info("cv: pdf limit reached while opening: %s", exc)
            raise Unprocessable(MSG_PDF_COMPLEX) from None
        except Exception as exc:  # pypdf raises many kinds of error on malformed input
            logger.info("cv: unreadable pdf: %r", exc)
            raise Unprocessable(MSG_PDF_DAMAGED) from None

        if page_count > limits.max_pages:
            raise TooLarge(
                f"This PDF has {page_count} pages; at most {limits.max_pages} can be read. "
                "Upload a shorter CV (only the pages you want discussed)."
            )

        parts: list[str] = []
        collected = 0
        failed = 0
        stopped_early = False
        for index in range(page_count):
            try:
                page_text = reader.pages[index].extract_text()
            except LimitReachedError as exc:
                logger.info("cv: pdf limit reached on page %d: %s", index + 1, exc)
                raise Unprocessable(MSG_PDF_COMPLEX) from None
            except Exception as exc:  # one bad page (odd font, broken stream) doesn't sink the rest
                logger.info("cv: pdf page %d unreadable: %r", index + 1, exc)
                failed += 1
                continue
            parts.append(page_text.strip())
            collected += len(page_text)
            if collected > limits.max_chars * 2:
                stopped_early = index + 1 < page_count
                break
    if failed and not "".join(parts).strip():
        raise Unprocessable(MSG_PDF_DAMAGED)
    return "\n\n".join(parts), page_count, stopped_early


# --- DOCX ----------------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_W_P, _W_TBL, _W_TR, _W_TC = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc"
_W_T, _W_TAB, _W_BR, _W_CR = f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr"
_W_TXBX = f"{_W}txbxContent"
_W_NOBREAK_HYPHEN = f"{_W}noBreakHyphen"


class _TextSink:
    """Collects lines and says when enough has been collected."""

    def __init__(self, cap: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.cap = cap

    def add(self, line: str) -> None:
        if line.strip():
            self.lines.append(line)
            self.size += len(line) + 1

    @property
    def full(self) -> bool:
        return self.size > self.cap


def _check_docx_zip(data: bytes) -> None:
    """Refuse a zip whose directory promises too much (a zip bomb) or is not a zip at all."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        logger.info("cv: docx is not a readable zip: %r", exc)
        raise Unprocessable(MSG_DOCX_DAMAGED) from None
    if len(members) > DOCX_MAX_MEMBERS:
        raise Unprocessable(MSG_DOCX_BOMB)
    total = 0
    for member in members:
        total += member.file_size
        if total > DOCX_MAX_UNCOMPRESSED:
            raise Unprocessable(MSG_DOCX_BOMB)
        if member.file_size > DOCX_RATIO_MIN_SIZE and member.file_size > DOCX_MAX_RATIO * max(
            member.compress_size, 1
        ):
            raise Unprocessable(MSG_DOCX_BOMB)


def _run_text(element: Any, out: list[str]) -> None:
    """Append the visible text inside a paragraph, not descending into text boxes or fallbacks."""
    for child in element:
        tag = child.tag
        if tag == _W_T:
            out.append(child.text or "")
        elif tag == _W_TAB:
            out.append("\t")
        elif tag in (_W_BR, _W_CR):
            out.append("\n")
        elif tag == _W_NOBREAK_HYPHEN:
            out.append("-")
        elif tag in (_W_TXBX, _MC_FALLBACK) or tag == _W_P:
            continue
        elif isinstance(tag, str):  # runs, hyperlinks, smart tags, insertions, fields...
            _run_text(child, out)


def _text_boxes(element: Any) -> Iterator[Any]:
    """Text-box contents anchored in a paragraph (the DrawingML copy, not its VML fallback)."""
    for child in element:
        tag = child.tag
        if tag == _MC_FALLBACK or not isinstance(tag, str):
            continue
        if tag == _W_TXBX:
            yield child
        else:
            yield from _text_boxes(child)


def _walk_blocks(element: Any, sink: _TextSink) -> None:
    """Paragraphs and tables under ``element`` in document order (through content controls etc.)."""
    for child in element:
        if sink.full:
            return
        tag = child.tag
        if tag == _W_P:
            pieces: list[str] = []
            _run_text(child, pieces)
            sink.add("".join(pieces))
            for box in _text_boxes(child):
                _walk_blocks(box, sink)
        elif tag == _W_TBL:
            _walk_table(child, sink)
        elif tag == _MC_FALLBACK or not isinstance(tag, str):
            continue
        else:
            _walk_blocks(child, sink)


def _walk_table(table: Any, sink: _TextSink) -> None:
    """One line per row, cells separated by `` | `` (nested tables get their own lines)."""
    for row in table.iter(_W_TR):
        if _enclosing_table(row) is not table:  # a nested table's row: read within its cell
            continue
        cells: list[str] = []
        for cell in row:
            if cell.tag != _W_TC:
                continue
            inner = _TextSink(sink.cap)
            _walk_blocks(cell, inner)
            text = " ".join(line.strip() for line in inner.lines)
            if text:
                cells.append(text)
        sink.add(" | ".join(cells))
        if sink.full:
            return


def _enclosing_table(element: Any) -> Any:
    parent = element.getparent()
    while parent is not None and parent.tag != _W_TBL:
        parent = parent.getparent()
    return parent


def _extract_docx(data: bytes, limits: CvLimits) -> tuple[str, bool]:
    """Raw text of a DOCX: headers, body paragraphs and table rows in document order, footers."""
    _check_docx_zip(data)
    import docx
    from docx.parts.hdrftr import FooterPart, HeaderPart

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx/lxml raise many kinds of error on malformed input
        logger.info("cv: unreadable docx: %r", exc)
        raise Unprocessable(MSG_DOCX_DAMAGED) from None

    cap = limits.max_chars * 2
    header, body, footer = _TextSink(cap), _TextSink(cap), _TextSink(cap)
    try:
        for part in document.part.package.iter_parts():
            if isinstance(part, HeaderPart):
                _walk_blocks(part.element, header)
            elif isinstance(part, FooterPart):
                _walk_blocks(part.element, footer)
        _walk_blocks(document.element.body, body)
    except Exception as exc:
        logger.info("cv: docx text extraction failed: %r", exc)
        raise Unprocessable(MSG_DOCX_DAMAGED) from None
    # Each section (first page, even pages...) has its own header and footer, often the
    # same: keep each distinct header/footer line once.
    lines = [*dict.fromkeys(header.lines), *body.lines, *dict.fromkeys(footer.lines)]
    return "\n".join(lines), body.full


# --- TXT / Markdown ------------------------------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_BINARY_CONTROLS = re.compile("[\u0000-\u0008\u000e-\u001a\u001c-\u001f\u007f]")


def _decode_text(data: bytes) -> str:
    """Decode text: a BOM decides (UTF-8/16/32); otherwise UTF-8, then cp1252, then latin-1."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise Unprocessable(MSG_TEXT_BINARY) from None
            break
    else:
        if b"\x00" in data:
            raise Unprocessable(MSG_TEXT_BINARY)
        for encoding in ("utf-8", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            break
    controls = len(_BINARY_CONTROLS.findall(text))
    if "\x00" in text or (controls > 8 and controls * 100 > len(text)):
        raise Unprocessable(MSG_TEXT_BINARY)
    return text


# --- extraction ----------------------------------------------------------------------------------------


def _check_size(data: bytes, limits: CvLimits) -> None:
    if len(data) > limits.max_bytes:
        raise TooLarge(
            f"This file is {_mb(len(data))} MB; the limit is {_mb(limits.max_bytes)} MB. "
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
    _check_size(data, limits)
    kind = detect_kind(filename, content_type, data)
    pages: int | None = None
    if kind == "pdf":
        raw, pages, cut_short = _extract_pdf(data, limits)
        empty_message = MSG_PDF_SCANNED
    elif kind == "docx":
        raw, cut_short = _extract_docx(data, limits)
        empty_message = MSG_DOCX_EMPTY
    else:
        raw, cut_short = _decode_text(data), False
        empty_message = MSG_TEXT_EMPTY
    # One PDF page or a text file can hold far more than a CV; cleaning only ever
    # shrinks text, so four times the limit is plenty and bounds the work.
    if len(raw) > limits.max_chars * 4:
        raw, cut_short = raw[: limits.max_chars * 4], True
    full = clean_text(raw)
    text = _truncate(full, limits.max_chars)
    if not text:
        raise Unprocessable(empty_message)
    truncated = cut_short or len(text) < len(full)
    return ExtractedCv(text=text, chars=len(text), pages=pages, kind=kind, truncated=truncated)


# --- isolation: a killable process per parse -----------------------------------------------------------

_slots = threading.BoundedSemaphore(MAX_PARALLEL_PARSES)


def _child_main(
    conn: Connection,
    extract: Extractor,
    data: bytes,
    filename: str,
    content_type: str | None,
    limits: CvLimits,
) -> None:
    """Entry point of the parse process: say "ready", parse, send back the result or the error."""
    # No logging setup here: without a handler, pypdf's warnings about odd files would go to
    # stderr through logging's last resort. The parent logs the outcome.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        conn.send(("ready",))
        try:
            result = extract(data, filename, content_type, limits)
        except HotseatError as exc:
            conn.send(("error", exc.code, exc.message))
        except BaseException:
            conn.send(("crash", traceback.format_exc()))
        else:
            conn.send(("ok", result))
    finally:
        conn.close()


def _extract_in_child(
    extract: Extractor, data: bytes, filename: str, content_type: str | None, limits: CvLimits
) -> ExtractedCv:
    """Blocking: parse in a spawned process, killed if it takes longer than ``parse_timeout``."""
    _check_size(data, limits)
    detect_kind(filename, content_type, data)  # cheap refusals need no process
    if not _slots.acquire(timeout=QUEUE_TIMEOUT):
        raise Busy(MSG_BUSY, retry_after=QUEUE_TIMEOUT)
    try:
        ctx = multiprocessing.get_context("spawn")  # no fork: the server has threads and an event loop
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_child_main,
            args=(sender, extract, data, filename, content_type, limits),
            name="hotseat-cv-parse",
            daemon=True,
        )
        started = finished = False
        try:
            process.start()
            started = True
            sender.close()
            if not receiver.poll(STARTUP_TIMEOUT):
                logger.error("cv: parse process did not start within %ss", STARTUP_TIMEOUT)
                raise Busy(MSG_BUSY, retry_after=10)
            receiver.recv()  # "ready": the clock starts once the process has started
            if not receiver.poll(limits.parse_timeout):
                logger.warning("cv: parsing %r took over %ss; killed", filename, limits.parse_timeout)
                raise Unprocessable(_timeout_message(limits.parse_timeout))
            message = receiver.recv()
            finished = True
        except EOFError:  # the process died without a word (killed by the OOM killer, a crash in C)
            logger.warning("cv: parse process for %r died (exit code %s)", filename, process.exitcode)
            raise Unprocessable(MSG_PARSE_CRASHED) from None
        finally:
            if started:
                if finished:
                    process.join(timeout=2)
                if process.is_alive():
                    process.kill()
                process.join()
                process.close()
            sender.close()
            receiver.close()
    finally:
        _slots.release()

    status = message[0]
    if status == "ok":
        result: ExtractedCv = message[1]
        return result
    if status == "error":
        logger.info("cv: %r refused: %s %s", filename, message[1], message[2])
        raise error_for_code(message[1], message[2])
    logger.error("cv: parsing %r crashed:\n%s", filename, message[1])
    raise Unprocessable(MSG_PARSE_CRASHED)


async def extract_cv_async(
    data: bytes,
    filename: str,
    content_type: str | None,
    limits: CvLimits = DEFAULT_LIMITS,
    *,
    _extract: Extractor = extract_cv,
) -> ExtractedCv:
    """:func:`extract_cv` in a separate process, killed after ``limits.parse_timeout`` seconds.

    A fresh process is spawned per upload (from a worker thread, so the event loop
    never blocks); the time limit counts from when it is ready, so interpreter
    start-up is not charged to the file. On timeout the process is killed and
    ``Unprocessable`` ("took too long to read…") is raised; if it dies, ``Unprocessable``
    too. At most :data:`MAX_PARALLEL_PARSES` parse at once; a request that waits more
    than :data:`QUEUE_TIMEOUT` seconds for its turn gets ``Busy``. ``_extract`` replaces
    the parser (tests); it must be picklable, i.e. a module-level function or a
    ``functools.partial`` of one.
    """
    return await asyncio.to_thread(_extract_in_child, _extract, data, filename, content_type, limits)
