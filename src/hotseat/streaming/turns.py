"""What the turn runner is given (TurnRequest) and what it hands back to be stored (TurnOutcome)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from hotseat.errors import HotseatError
from hotseat.llm.base import ChatMessage, GenerationParams, StreamItem, Usage

TurnStatus = Literal["streaming", "complete", "cancelled", "failed", "interrupted"]


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """One interviewer turn to generate: its ids, kind, the model call, and whose it is."""

    session_id: str
    turn_id: str
    kind: str
    messages: Sequence[ChatMessage]
    params: GenerationParams
    # Whose turn it is: counted per owner for HOTSEAT_MAX_RUNNING_TURNS_PER_OWNER.
    owner: str = ""
    # Where the turn's items come from when it is not one model call on ``messages`` (a guided
    # turn: a model-written bridge, then planned words); it speaks the backend's stream contract.
    source: Callable[[], AsyncIterator[StreamItem]] | None = None


@dataclass(slots=True)
class TurnOutcome:
    """How a turn ended: everything that is persisted with the transcript."""

    turn_id: str
    text: str
    status: TurnStatus
    finish_reason: str | None
    usage: Usage | None
    error: HotseatError | None
    # (seq, end offset in text) for every delta: lets a finished turn be replayed from any seq.
    delta_index: list[tuple[int, int]]
    # The seq the terminal event gets (one past every delta and queued event).
    terminal_seq: int


OnEnd = Callable[[TurnOutcome], Awaitable[None]]
