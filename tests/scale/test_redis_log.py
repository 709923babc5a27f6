"""The turn log on Redis Streams behaves as the in-memory one, and fences out a writer presumed dead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

import datastores
from hotseat.errors import Unavailable
from hotseat.store.repo import new_id
from hotseat.streaming import redis_follower
from hotseat.streaming.events import Event
from hotseat.streaming.log import LogMissing
from hotseat.streaming.redis_client import POOL_SIZE, connect, log_key
from hotseat.streaming.redis_log import RedisStreamLog
from hotseat.streaming.sweeper import outcome_from_log


@pytest.fixture
async def redis(stores: datastores.Stores) -> AsyncIterator[Redis]:
    client = connect(stores.redis.url)
    yield client
    await client.aclose()


async def until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait until ``condition`` holds (polled; bounded, so a loaded machine only makes it slower)."""
    async with asyncio.timeout(limit):
        # Polled: the states it waits for (readers registered, connections returned) signal nothing.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def collect(log: RedisStreamLog, turn_id: str, after: int = 0) -> list[Event]:
    return [event async for batch in log.read(turn_id, after) for event in batch]


async def test_seqs_live_readers_and_resume_from_any_seq(redis: Redis) -> None:
    """Seqs 1, 2, 3...; a live reader gets every event; reading after k gives exactly k+1..end."""
    log, turn = RedisStreamLog(redis), new_id()
    await log.create(turn)
    reader = asyncio.create_task(collect(log, turn))
    for i in range(5):
        await log.append(turn, "delta", {"text": f"w{i} "})
    done = await log.append(turn, "done", {"finish_reason": "stop"})
    events = await asyncio.wait_for(reader, 10)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6] and done.seq == 6
    assert "".join(e.payload["text"] for e in events[:-1]) == "w0 w1 w2 w3 w4 "
    assert events[-1].payload == {"finish_reason": "stop"}
    assert events[0].json == '{"type":"delta","seq":1,"text":"w0 "}'
    for after in range(7):
        assert [e.seq for e in await collect(log, turn, after)] == list(range(after + 1, 7))


async def test_one_xread_per_batch_for_a_reader_that_fell_behind(redis: Redis) -> None:
    """A reader that starts late gets everything logged so far in one batch."""
    log, turn = RedisStreamLog(redis), new_id()
    await log.create(turn)
    for i in range(200):
        await log.append(turn, "delta", {"text": str(i)})
    await log.append(turn, "done", {"finish_reason": "stop"})
    batches = [batch async for batch in log.read(turn)]
    assert [len(batch) for batch in batches] == [201]


async def test_terminal_closes_the_log_and_sets_its_ttl(stores: datastores.Stores, redis: Redis) -> None:
    """Nothing is appended after the terminal event, which gives the stream the retention TTL."""
    log, turn = RedisStreamLog(redis, retention_seconds=60), new_id()
    await log.create(turn)
    assert await redis.ttl(log_key(turn)) > 3600  # an unfinished log lingers (its writer may be alive)
    await log.append(turn, "delta", {"text": "a"})
    await log.append(turn, "error", {"code": "internal", "message": "x"})
    assert 0 < await redis.ttl(log_key(turn)) <= 60
    with pytest.raises(LogMissing):
        await log.append(turn, "delta", {"text": "late"})


async def test_missing_log_and_a_log_lost_mid_turn(redis: Redis) -> None:
    """No stream: readers get LogMissing; a writer whose stream vanished (Redis restart) gets Unavailable."""
    log, turn = RedisStreamLog(redis), new_id()
    with pytest.raises(LogMissing):
        await collect(log, turn)
    await log.create(turn)
    await log.append(turn, "delta", {"text": "a"})
    await redis.delete(log_key(turn))
    with pytest.raises(Unavailable):
        await log.append(turn, "delta", {"text": "b"})


async def test_a_retried_append_is_not_duplicated(redis: Redis) -> None:
    """An append that reached Redis and is sent again (the client's retry) leaves one entry."""
    log, turn = RedisStreamLog(redis), new_id()
    await log.create(turn)
    event = await log.append(turn, "delta", {"text": "once"})
    await log._write(event)  # what the connection's retry would send again
    await log.append(turn, "done", {"finish_reason": "stop"})
    assert [e.seq for e in await collect(log, turn)] == [1, 2]


async def test_a_sweeper_fences_out_a_writer_presumed_dead(redis: Redis) -> None:
    """Once another replica closed the log, the original writer can append nothing more."""
    writer, sweeper, turn = RedisStreamLog(redis), RedisStreamLog(redis), new_id()
    await writer.create(turn)
    await writer.append(turn, "delta", {"text": "Half a sen"})
    events = await sweeper.events(turn)
    assert events is not None
    outcome = outcome_from_log(turn, events)
    assert (outcome.status, outcome.text, outcome.terminal_seq) == ("interrupted", "Half a sen", 2)
    assert outcome.error is not None
    assert await sweeper.close_abandoned(turn, 2, "error", outcome.error.to_dict())
    assert not await sweeper.close_abandoned(turn, 2, "error", {"code": "internal", "message": "again"})
    with pytest.raises(LogMissing):
        await writer.append(turn, "delta", {"text": "tence"})
    assert [e.type for e in await collect(writer, turn)] == ["delta", "error"]


async def test_hundreds_of_live_readers_share_one_blocking_read(redis: Redis) -> None:
    """300 readers waiting on 150 live logs at once (two per log, from different seqs) all get
    every event, over a handful of connections: before, each waiting reader held its own
    connection, and a burst past redis-py's default pool of 100 failed with "Too many connections"."""
    log = RedisStreamLog(redis)
    turns = [new_id() for _ in range(150)]
    for turn in turns:
        await log.create(turn)
        await log.append(turn, "delta", {"text": "a"})
    early = [asyncio.create_task(collect(log, turn, 0)) for turn in turns]
    late = [asyncio.create_task(collect(log, turn, 1)) for turn in turns]
    pool = redis.connection_pool
    await until(lambda: log._follower.readers == 300)  # every reader now waits on the follower
    await until(lambda: len(pool._in_use_connections) <= 2)  # type: ignore[attr-defined]
    for turn in turns:
        await log.append(turn, "delta", {"text": "b"})
        await log.append(turn, "done", {"finish_reason": "stop"})
    for readers, first in ((early, 1), (late, 2)):
        for events in await asyncio.wait_for(asyncio.gather(*readers), 30):
            assert [e.seq for e in events] == list(range(first, 4))
    opened = len(pool._available_connections) + len(pool._in_use_connections)  # type: ignore[attr-defined]
    assert opened <= POOL_SIZE


async def test_a_reader_from_an_earlier_seq_joins_a_followed_log(redis: Redis) -> None:
    """A second reader of a log already followed, starting from an earlier seq, gets everything it
    lacks; the first gets nothing twice."""
    log, turn = RedisStreamLog(redis), new_id()
    await log.create(turn)
    for text in ("a", "b", "c"):
        await log.append(turn, "delta", {"text": text})
    ahead = asyncio.create_task(collect(log, turn, 3))
    await until(lambda: log._follower.readers == 1)
    behind = asyncio.create_task(collect(log, turn, 1))
    await until(lambda: log._follower.readers == 2)
    await log.append(turn, "done", {"finish_reason": "stop"})
    assert [e.seq for e in await asyncio.wait_for(ahead, 10)] == [4]
    assert [e.seq for e in await asyncio.wait_for(behind, 10)] == [2, 3, 4]


async def test_readers_of_a_log_that_vanishes_while_quiet_end_with_log_missing(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A followed log deleted while nothing is written (retention, or a restart) ends its readers."""
    monkeypatch.setattr(redis_follower, "BLOCK_SECONDS", 0.3)
    log, turn = RedisStreamLog(redis), new_id()
    await log.create(turn)
    await log.append(turn, "delta", {"text": "a"})
    reader = asyncio.create_task(collect(log, turn, 1))
    await until(lambda: log._follower.readers == 1)  # past its first read: following
    await redis.delete(log_key(turn))
    with pytest.raises(LogMissing):
        await asyncio.wait_for(reader, 10)


async def test_the_end_goes_right_after_what_the_log_holds(redis: Redis) -> None:
    """A delta whose write failed may or may not have reached Redis, so the writer's count may be
    off either way: the terminal event still lands, right after the last entry, and readers are
    not left waiting for it."""
    log, behind, ahead = RedisStreamLog(redis), new_id(), new_id()
    for turn in (behind, ahead):
        await log.create(turn)
        await log.append(turn, "delta", {"text": "a"})
    await log._write(Event(behind, 2, "delta", {"text": "b"}))  # landed, but the writer counts 2 next
    log._next[ahead] += 1  # counted, but never landed
    for turn in (behind, ahead):
        await log.append(turn, "done", {"finish_reason": "stop"})
    assert [(e.seq, e.type) for e in await collect(log, behind)] == [(1, "delta"), (2, "delta"), (3, "done")]
    assert [(e.seq, e.type) for e in await collect(log, ahead)] == [(1, "delta"), (2, "done")]


async def test_appends_from_many_turns_at_once_share_pipelines(redis: Redis) -> None:
    """200 turns appending together: every event lands in order with its own seq."""
    log = RedisStreamLog(redis)
    turns = [new_id() for _ in range(200)]
    for turn in turns:
        await log.create(turn)

    async def write(turn: str) -> None:
        for i in range(5):
            await log.append(turn, "delta", {"text": str(i)})
        await log.append(turn, "done", {"finish_reason": "stop"})

    await asyncio.gather(*(write(turn) for turn in turns))
    for turn in turns[::37]:
        events = await collect(log, turn)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        assert [e.payload.get("text") for e in events[:5]] == ["0", "1", "2", "3", "4"]
