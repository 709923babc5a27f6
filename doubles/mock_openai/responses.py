"""The mock's answer to one chat request: streamed or whole, paced, and ended as scripted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from doubles.mock_openai.behaviours import (
    Cut,
    Hang,
    Malformed,
    Outcome,
    Reply,
    RequestRecord,
    generated_encoded,
    generated_tokens,
)
from doubles.mock_openai.http1 import Connection, close_writer, forever, json_response, response_head
from doubles.mock_openai.openai_shapes import (
    MALFORMED_EVENT,
    TERMINATOR,
    Ending,
    Plan,
    StreamFrames,
    completion,
    count_prompt_tokens,
    requested_max_tokens,
)


def plan_reply(
    body: dict[str, Any], behaviour: Reply | Hang | Cut | Malformed, *, honour_max_tokens: bool
) -> Plan:
    """The tokens, pacing and ending of the reply ``behaviour`` gives to the request ``body``."""
    if isinstance(behaviour, Reply):
        words, encoded = behaviour.resolved_tokens, behaviour.encoded_tokens
        finish_reason = behaviour.finish_reason
        limit = requested_max_tokens(body) if honour_max_tokens else None
        if limit is not None and limit < len(words):
            words, encoded, finish_reason = words[:limit], encoded[:limit], "length"
        return Plan(
            words, encoded, behaviour.ttft, behaviour.delay, "finish", finish_reason, behaviour.end_pause
        )
    ending: Ending
    if isinstance(behaviour, Hang):
        ending = "hang"
    elif isinstance(behaviour, Cut):
        ending = "cut"
    else:
        ending = "malformed"
    count = max(0, behaviour.after_tokens)
    return Plan(generated_tokens(count), generated_encoded(count), 0.0, behaviour.delay, ending, "stop")


async def guarded(conn: Connection, work: Coroutine[Any, Any, Outcome]) -> Outcome:
    """Run ``work`` while watching the socket; a client hang-up cancels it."""
    work_task = asyncio.create_task(work)
    watch_task = asyncio.create_task(conn.watch_eof())
    try:
        await asyncio.wait((work_task, watch_task), return_when=asyncio.FIRST_COMPLETED)
        if not work_task.done():
            if not conn.closing:
                work_task.cancel()
            # Cancelled or not, wait for it: it may be mid-write, and a Cut's own EOF
            # must let the Cut finish and report itself.
            await asyncio.wait((work_task,))
        if work_task.cancelled():
            return "client_closed"
        exc = work_task.exception()
        if exc is None:
            return work_task.result()
        if isinstance(exc, ConnectionError):
            return "client_closed"
        raise exc
    finally:
        for task in (work_task, watch_task):
            task.cancel()
        await asyncio.wait((work_task, watch_task))
        if not watch_task.cancelled():
            watch_task.exception()  # mark retrieved; the watcher swallows socket errors


async def send_tokens(
    conn: Connection, plan: Plan, frames: StreamFrames, sent: Callable[[int], None]
) -> None:
    """Write the plan's tokens at its pace, counting each as sent once it is written."""
    writer = conn.writer
    if plan.delay <= 0:
        if plan.encoded:
            writer.write(b"".join([frames.token(t) for t in plan.encoded]))
            await writer.drain()
            sent(len(plan.encoded))
        return
    for i, encoded in enumerate(plan.encoded):
        if i:
            await asyncio.sleep(plan.delay)
        writer.write(frames.token(encoded))
        await writer.drain()
        sent(1)


async def cut(conn: Connection) -> Outcome:
    """Close the connection mid-body, as a :class:`Cut` asks."""
    conn.closing = True
    # A graceful close still flushes what was written, so the client reliably gets the
    # promised tokens and then an EOF in the middle of the body.
    await close_writer(conn.writer, abort=False)
    return "cut"


async def stream(
    conn: Connection,
    record: RequestRecord,
    body: dict[str, Any],
    plan: Plan,
    keep_alive: bool,
    *,
    model: str,
    sent: Callable[[int], None],
) -> Outcome:
    """Stream the planned reply as OpenAI's SSE chunks."""
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    asked = body.get("model")
    frames = StreamFrames(
        f"chatcmpl-mock{record.index}",
        int(time.time()),
        asked if isinstance(asked, str) else model,
        include_usage,
    )
    head = response_head(
        200,
        [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("transfer-encoding", "chunked"),
            ("cache-control", "no-cache"),
        ],
        keep_alive=keep_alive,
    )
    record.status = 200
    # Headers go out at once, as real servers do; ttft delays the first token only.
    conn.writer.write(head + frames.role())
    await conn.writer.drain()
    if plan.ttft > 0:
        await asyncio.sleep(plan.ttft)
    await send_tokens(conn, plan, frames, sent)
    if plan.ending == "hang":
        await forever()
    if plan.ending == "cut":
        return await cut(conn)
    if plan.ending == "malformed":
        conn.writer.write(MALFORMED_EVENT)
    pause = plan.end_pause
    conn.writer.write(
        frames.ending(plan.finish_reason, count_prompt_tokens(body), len(plan.encoded), terminate=not pause)
    )
    await conn.writer.drain()
    if pause:
        await asyncio.sleep(pause)
        conn.writer.write(TERMINATOR)
        await conn.writer.drain()
    return "completed"


async def complete(
    conn: Connection,
    record: RequestRecord,
    body: dict[str, Any],
    plan: Plan,
    keep_alive: bool,
    *,
    model: str,
    sent: Callable[[int], None],
) -> Outcome:
    """Answer with the planned reply as one JSON body, once it would have been generated."""
    if plan.ending == "hang":
        await forever()
    # A non-streaming server answers only when generation is done.
    pause = plan.ttft + plan.delay * max(0, len(plan.words) - 1)
    if pause > 0:
        await asyncio.sleep(pause)
    if plan.ending == "malformed":
        headers = [("content-type", "application/json"), ("content-length", "9")]
        conn.writer.write(response_head(200, headers, keep_alive=keep_alive) + b"{not json")
        record.status = 200
        await conn.writer.drain()
        return "completed"
    asked = body.get("model")
    name = asked if isinstance(asked, str) else model
    payload = completion(f"chatcmpl-mock{record.index}", name, plan, count_prompt_tokens(body))
    response = json_response(200, payload, keep_alive=keep_alive)
    record.status = 200
    if plan.ending == "cut":
        # Headers promise the full length; half the body then EOF is an incomplete message.
        conn.writer.write(response[: len(response) - len(response) // 4])
        await conn.writer.drain()
        return await cut(conn)
    conn.writer.write(response)
    await conn.writer.drain()
    sent(len(plan.words))
    return "completed"
