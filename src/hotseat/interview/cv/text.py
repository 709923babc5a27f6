"""Text cleaning (what a model reads and a person trusts) and decoding plain-text uploads."""

from __future__ import annotations

import re
import unicodedata

from hotseat.errors import Unprocessable
from hotseat.interview.cv.model import MSG_TEXT_BINARY

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
        text = truncate(text, max_chars)
    return text


def truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` to at most ``max_chars`` characters, at a word boundary when there is one."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if not text[max_chars].isspace():
        boundary = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if boundary > max_chars // 2:  # a single enormous "word" is cut where it stands
            cut = cut[:boundary]
    return cut.rstrip()


_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_BINARY_CONTROLS = re.compile("[\u0000-\u0008\u000e-\u001a\u001c-\u001f\u007f]")


def decode_text(data: bytes) -> str:
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
