"""One whole interview on the real embedded model: CV, three answers, finish, report, exports."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import wait_quiet

import hx
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.testing.server import ServerThread

pytest.importorskip("llama_cpp")

CV = (
    b"Jane Doe - Backend engineer\n"
    b"2019-2024 Acme Corp: led the orders API rewrite in Python; cut p99 latency from 900 ms to 120 ms.\n"
    b"2016-2019 Beta Ltd: built the billing pipeline on PostgreSQL and Kafka.\n"
)
ANSWERS = [
    "At Acme I led the rewrite of the orders API. I profiled the old service, found that most time went "
    "to repeated database queries, added a cache and batched the queries, and p99 latency fell to 120 ms.",
    "I design data models by starting from the queries the product needs. For billing I used PostgreSQL "
    "with one table per ledger entry, never updating rows, so every change is auditable and easy to replay.",
    "When an incident happens I first stop the bleeding, then write down a timeline. Once a Kafka consumer "
    "fell behind; I scaled it, found a slow handler, fixed it, and we added an alert on consumer lag.",
]


def test_whole_interview_on_the_embedded_model(tmp_path: Path) -> None:
    """Upload a CV, answer three questions, finish: every answer has an assessment or a stated reason."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        backend="local",
        api_keys=hx.API_KEY,
        local_context_size=2048,
        max_tokens=32,
        assessment_max_tokens=400,
        # Nobody watches these turns (the test polls), and the model is shared with scoring.
        orphan_grace_seconds=600,
    )
    with (
        ServerThread(create_app(settings)) as server,
        hx.client(server.base_url, timeout=60) as client,
    ):
        cv = client.post("/api/cvs", files={"file": ("cv.txt", CV, "text/plain")})
        assert cv.status_code == 201, cv.text
        session = client.post(
            "/api/sessions", json={"pack": "backend-engineer", "cv_id": cv.json()["id"]}
        ).json()
        sid = session["id"]
        wait_quiet(client, sid, limit=240)
        for answer in ANSWERS:
            assert client.post(f"/api/sessions/{sid}/answers", json={"text": answer}).status_code == 202
            wait_quiet(client, sid, limit=240)
        assert client.post(f"/api/sessions/{sid}/finish").status_code == 202
        turns = wait_quiet(client, sid, limit=240)
        deadline = time.monotonic() + 300
        while (report := client.get(f"/api/sessions/{sid}/report").json())["status"] != "complete":
            assert time.monotonic() < deadline, "assessments did not finish"
            time.sleep(0.5)
        markdown = client.get(f"/api/sessions/{sid}/export", params={"format": "md"})
        exported = client.get(f"/api/sessions/{sid}/export", params={"format": "json"}).json()

    interviewer = [t for t in turns if t["role"] == "interviewer"]
    assert [t["status"] for t in interviewer] == ["complete"] * len(interviewer)
    assert interviewer[0]["text"]
    assert interviewer[-1]["kind"] == "report"
    answered = [q for q in report["questions"] if q["answers"]]
    assert len(answered) == 3
    for question in answered:
        assessment = question["assessment"]
        assert assessment["status"] in ("complete", "not_assessed")
        if assessment["status"] == "complete":
            assert len(assessment["points"]) == len(question["assessment_points"])
            assert all(1 <= p["score"] <= 5 for p in assessment["points"])
        else:
            assert assessment["reason"]
    assert markdown.status_code == 200
    assert "# Interview report" in markdown.text
    assert exported == report
