"""The in-memory turn log: numbered events, live readers, resume from any seq."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from hotseat.streaming.events import Event, delta, merge_deltas
from hotseat.streaming.log import LogMissing, MemoryStreamLog


async def collect(log: MemoryStreamLog, turn_id: str, after: int = 0) -> list[Event]:
    return [event async for batch in log.read(turn_id, after) for event in batch]


async def test_seq_numbers_start_at_one_and_terminal_closes() -> None:
    """Appends get seq 1, 2, 3...; after the terminal event nothing more can be appended."""
    log = MemoryStreamLog()
    await log.create("t")
    events = [await log.append("t", "delta", {"text": w}) for w in ("a", "b")]
    done = await log.append("t", "done", {"finish_reason": "stop"})
    assert [e.seq for e in [*events, done]] == [1, 2, 3]
    with pytest.raises(LogMissing):
        await log.append("t", "delta", {"text": "late"})


async def test_reader_follows_live_and_ends_after_terminal() -> None:
    """A reader that starts before the writer sees every event, then its iteration ends."""
    log = MemoryStreamLog()
    await log.create("t")
    reader = asyncio.create_task(collect(log, "t"))
    await asyncio.sleep(0)
    for word in ("one", " two", " three"):
        await log.append("t", "delta", {"text": word})
        await asyncio.sleep(0)
    await log.append("t", "done", {"finish_reason": "stop"})
    events = await asyncio.wait_for(reader, 5)
    assert [e.type for e in events] == ["delta", "delta", "delta", "done"]
    assert "".join(e.payload["text"] for e in events if e.type == "delta") == "one two three"


async def test_resume_from_any_seq_gives_exactly_the_rest() -> None:
    """Reading after seq k yields the events k+1..end, for every k."""
    log = MemoryStreamLog()
    await log.create("t")
    for i in range(5):
        await log.append("t", "delta", {"text": str(i)})
    await log.append("t", "done", {"finish_reason": "stop"})
    for after in range(7):
        assert [e.seq for e in await collect(log, "t", after)] == list(range(after + 1, 7))


async def test_many_readers_at_their_own_pace() -> None:
    """Two readers of one turn, one slow, both get the full text."""
    log = MemoryStreamLog()
    await log.create("t")

    async def slow() -> str:
        text = ""
        async for batch in log.read("t"):
            await asyncio.sleep(0.01)
            text += "".join(e.payload.get("text", "") for e in batch)
        return text

    readers = [asyncio.create_task(slow()), asyncio.create_task(collect(log, "t"))]
    await asyncio.sleep(0)
    for i in range(50):
        await log.append("t", "delta", {"text": f"{i},"})
    await log.append("t", "done", {"finish_reason": "stop"})
    slow_text, fast_events = await asyncio.wait_for(asyncio.gather(*readers), 5)
    expected = "".join(f"{i}," for i in range(50))
    assert slow_text == expected
    assert "".join(e.payload.get("text", "") for e in fast_events) == expected


async def test_missing_and_dropped_logs() -> None:
    """Reading a turn that has no log raises LogMissing; so does one dropped after retention."""
    log = MemoryStreamLog(retention_seconds=0)
    with pytest.raises(LogMissing):
        await collect(log, "nope")
    await log.create("t")
    await log.append("t", "done", {"finish_reason": "stop"})
    await asyncio.sleep(0.01)
    with pytest.raises(LogMissing):
        await collect(log, "t")


def test_merge_deltas_keeps_order_and_last_seq() -> None:
    """Consecutive deltas merge into one carrying the last seq; other events stay in place."""
    events = [
        Event("t", 1, "queued", {"position": 1}),
        delta("t", 2, "a"),
        delta("t", 3, "b"),
        delta("t", 4, "c"),
        Event("t", 5, "done", {"finish_reason": "stop"}),
    ]
    merged = list(merge_deltas(events))
    assert [(e.type, e.seq) for e in merged] == [("queued", 1), ("delta", 4), ("done", 5)]
    assert merged[1].payload["text"] == "abc"
    single = delta("t", 7, "x")
    assert next(merge_deltas([single])) is single


def test_event_encodings_are_built_once() -> None:
    """The JSON and SSE encodings of an event are cached; a delta's carry no turn id."""
    event = delta("t", 3, 'say "hi"\n')
    assert event.json is event.json
    assert event.sse is event.sse
    assert event.json == '{"type":"delta","seq":3,"text":"say \\"hi\\"\\n"}'
    assert event.sse == b'id: 3\nevent: delta\ndata: {"text":"say \\"hi\\"\\n"}\n\n'
    done = Event("t", 4, "done", {"finish_reason": "stop"})
    assert done.sse == f"id: 4\nevent: done\ndata: {done.json}\n\n".encode()
    assert orjson.loads(done.json) == {"type": "done", "turn_id": "t", "seq": 4, "finish_reason": "stop"}
