"""A PDF's text, under tightened pypdf limits."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from typing import Any

from hotseat.errors import HotseatError, TooLarge, Unprocessable
from hotseat.interview.cv.model import (
    MSG_PDF_COMPLEX,
    MSG_PDF_DAMAGED,
    MSG_PDF_ENCRYPTION,
    MSG_PDF_PASSWORD,
    CvLimits,
)

logger = logging.getLogger(__name__)

# PDF: per-stream decompression caps handed to pypdf (its defaults are 75 MB each).
PDF_MAX_STREAM_OUTPUT = 20 * 1024 * 1024
PDF_MAX_STREAM_WORK = 60 * 1024 * 1024
PDF_MAX_XOBJECT_INVOCATIONS = 1_000


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


def extract_pdf(data: bytes, limits: CvLimits) -> tuple[str, int, bool]:
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
