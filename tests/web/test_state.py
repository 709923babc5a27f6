"""The page's reducer (``web/state.js``), run on its own in Chromium: events in, state out; and the
transports' pure translation of frames and SSE messages into those events.

``reduce(state, event)`` has no DOM and no I/O, so each test imports the module into a blank
page of the real server and feeds it events; the page's app is not involved. Every state handed
to ``reduce`` is deep-frozen first, so a reducer that changed its input would throw.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from hotseat.serving import ServerThread

try:
    from playwright.sync_api import Page
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("Playwright is not installed: .venv/bin/pip install playwright", allow_module_level=True)

# Runs `events` (a list, or a list of lists with a snapshot after each) through reduce, freezing
# every state first; returns the snapshots.
RUN = """async ([transport, batches]) => {
    const { initialState, reduce, reportReady } = await import('/static/state.js');
    const freeze = (value) => {
        if (value && typeof value === 'object' && !Object.isFrozen(value)) {
            Object.freeze(value);
            for (const each of Object.values(value)) freeze(each);
        }
        return value;
    };
    let state = freeze(initialState('S', transport));
    const snapshots = [];
    for (const events of batches) {
        for (const event of events) state = freeze(reduce(state, event));
        snapshots.push({ ...state, reportReady: reportReady(state) });
    }
    return snapshots;
}"""


def row(turn_id: str, role: str, kind: str, text: str, status: str = "complete") -> dict[str, Any]:
    return {
        "id": turn_id,
        "role": role,
        "kind": kind,
        "text": text,
        "status": status,
        "finish_reason": None,
        "error": None,
    }


def transcript(*rows: dict[str, Any], status: str = "active") -> dict[str, Any]:
    return {
        "type": "transcript",
        "refresh": False,
        "data": {"pack": "p", "status": status, "turns": list(rows)},
    }


def reduce_all(
    page: Page, server: ServerThread, batches: list[list[dict[str, Any]]], transport: str = "ws"
) -> list[Any]:
    page.goto(f"{server.base_url}/api/health")
    snapshots: list[Any] = page.evaluate(RUN, [transport, batches])
    return snapshots


def live(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    """A link that opened and read this transcript."""
    return [
        {"type": "opened"},
        {"type": "conn", "state": "connected", "text": "Connected"},
        transcript(*rows),
    ]


def test_stream_frames_are_applied_once_in_seq_order(server: ServerThread, page: Page) -> None:
    """Deltas append; a frame whose seq is not newer is dropped; after `done` nothing extends the turn."""
    [state] = reduce_all(
        page,
        server,
        [
            [
                *live(),
                {"type": "turn", "turnId": "T1", "kind": "opening", "after": 0},
                {"type": "delta", "turnId": "T1", "seq": 1, "text": "Hello"},
                {"type": "delta", "turnId": "T1", "seq": 3, "text": " there"},
                {"type": "delta", "turnId": "T1", "seq": 2, "text": " (stale)"},
                {"type": "delta", "turnId": "T1", "seq": 3, "text": " there"},
                {"type": "done", "turnId": "T1", "seq": 4, "finishReason": "stop"},
                {"type": "delta", "turnId": "T1", "seq": 5, "text": " after the end"},
            ]
        ],
    )
    [opening] = state["turns"]
    assert opening["text"] == "Hello there"
    assert (opening["status"], opening["lastSeq"], opening["fromRecord"]) == ("complete", 4, False)


def test_a_restarted_stream_replaces_the_text_and_a_resumed_one_keeps_it(
    server: ServerThread, page: Page
) -> None:
    """A `turn` with after 0 drops the text (and bumps rev, so the view re-renders); after > 0 keeps it."""
    streamed, restarted, resumed = reduce_all(
        page,
        server,
        [
            [
                *live(),
                {"type": "turn", "turnId": "T1", "kind": "opening", "after": 0},
                {"type": "delta", "turnId": "T1", "seq": 2, "text": "Hello"},
            ],
            [{"type": "turn", "turnId": "T1", "kind": "opening", "after": 0}],
            [
                {"type": "delta", "turnId": "T1", "seq": 2, "text": "Hello"},
                {"type": "turn", "turnId": "T1", "kind": "opening", "after": 2},
                {"type": "delta", "turnId": "T1", "seq": 3, "text": " again"},
            ],
        ],
    )
    assert (restarted["turns"][0]["text"], restarted["turns"][0]["lastSeq"]) == ("", 0)
    assert restarted["turns"][0]["rev"] > streamed["turns"][0]["rev"]
    assert resumed["turns"][0]["text"] == "Hello again"
    assert resumed["turns"][0]["rev"] == restarted["turns"][0]["rev"]


def test_an_answer_takes_its_server_id_by_position_not_by_text(server: ServerThread, page: Page) -> None:
    """The same words answered twice: the new answer is named by its place (after T2), not its text."""
    first = row("A1", "candidate", "answer", "Yes.")
    followup = row("T2", "interviewer", "followup", "Say more?")
    _, sending, accepted, named = reduce_all(
        page,
        server,
        [
            [*live(row("T1", "interviewer", "opening", "Tell me about a project."), first, followup)],
            [{"type": "sent", "ref": "m1", "move": "answer", "text": "Yes."}],
            [{"type": "accepted", "ref": "m1", "turnId": "T3", "kind": "question"}],
            [
                {
                    "type": "transcript",
                    "refresh": True,
                    "data": {
                        "pack": "p",
                        "status": "active",
                        "turns": [
                            row("T1", "interviewer", "opening", "Tell me about a project."),
                            first,
                            followup,
                            row("A2", "candidate", "answer", "Yes."),
                            row("T3", "interviewer", "question", "", "streaming"),
                        ],
                    },
                }
            ],
        ],
    )
    local = sending["turns"][-1]
    assert (local["local"], local["status"], local["after"], local["text"]) == (True, "sending", "T2", "Yes.")
    assert sending["pending"]["ref"] == "m1"
    assert accepted["pending"] is None
    assert [(t["id"], t["status"]) for t in accepted["turns"][-2:]] == [
        (local["key"], "complete"),
        ("T3", "streaming"),
    ]
    assert [t["id"] for t in named["turns"]] == ["T1", "A1", "T2", "A2", "T3"]
    assert named["turns"][3]["key"] == local["key"]  # the view keeps its element
    assert named["turns"][4]["text"] == ""  # a generating turn's text comes only from its stream


def test_an_accepted_answer_takes_the_id_the_server_names(server: ServerThread, page: Page) -> None:
    """`accepted` naming the candidate's turn names it at once (no transcript needed); a later
    transcript finds it by that id and keeps the view's element."""
    opening = row("T1", "interviewer", "opening", "Tell me about a project.")
    sending, accepted, reloaded = reduce_all(
        page,
        server,
        [
            [*live(opening), {"type": "sent", "ref": "m1", "move": "answer", "text": "Yes."}],
            [{"type": "accepted", "ref": "m1", "turnId": "T2", "kind": "followup", "candidateTurnId": "A1"}],
            [
                transcript(
                    opening,
                    row("A1", "candidate", "answer", "Yes."),
                    row("T2", "interviewer", "followup", "", "streaming"),
                )
            ],
        ],
    )
    local = sending["turns"][-1]
    answer = accepted["turns"][1]
    assert (answer["id"], answer["key"], answer["local"], answer["status"]) == (
        "A1",
        local["key"],
        False,
        "complete",
    )
    assert (accepted["turns"][2]["id"], accepted["turns"][2]["kind"]) == ("T2", "followup")
    assert accepted["pending"] is None
    assert [(t["id"], t["key"]) for t in reloaded["turns"]] == [
        ("T1", "T1"),
        ("A1", local["key"]),
        ("T2", "T2"),
    ]


def test_a_refused_move_is_undone_by_its_ref(server: ServerThread, page: Page) -> None:
    """Only the rejection with the move's ref undoes it: the answer leaves the transcript for the box."""
    other, refused = reduce_all(
        page,
        server,
        [
            [
                *live(row("T1", "interviewer", "opening", "Hi.")),
                {"type": "sent", "ref": "m1", "move": "answer", "text": "My answer"},
                {"type": "rejected", "ref": "m0", "error": {"code": "conflict", "message": "Not now."}},
            ],
            [
                {
                    "type": "rejected",
                    "ref": "m1",
                    "error": {"code": "conflict", "message": "The interviewer is still replying."},
                }
            ],
        ],
    )
    assert other["pending"]["ref"] == "m1"
    assert [t["kind"] for t in other["turns"]] == ["opening", "answer"]
    assert refused["pending"] is None
    assert [t["kind"] for t in refused["turns"]] == ["opening"]
    assert refused["draft"]["text"] == "My answer"
    assert refused["notice"]["message"] == "The interviewer is still replying."


def test_an_answer_lost_with_the_socket_comes_back(server: ServerThread, page: Page) -> None:
    """The socket closed before the answer was accepted and the transcript lacks it: back to the box."""
    [state] = reduce_all(
        page,
        server,
        [
            [
                *live(row("T1", "interviewer", "opening", "Hi.")),
                {"type": "sent", "ref": "m1", "move": "answer", "text": "Lost words"},
                {"type": "lost"},
                *live(row("T1", "interviewer", "opening", "Hi.")),
            ]
        ],
    )
    assert [t["id"] for t in state["turns"]] == ["T1"]
    assert state["pending"] is None
    assert state["draft"]["text"] == "Lost words"
    assert "did not reach the server" in state["notice"]["message"]


def test_a_failed_turn_carries_its_error_and_advice(server: ServerThread, page: Page) -> None:
    """A terminal error ends the turn as failed, keeps its partial text, and says when to retry."""
    [state] = reduce_all(
        page,
        server,
        [
            [
                *live(),
                {"type": "turn", "turnId": "T1", "kind": "opening", "after": 0},
                {"type": "delta", "turnId": "T1", "seq": 1, "text": "Let me"},
                {
                    "type": "failed",
                    "turnId": "T1",
                    "seq": 2,
                    "error": {"code": "upstream_rate_limited", "message": "Slow down.", "retry_after": 2.5},
                },
            ]
        ],
    )
    [opening] = state["turns"]
    assert (opening["status"], opening["text"], opening["error"]["code"]) == (
        "failed",
        "Let me",
        "upstream_rate_limited",
    )
    assert state["notice"]["message"] == "Slow down. You can retry in 3 s."


def test_finish_opens_the_report_only_when_it_is_written(server: ServerThread, page: Page) -> None:
    """After finish is accepted the session is over; the report is due once its turn completes."""
    writing, written = reduce_all(
        page,
        server,
        [
            [
                *live(row("T1", "interviewer", "opening", "Hi.")),
                {"type": "sent", "ref": "m1", "move": "finish"},
                {"type": "accepted", "ref": "m1", "turnId": "R1", "kind": "report"},
                {"type": "turn", "turnId": "R1", "kind": "report", "after": 0},
                {"type": "delta", "turnId": "R1", "seq": 1, "text": "Summary"},
            ],
            [{"type": "done", "turnId": "R1", "seq": 2, "finishReason": "stop"}],
        ],
    )
    assert writing["status"] == "finished"
    assert not writing["reportReady"]
    assert written["reportReady"]


def test_stop_is_pending_until_the_turn_ends(server: ServerThread, page: Page) -> None:
    """A cancel sent marks the turn as stopping; its `done` clears that, its `accepted` does not."""
    stopping, stopped = reduce_all(
        page,
        server,
        [
            [
                *live(),
                {"type": "turn", "turnId": "T1", "kind": "opening", "after": 0},
                {"type": "sent", "ref": "m1", "move": "cancel", "turnId": "T1"},
                {"type": "accepted", "ref": "m1", "turnId": "T1", "kind": "opening"},
            ],
            [{"type": "done", "turnId": "T1", "seq": 1, "finishReason": "cancelled"}],
        ],
    )
    assert stopping["stopping"] == "m1"
    assert stopped["stopping"] is None
    assert stopped["turns"][0]["status"] == "cancelled"


def test_frames_and_messages_become_the_same_events(server: ServerThread, page: Page) -> None:
    """The two adapters' translations: a socket frame and an SSE message for the same thing give one event."""
    page.goto(f"{server.base_url}/api/health")
    events = page.evaluate(
        """async () => {
            const { frameEvent } = await import('/static/link-ws.js');
            const { messageEvent } = await import('/static/link-sse.js');
            const error = { code: 'upstream_error', message: 'Broke.' };
            return {
                wsDelta: frameEvent({ type: 'delta', seq: 4, text: 'Hi' }, 'T1'),
                sseDelta: messageEvent('T1', 'delta', { text: 'Hi' }, '4'),
                wsFailed: frameEvent({ type: 'error', turn_id: 'T1', seq: 5, ...error }, 'T1'),
                sseFailed: messageEvent('T1', 'error', { turn_id: 'T1', seq: 5, ...error }, '5'),
                refused: frameEvent({ type: 'error', ref: 'm3', code: 'conflict', message: 'No.' }, 'T1'),
                undelivered: frameEvent({ type: 'error', turn_id: 'T1', ...error }, 'T1'),
                accepted: frameEvent(
                    { type: 'accepted', ref: 'm3', turn_id: 'T2', kind: 'followup',
                      candidate_turn_id: 'A2' },
                    'T1',
                ),
                unknown: frameEvent({ type: 'from-the-future' }, 'T1'),
            };
        }"""
    )
    assert (
        events["wsDelta"] == events["sseDelta"] == {"type": "delta", "turnId": "T1", "seq": 4, "text": "Hi"}
    )
    assert events["wsFailed"] == events["sseFailed"]
    assert events["wsFailed"]["type"] == "failed" and events["wsFailed"]["error"]["message"] == "Broke."
    assert (events["refused"]["type"], events["refused"]["ref"]) == ("rejected", "m3")
    assert events["undelivered"]["type"] == "undelivered"
    assert events["accepted"] == {
        "type": "accepted",
        "ref": "m3",
        "turnId": "T2",
        "kind": "followup",
        "candidateTurnId": "A2",
    }
    assert events["unknown"] is None
