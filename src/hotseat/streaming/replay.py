"""Replaying a finished turn from the database, once its log has been dropped.

The persisted ``delta_index`` maps every delta's seq to where its text ends,
so a reader resuming from any seq gets exactly the rest of the text (as one
merged delta carrying the last delta's seq) and the same terminal event, with
the same seq, that the live log had.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Protocol

from hotseat.errors import INTERRUPTED_MESSAGE, Interrupted, error_for_code
from hotseat.streaming.events import Event, delta


class FinishedTurn(Protocol):
    id: str
    text: str
    status: str
    finish_reason: str | None
    error_code: str | None
    error_message: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    delta_index: list[list[int]] | None
    last_seq: int | None


def replay_finished_turn(turn: FinishedTurn, after: int) -> list[Event]:
    """The events of ``turn`` with seq > ``after``."""
    index = turn.delta_index or []
    seqs = [seq for seq, _ in index]
    terminal_seq = turn.last_seq or (seqs[-1] + 1 if seqs else 1)
    events: list[Event] = []
    if seqs and seqs[-1] > after:
        already = bisect_right(seqs, after)
        start = index[already - 1][1] if already else 0
        events.append(delta(turn.id, seqs[-1], turn.text[start:]))
    if terminal_seq > after:
        events.append(_terminal(turn, terminal_seq))
    return events


def _terminal(turn: FinishedTurn, seq: int) -> Event:
    if turn.status == "streaming":
        # Its log is gone while the database still says streaming: the process running it died.
        return Event(turn.id, seq, "error", Interrupted(INTERRUPTED_MESSAGE).to_dict())
    if turn.error_code is not None:
        return Event(
            turn.id, seq, "error", error_for_code(turn.error_code, turn.error_message or "").to_dict()
        )
    payload: dict[str, Any] = {"finish_reason": turn.finish_reason}
    if turn.prompt_tokens is not None and turn.completion_tokens is not None:
        payload["usage"] = {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens}
    return Event(turn.id, seq, "done", payload)
