"""A Word document's (DOCX) text, with its zip checked for bombs before python-docx opens it."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from typing import Any

from hotseat.errors import Unprocessable
from hotseat.interview.cv.model import MSG_DOCX_BOMB, MSG_DOCX_DAMAGED, CvLimits

logger = logging.getLogger(__name__)

# DOCX (a zip of XML parts): refuse before python-docx inflates anything.
DOCX_MAX_UNCOMPRESSED = 50 * 1024 * 1024  # total declared size of all members
DOCX_MAX_MEMBERS = 2_000
DOCX_MAX_RATIO = 100  # uncompressed/compressed, checked for members over DOCX_RATIO_MIN_SIZE
DOCX_RATIO_MIN_SIZE = 1024 * 1024

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


def extract_docx(data: bytes, limits: CvLimits) -> tuple[str, bool]:
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
