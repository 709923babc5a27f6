"""What the store keeps of a finished turn: ``FinishedTurn``, the shape it reads.

The runner (``hotseat.streaming``) produces the outcome; the store only reads these
attributes, so it names a protocol here rather than importing the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hotseat.store.models import utcnow


class _Usage(Protocol):
    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...


class _Error(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


class FinishedTurn(Protocol):
    """How a turn ended (``streaming.runner.TurnOutcome`` is one)."""

    @property
    def turn_id(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def usage(self) -> _Usage | None: ...

    @property
    def error(self) -> _Error | None: ...

    @property
    def delta_index(self) -> Sequence[tuple[int, int]]: ...

    @property
    def terminal_seq(self) -> int: ...


def outcome_values(outcome: FinishedTurn) -> dict[str, Any]:
    """The columns a turn's outcome sets, by name."""
    usage, error = outcome.usage, outcome.error
    return {
        "text": outcome.text,
        "status": outcome.status,
        "finish_reason": outcome.finish_reason,
        "delta_index": [list(pair) for pair in outcome.delta_index],
        "last_seq": outcome.terminal_seq,
        "finished_at": utcnow(),
        "prompt_tokens": usage.prompt_tokens if usage is not None else None,
        "completion_tokens": usage.completion_tokens if usage is not None else None,
        "error_code": error.code if error is not None else None,
        "error_message": error.message if error is not None else None,
    }
