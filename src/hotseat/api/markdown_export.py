"""The exported report's Markdown, made inert for whatever viewer opens it.

The report quotes model output and the candidate's answers as they are. The
page renders them with raw HTML off and images disabled, but a downloaded
``.md`` is opened elsewhere (an editor's preview, a wiki, a Git host), where
raw HTML may be rendered and an image link is fetched as soon as the file is
shown: a tracking pixel, or a way to send the transcript out in a URL. So,
outside fenced code blocks (which no viewer renders as HTML):

- every ``<`` that could open an HTML tag, comment or autolink becomes
  ``&lt;``, so it shows as the character it is;
- every image ``![`` becomes ``\\![``: a plain link to click, never fetched.
"""

from __future__ import annotations

import re

# "<" followed by what CommonMark reads as the start of raw HTML or an autolink.
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_IMAGE = re.compile(r"(?<!\\)!\[")
# A fence line, possibly inside block quotes ("> ```python").
_FENCE = re.compile(r"^(?:\s*>)*\s*(```|~~~)")


def inert_markdown(markdown: str) -> str:
    """``markdown`` with raw HTML shown as text and images turned into links."""
    lines = []
    fence: str | None = None
    for line in markdown.split("\n"):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened is not None and opened.group(1) == fence:
                fence = None
            lines.append(line)
            continue
        if opened is not None:
            fence = opened.group(1)
            lines.append(line)
            continue
        lines.append(_IMAGE.sub(r"\\![", _TAG_OPEN.sub("&lt;", line)))
    return "\n".join(lines)
