"""The runner with other replicas behind its ``Peers``: remote watchers, remote cancel, leases,
and a shared log that fails (the Redis parts themselves are tested in tests/scale)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hotseat.errors import Unavailable
from hotseat.llm.base import ChatMessage, GenerationParams
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.streaming.bus import MemorySessionBus
from hotseat.streaming.events import Event, EventType
from hotseat.streaming.log import MemoryStreamLog
from hotseat.streaming.runner import TurnOutcome, TurnRequest, TurnRunner

LONG = ScriptedReply(" ".join(["word"] * 1000), token_delay=0.01)


class FakePeers:
    """Peers that record what the runner tells them and answer as the test says."""

    def __init__(self) -> None:
        self.watched_remotely = False
        self.remote_cancels: list[str] = []
        self.leases: list[str] = []
        self.ended: list[str] = []
        self.watching: list[str] = []

    async def turn_started(self, turn_id: str) -> None:
        self.leases.append(turn_id)

    async def turn_ended(self, turn_id: str) -> None:
        self.ended.append(turn_id)

    async def assessment_started(self, assessment_id: str) -> None:
        self.leases.append(assessment_id)

    async def assessment_ended(self, assessment_id: str) -> None:
        self.ended.append(assessment_id)

    async def cancel_remote(self, turn_id: str) -> bool:
        self.remote_cancels.append(turn_id)
        return True

    def watch(self, session_id: str) -> None:
        self.watching.append(session_id)

    def unwatch(self, session_id: str) -> None:
        self.watching.remove(session_id)

    async def watched_elsewhere(self, session_id: str) -> bool:
        return self.watched_remotely


class BrokenLog(MemoryStreamLog):
    """A shared log whose store went away: creating or ending a log fails as Redis would."""

    def __init__(self, *, create_fails: bool = False, end_fails: bool = False) -> None:
        super().__init__()
        self.create_fails, self.end_fails = create_fails, end_fails

    async def create(self, turn_id: str) -> None:
        if self.create_fails:
            raise Unavailable("Redis is down.")
        await super().create(turn_id)

    async def append(self, turn_id: str, type: EventType, payload: dict[str, Any]) -> Event:
        if self.end_fails and type in ("done", "error"):
            raise Unavailable("Redis is down.")
        return await super().append(turn_id, type, payload)


def request(turn_id: str = "t1") -> TurnRequest:
    return TurnRequest("s1", turn_id, "opening", [ChatMessage("user", "hi")], GenerationParams())


async def ignore(_outcome: TurnOutcome) -> None:
    return None


async def test_orphan_timer_spares_a_turn_watched_on_another_replica() -> None:
    """While a peer reports a watcher, the orphan timer re-arms; once none is left, it cancels."""
    backend, peers = ScriptedBackend(), FakePeers()
    backend.enqueue(LONG)
    log = MemoryStreamLog()
    runner = TurnRunner(backend, log, MemorySessionBus(), orphan_grace_seconds=0.05, peers=peers)
    peers.watched_remotely = True
    await runner.start(request(), ignore)
    await asyncio.sleep(0.3)  # several grace periods
    assert runner.is_running("t1")
    peers.watched_remotely = False
    await asyncio.wait_for(runner.wait("t1"), 10)
    events = [e async for batch in log.read("t1") for e in batch]
    assert events[-1].payload["finish_reason"] == "cancelled"


async def test_cancel_of_a_turn_not_running_here_goes_to_the_peers_and_leases_follow_turns() -> None:
    """A turn not running here is cancelled through the peers; each turn holds a lease until it ends."""
    backend, peers = ScriptedBackend(), FakePeers()
    runner = TurnRunner(backend, MemoryStreamLog(), MemorySessionBus(), peers=peers)
    assert await runner.cancel("elsewhere")
    assert not await runner.cancel_local("elsewhere")
    assert peers.remote_cancels == ["elsewhere"]
    await runner.start(request(), ignore)
    assert peers.leases == ["t1"]
    await asyncio.wait_for(runner.wait("t1"), 5)
    await asyncio.sleep(0)
    assert peers.ended == ["t1"]
    with runner.watching("s1"), runner.watching("s1"):
        assert peers.watching == ["s1"]  # told once, for the first watcher here
    assert peers.watching == []


async def test_a_log_that_cannot_be_created_stores_the_turn_failed() -> None:
    """The shared log being down at start: the turn is stored failed, and the caller gets `unavailable`."""
    saved: list[TurnOutcome] = []

    async def save(outcome: TurnOutcome) -> None:
        saved.append(outcome)

    runner = TurnRunner(ScriptedBackend(), BrokenLog(create_fails=True), MemorySessionBus())
    with pytest.raises(Unavailable):
        await runner.start(request(), save)
    assert [(o.status, o.error.code if o.error else None) for o in saved] == [("failed", "unavailable")]
    assert not runner.is_running("t1")


async def test_a_terminal_event_that_cannot_be_logged_still_ends_the_turn() -> None:
    """If the shared log fails at the end, the outcome is stored and the turn is over all the same."""
    saved: list[TurnOutcome] = []

    async def save(outcome: TurnOutcome) -> None:
        saved.append(outcome)

    runner = TurnRunner(ScriptedBackend(), BrokenLog(end_fails=True), MemorySessionBus())
    await runner.start(request(), save)
    await asyncio.wait_for(runner.wait("t1"), 5)
    assert not runner.is_running("t1") and runner.running_count() == 0
    assert saved[0].status == "complete"


class SlowPeers(FakePeers):
    """Peers whose answer to "is the session watched elsewhere?" never comes (Redis hanging)."""

    async def watched_elsewhere(self, session_id: str) -> bool:
        await asyncio.Event().wait()
        return False


async def test_a_pending_orphan_check_is_held_and_ended_at_shutdown() -> None:
    """The task a fired orphan timer starts is the runner's: shutdown cancels it, none is left behind."""
    backend = ScriptedBackend()
    backend.enqueue(ScriptedReply(" ".join(["word"] * 1000), token_delay=0.01))
    runner = TurnRunner(
        backend, MemoryStreamLog(), MemorySessionBus(), orphan_grace_seconds=0.05, peers=SlowPeers()
    )
    await runner.start(request(), ignore)
    await asyncio.sleep(0.2)  # the timer fired; its check waits on the peers
    checks = [task for task in asyncio.all_tasks() if task.get_name() == "orphan-check:t1"]
    assert len(checks) == 1 and not checks[0].done()
    assert runner.is_running("t1"), "the check has not decided yet"
    await asyncio.wait_for(runner.shutdown(0.05), 5)
    assert checks[0].cancelled()
    assert not runner.is_running("t1")
