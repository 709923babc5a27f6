"""The turn runner with a scripted backend: events, outcomes, cancel, orphans, shutdown."""

from __future__ import annotations

import asyncio

from hotseat.errors import UpstreamError
from hotseat.llm.base import ChatMessage, GenerationParams
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.streaming.bus import MemorySessionBus
from hotseat.streaming.events import Event
from hotseat.streaming.log import MemoryStreamLog
from hotseat.streaming.runner import TurnOutcome, TurnRequest, TurnRunner

MESSAGES = [ChatMessage("user", "hello")]


def make_runner(backend: ScriptedBackend, grace: float = 30.0) -> tuple[TurnRunner, MemoryStreamLog]:
    log = MemoryStreamLog()
    return TurnRunner(backend, log, MemorySessionBus(), orphan_grace_seconds=grace), log


class Outcomes:
    def __init__(self, log: MemoryStreamLog) -> None:
        self.log = log
        self.saved: list[TurnOutcome] = []
        self.terminal_logged_before_save: list[bool] = []

    async def __call__(self, outcome: TurnOutcome) -> None:
        # The terminal event cannot be logged while this callback runs, so this wait must time out.
        pending = anext(self.log.read(outcome.turn_id, after=outcome.terminal_seq - 1))
        try:
            await asyncio.wait_for(pending, 0.01)
            self.terminal_logged_before_save.append(True)
        except TimeoutError:
            self.terminal_logged_before_save.append(False)
        self.saved.append(outcome)


async def read_all(log: MemoryStreamLog, turn_id: str) -> list[Event]:
    return [event async for batch in log.read(turn_id) for event in batch]


async def start(runner: TurnRunner, on_end: Outcomes, turn_id: str = "t1") -> None:
    await runner.start(TurnRequest("s1", turn_id, "opening", MESSAGES, GenerationParams()), on_end)


async def test_deltas_then_done_and_outcome_saved_before_terminal() -> None:
    """Deltas carry only new text; the outcome is saved before `done` is logged."""
    backend = ScriptedBackend()
    backend.enqueue("Tell me about yourself.")
    runner, log = make_runner(backend)
    outcomes = Outcomes(log)
    await start(runner, outcomes)
    events = await asyncio.wait_for(read_all(log, "t1"), 5)
    assert [e.type for e in events] == ["delta"] * 4 + ["done"]
    assert [e.payload["text"] for e in events[:-1]] == ["Tell", " me", " about", " yourself."]
    assert events[-1].payload["finish_reason"] == "stop"
    assert events[-1].payload["usage"] == {"prompt_tokens": 1, "completion_tokens": 4}
    (outcome,) = outcomes.saved
    assert outcome.text == "Tell me about yourself."
    assert outcome.status == "complete"
    assert outcome.delta_index == [(1, 4), (2, 7), (3, 13), (4, 23)]
    assert outcome.terminal_seq == events[-1].seq
    assert outcomes.terminal_logged_before_save == [False]


async def test_cancel_keeps_partial_text_and_ends_done_cancelled() -> None:
    """Cancel stops the backend stream and ends the turn done/cancelled with the text so far."""
    backend = ScriptedBackend()
    backend.enqueue(ScriptedReply(" ".join(f"w{i}" for i in range(500)), token_delay=0.01))
    runner, log = make_runner(backend)
    outcomes = Outcomes(log)
    await start(runner, outcomes)
    seen: list[Event] = []
    async for batch in log.read("t1"):
        seen.extend(batch)
        if len(seen) >= 3 and runner.is_running("t1"):
            assert await runner.cancel("t1")
    assert seen[-1].type == "done"
    assert seen[-1].payload["finish_reason"] == "cancelled"
    (outcome,) = outcomes.saved
    assert outcome.status == "cancelled"
    assert outcome.text == "".join(e.payload["text"] for e in seen if e.type == "delta")
    assert 3 <= len(outcome.text.split()) < 500
    assert backend.closed_streams == 1
    assert not runner.is_running("t1")


async def test_backend_failure_mid_stream_is_an_error_event_with_partial_text() -> None:
    """An upstream failure after some text ends the turn with an error event; the text is kept."""
    backend = ScriptedBackend()
    backend.enqueue(ScriptedReply("one two three four", error=UpstreamError("cut"), fail_after=2))
    runner, log = make_runner(backend)
    outcomes = Outcomes(log)
    await start(runner, outcomes)
    events = await asyncio.wait_for(read_all(log, "t1"), 5)
    assert events[-1].type == "error"
    assert events[-1].payload == {"code": "upstream_error", "message": "cut", "retryable": True}
    assert outcomes.saved[0].status == "failed"
    assert outcomes.saved[0].text == "one two"


async def test_unwatched_turn_is_cancelled_after_grace() -> None:
    """A running turn nobody watches is cancelled after the grace period."""
    backend = ScriptedBackend()
    backend.enqueue(ScriptedReply(" ".join(["word"] * 1000), token_delay=0.01))
    runner, log = make_runner(backend, grace=0.05)
    outcomes = Outcomes(log)
    await start(runner, outcomes)
    events = await asyncio.wait_for(read_all(log, "t1"), 10)
    assert events[-1].payload["finish_reason"] == "cancelled"


async def test_watched_turn_survives_and_orphan_timer_rearms_when_watchers_leave() -> None:
    """While a client watches the session the turn runs on; when it leaves, grace applies again."""
    backend = ScriptedBackend()
    backend.enqueue(ScriptedReply(" ".join(["word"] * 40), token_delay=0.01))
    runner, log = make_runner(backend, grace=0.05)
    outcomes = Outcomes(log)
    with runner.watching("s1"):
        await start(runner, outcomes)
        events = await asyncio.wait_for(read_all(log, "t1"), 10)
    assert events[-1].payload["finish_reason"] == "stop"

    backend.enqueue(ScriptedReply(" ".join(["word"] * 1000), token_delay=0.01))
    with runner.watching("s1"):
        await start(runner, outcomes, "t2")
        await asyncio.sleep(0.1)
        assert runner.is_running("t2")
    events = await asyncio.wait_for(read_all(log, "t2"), 10)
    assert events[-1].payload["finish_reason"] == "cancelled"


async def test_shutdown_interrupts_what_does_not_finish_in_time() -> None:
    """On shutdown a turn still running at the deadline ends with an `interrupted` error."""
    backend = ScriptedBackend()
    backend.enqueue(ScriptedReply(" ".join(["word"] * 1000), token_delay=0.01))
    runner, log = make_runner(backend)
    outcomes = Outcomes(log)
    await start(runner, outcomes)
    await runner.shutdown(0.05)
    events = await read_all(log, "t1")
    assert events[-1].type == "error"
    assert events[-1].payload["code"] == "interrupted"
    assert outcomes.saved[0].status == "interrupted"


async def test_failed_save_turns_into_an_error_event() -> None:
    """If the outcome cannot be saved, clients get an `internal` error rather than a false `done`."""
    backend = ScriptedBackend()
    runner, log = make_runner(backend)

    async def broken(_outcome: TurnOutcome) -> None:
        raise OSError("disk full")

    await runner.start(TurnRequest("s1", "t1", "opening", MESSAGES, GenerationParams()), broken)
    events = await asyncio.wait_for(read_all(log, "t1"), 5)
    assert events[-1].type == "error"
    assert events[-1].payload["code"] == "internal"
