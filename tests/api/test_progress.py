"""Progress across interviews: a second finished interview's report compares it with the first."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers import report_when_done, wait_quiet
from pydantic import SecretStr

import hx
from hotseat.config import Settings
from hotseat.interview.report_markdown import VERDICT_LABELS
from hotseat.llm.scripted import ScriptedBackend

PACK = "general-behavioural"
ANSWER = (
    "At Acme I led the move of our billing jobs to a queue. I wrote the plan, ran it with two other "
    "engineers, and we cut the nightly failures from ten a week to none within a month."
)


OTHER_KEY = "another-owners-key"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a second API key: a second owner."""
    return settings.model_copy(update={"api_keys": SecretStr(f"{hx.API_KEY},{OTHER_KEY}")})


def interview(client: httpx.Client, backend: ScriptedBackend, pack: str, verdicts: list[str]) -> str:
    """One interview of ``pack``: the first question answered, judged with ``verdicts``, finished."""
    n_points = len(client.get(f"/api/packs/{pack}").json()["questions"][0]["assessment"])
    points = [{"verdict": v, "quotes": ["I wrote the plan"] if v == "demonstrated" else []} for v in verdicts]
    points += [{"verdict": "not_shown", "quotes": []}] * (n_points - len(points))
    backend.enqueue_structured(json.dumps({"points": points, "claims": [], "on_topic": True}))
    sid: str = client.post("/api/sessions", json={"pack": pack}).json()["id"]
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/answers", json={"text": ANSWER})
    wait_quiet(client, sid)
    client.post(f"/api/sessions/{sid}/finish")
    wait_quiet(client, sid)
    report_when_done(client, sid)
    return sid


def test_a_second_interview_reports_progress_against_the_first(
    client: httpx.Client, backend: ScriptedBackend
) -> None:
    """The second finished interview of a pack names the first and shows each point's scores over time;
    another pack's interview and another owner's are not compared; the Markdown export has the table."""
    first = interview(client, backend, PACK, ["not_shown", "not_shown"])
    interview(client, backend, "backend-engineer", ["demonstrated"])
    with hx.client(client.base_url, headers={"Authorization": f"Bearer {OTHER_KEY}"}, timeout=30) as other:
        interview(other, backend, PACK, ["demonstrated"])
    second = interview(client, backend, PACK, ["not_shown", "demonstrated"])

    before = client.get(f"/api/sessions/{first}/report").json()
    assert before["progress"] == {"earlier": [], "points": []}
    report = client.get(f"/api/sessions/{second}/report").json()
    progress = report["progress"]
    assert [e["session_id"] for e in progress["earlier"]] == [first]
    assert progress["earlier"][0]["average"] == before["questions"][0]["assessment"]["average"]
    rows = {(p["question_index"], p["point"]): p for p in progress["points"]}
    # Every point of the first question, as each session's own report scored it, oldest first.
    for then, now in zip(
        before["questions"][0]["assessment"]["points"],
        report["questions"][0]["assessment"]["points"],
        strict=True,
    ):
        row = rows[(0, now["point"])]
        assert [(s["session_id"], s["verdict"], s["score"]) for s in row["scores"]] == [
            (first, then["verdict"], then["score"]),
            (second, now["verdict"], now["score"]),
        ]
        assert row["change"] == now["score"] - then["score"]
    improved = rows[(0, report["questions"][0]["assessment_points"][1])]
    then, now = improved["scores"]
    assert then["verdict"] == "not_shown" and now["verdict"] != "not_shown" and improved["change"] > 0

    markdown = client.get(f"/api/sessions/{second}/export", params={"format": "md"}).text
    assert "## Progress" in markdown
    assert f"session {first}" in markdown
    label = VERDICT_LABELS
    row = f"| {then['score']}/5 {label[then['verdict']]} | {now['score']}/5 {label[now['verdict']]} |"
    assert f"{row} {improved['change']:+d} |" in markdown
