"""CV upload over HTTP: accepted formats, clear refusals, and the CV reaching the interviewer."""

from __future__ import annotations

import httpx
import pytest

from documents import make_docx, make_pdf, rewrite_pdf
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend


def upload(
    client: httpx.Client, name: str, data: bytes, content_type: str = "application/octet-stream"
) -> httpx.Response:
    return client.post("/api/cvs", files={"file": (name, data, content_type)})


def test_pdf_docx_txt_and_md_are_accepted(client: httpx.Client) -> None:
    """Each accepted format gives 201 with the id, filename, characters and pages."""
    pdf = upload(client, "cv.pdf", make_pdf([["Jane Doe", "Built the orders API"], ["Page two"]]))
    assert pdf.status_code == 201, pdf.text
    assert pdf.json()["pages"] == 2
    assert pdf.json()["chars"] > 10
    docx = upload(client, "cv.docx", make_docx())
    assert docx.status_code == 201, docx.text
    assert docx.json()["pages"] is None
    text = upload(client, "cv.txt", "Jane Doe\u200b, engineer".encode())
    assert text.status_code == 201
    markdown = upload(client, "cv.md", b"# Jane\n\n- Python")
    assert markdown.status_code == 201
    assert client.get(f"/api/cvs/{text.json()['id']}").json()["chars"] == len("Jane Doe, engineer")


@pytest.mark.parametrize(
    ("name", "data", "status", "code", "words"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(100), 415, "unsupported_type", "PDF"),
        ("cv.pdf", make_pdf([["x"]])[:60], 422, "unprocessable", ""),
        ("cv.pdf", rewrite_pdf(make_pdf([["Secret"]]), user_password="pw"), 422, "unprocessable", "password"),
        ("scan.pdf", rewrite_pdf(b"", blank_pages=1), 422, "unprocessable", "scanned"),
        ("empty.txt", b"", 422, "unprocessable", ""),
    ],
)
def test_bad_files_are_refused_with_advice(
    client: httpx.Client, name: str, data: bytes, status: int, code: str, words: str
) -> None:
    """Wrong type 415, unreadable 422 (corrupt, encrypted, image-only, empty): JSON errors with advice."""
    response = upload(client, name, data)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


def test_too_large_is_413(client: httpx.Client, settings: Settings) -> None:
    """A file over HOTSEAT_CV_MAX_BYTES is refused with 413 and the limit in the message."""
    response = upload(client, "big.txt", b"a" * (settings.cv_max_bytes + 1))
    assert response.status_code == 413
    assert "MB" in response.json()["error"]["message"]


def test_missing_file_field_is_400(client: httpx.Client) -> None:
    """A request without the multipart `file` field is a bad request."""
    response = client.post("/api/cvs", data={"other": "x"})
    assert response.status_code == 400
    assert "file" in response.json()["error"]["message"]


def test_cv_reaches_the_interviewer_fenced(client: httpx.Client, backend: ScriptedBackend) -> None:
    """A session with a CV sends the CV's text to the model inside the CV fence."""
    cv = upload(client, "cv.txt", b"Jane Doe. Led the payments migration at Acme in 2022.").json()
    session = client.post("/api/sessions", json={"pack": "cv-deep-dive", "cv_id": cv["id"]})
    assert session.status_code == 201
    client.get(f"/api/sessions/{session.json()['id']}/turns/{session.json()['turn_id']}/events")
    system = backend.calls[-1][0][0].content
    assert "<<<CV\nJane Doe. Led the payments migration at Acme in 2022.\n>>>" in system


def test_the_upload_returns_the_claims_the_interviewer_will_use(client: httpx.Client) -> None:
    """The CV's achievement lines come back with the upload (and with GET), each with its metric."""
    cv = (
        b"# Jane Doe\n\n## Experience\n\n"
        b"- Cut p99 checkout latency from 900 ms to 180 ms by batching fraud checks in Go.\n"
        b"- Mentored three junior engineers; two were promoted within a year.\n\n"
        b"## Skills\n\nGo, PostgreSQL\n"
    )
    uploaded = upload(client, "cv.md", cv)
    assert uploaded.status_code == 201, uploaded.text
    claims = uploaded.json()["claims"]
    assert [claim["line"] for claim in claims] == [
        "Cut p99 checkout latency from 900 ms to 180 ms by batching fraud checks in Go.",
        "Mentored three junior engineers; two were promoted within a year.",
    ]
    assert claims[0]["metric"] and "go" in claims[0]["skills"]
    assert client.get(f"/api/cvs/{uploaded.json()['id']}").json()["claims"] == claims
