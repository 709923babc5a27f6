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
The sandbox (:func:`extract_cv_async`) also runs the parse in a freshly spawned
process that is killed when ``parse_timeout`` passes, because a thread stuck in a parser
cannot be stopped. At most :data:`MAX_PARALLEL_PARSES` such processes run at once.
As with any ``spawn`` multiprocessing, the program's main script is re-imported in
the child under ``__mp_main__``, so it must guard its entry point
(``if __name__ == "__main__"``; console scripts and ``python -m`` already do).

The package has one module per job: ``model`` (limits, results, messages), ``detect``
(which kind of file), ``pdf``, ``word`` (DOCX), ``text`` (cleaning and plain-text decoding),
``extract`` (``extract_cv``) and ``sandbox`` (``extract_cv_async``, with its own bounded pool).
"""

from __future__ import annotations

from hotseat.interview.cv.detect import detect_kind
from hotseat.interview.cv.extract import extract_cv
from hotseat.interview.cv.model import DEFAULT_LIMITS, CvKind, CvLimits, ExtractedCv
from hotseat.interview.cv.sandbox import MAX_PARALLEL_PARSES, QUEUE_TIMEOUT, extract_cv_async
from hotseat.interview.cv.text import clean_text

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_PARALLEL_PARSES",
    "QUEUE_TIMEOUT",
    "CvKind",
    "CvLimits",
    "ExtractedCv",
    "clean_text",
    "detect_kind",
    "extract_cv",
    "extract_cv_async",
]
