"""Candidate text from the API (answers, job descriptions) without the characters a person cannot see.

A CV's text is cleaned when it is extracted (``interview.cv.clean_text``); an
answer or a job description reaches the model too, so it loses the same kind
of characters: invisible ones that can carry instructions a person reviewing
the text never sees (Unicode tag characters, "ASCII smuggling"; zero-width and
bidi controls) and control characters. Unlike a CV's text, the layout is
kept: an answer may hold code, whose spaces and blank lines matter.

Removed: every format character (Unicode category Cf: zero-width characters,
bidi controls, the tag block, the soft hyphen, the BOM), every control
character (Cc) except tab and line feed, and variation selectors. Line breaks
of every kind become ``\\n``; the text is NFC-normalised.
"""

from __future__ import annotations

import unicodedata

# Carriage returns, and the line and paragraph separators, as a line feed.
_LINE_BREAKS = str.maketrans({"\r": "\n", "\u0085": "\n", "\u2028": "\n", "\u2029": "\n"})
_KEPT_CONTROLS = frozenset("\t\n")


def _invisible(char: str) -> bool:
    if char in _KEPT_CONTROLS:
        return False
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:  # variation selectors (Mn)
        return True
    return unicodedata.category(char) in ("Cf", "Cc")


def strip_invisible(text: str) -> str:
    """``text`` without invisible and control characters, with ``\\n`` line breaks, NFC."""
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to remove (tab and newline are not printable)
    return unicodedata.normalize("NFC", "".join(char for char in text if not _invisible(char)))
