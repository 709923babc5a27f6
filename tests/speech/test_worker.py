"""Model calls run off the event loop, and a full queue answers busy at once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hotseat.errors import Busy
from hotseat.speech.worker import BoundedWorker


async def test_full_queue_is_busy_and_frees_up() -> None:
    """With one thread and one queued call, a third call is refused with busy; later ones are served."""
    worker = BoundedWorker("test", "The test model", queue_limit=1)
    release = threading.Event()
    loop_thread = threading.get_ident()
    try:
        running = asyncio.ensure_future(worker.run(lambda: release.wait(5) and threading.get_ident()))
        queued = asyncio.ensure_future(worker.run(lambda: 2))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match="The test model is busy") as refused:
            await worker.run(lambda: 3)
        assert refused.value.retry_after is not None
        release.set()
        assert await running != loop_thread
        assert await queued == 2
        assert await worker.run(lambda: 4) == 4
    finally:
        release.set()
        worker.close()


async def test_a_cancelled_caller_frees_its_slot_when_the_call_ends() -> None:
    """Cancelling the caller of a running call keeps its slot until the thread is done with it."""
    worker = BoundedWorker("test", "The test model", queue_limit=0)
    release = threading.Event()
    try:
        caller = asyncio.ensure_future(worker.run(lambda: release.wait(5)))
        await asyncio.sleep(0.05)
        caller.cancel()
        with pytest.raises(Busy):
            await worker.run(lambda: 1)
        release.set()
        for _ in range(100):
            if worker.slots.taken == 0:
                break
            await asyncio.sleep(0.01)
        assert await worker.run(lambda: 5) == 5
    finally:
        release.set()
        worker.close()
