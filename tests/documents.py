"""Documents made at test time: hand-written PDFs, DOCX via python-docx, zip bombs."""

from __future__ import annotations

import io
import zipfile
import zlib

import docx
from pypdf import PdfReader, PdfWriter


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("cp1252") + b")"


def make_pdf(pages: list[list[str]], *, stream: bytes | None = None, compress: bool = False) -> bytes:
    """A minimal valid PDF: one Helvetica text stream per page (or ``stream`` as every page's content)."""
    objects: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()
    objects[3] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    for i, lines in enumerate(pages):
        content = stream
        if content is None:
            content = (
                b"BT /F1 12 Tf 14 TL 72 720 Td "
                + b"".join(_pdf_string(x) + b" Tj T* " for x in lines)
                + b"ET"
            )
        filters = b""
        if compress:
            content, filters = zlib.compress(content, 1), b" /Filter /FlateDecode"
        objects[4 + 2 * i] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects[5 + 2 * i] = b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), filters, content)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number in sorted(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def rewrite_pdf(data: bytes, *, user_password: str | None = None, blank_pages: int = 0) -> bytes:
    """Copy ``data`` through pypdf's writer, optionally encrypting it (RC4, no extra dependency)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data))) if data else PdfWriter()
    for _ in range(blank_pages):
        writer.add_blank_page(width=612, height=792)
    if user_password is not None:
        writer.encrypt(user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx() -> bytes:
    """A CV with a header, paragraphs, a table and a footer."""
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Jane Doe · jane@example.com"
    document.add_heading("Jane Doe", level=0)
    document.add_paragraph("Backend engineer with ten years of Python.")
    table = document.add_table(rows=2, cols=3)
    for column, value in enumerate(("Company", "Role", "Years")):
        table.cell(0, column).text = value
    for column, value in enumerate(("Acme", "Lead engineer", "2019-2024")):
        table.cell(1, column).text = value
    document.add_paragraph("Education: MSc Computer Science.")
    document.sections[0].footer.paragraphs[0].text = "References on request"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def add_zero_member(docx_bytes: bytes, megabytes: int) -> bytes:
    """``docx_bytes`` plus a member of ``megabytes`` MB of zeros (compresses ~1000:1)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx_bytes)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target,
    ):
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        member = zipfile.ZipInfo("word/media/padding.bin")
        member.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(1024 * 1024)
        with target.open(member, "w", force_zip64=True) as sink:
            for _ in range(megabytes):
                sink.write(chunk)
    return out.getvalue()
