"""Where hotseat's CPU goes per delivered token, under a scenario's load (S1 by default).

Starts the mock upstream and hotseat exactly as ``bench.run`` does, warms
hotseat up, attaches ``py-spy record`` (``pip install py-spy``; every thread,
``--rate`` Hz, pausing the process for each sample so stacks are whole) for
the length of the load, runs the load with one transport, then sorts every
sample's stack into one category: the first rule below that matches any frame
of the stack wins, so nested costs are charged to the most specific thing that
caused them (the HTTP client read inside the SDK's SSE decoder is "HTTP read",
not "SSE decoding"). Shares are of the event-loop thread's samples; multiplied
by that thread's CPU per token (read from /proc/PID/task, ``bench.procstat``)
they give microseconds per token. Other threads (aiosqlite's SQLite workers,
the default executor) are reported from /proc only: py-spy counts them as busy
while they merely wait for the GIL, which /proc shows is not CPU.

    .venv/bin/python -m bench.profile_hotseat [--scenario S1] [--transport ws|sse] [--keep DIR]
        [--clients N] [--hotseat-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench import loadgen, pageflow, procstat, servers
from bench.run import SCENARIOS, _run_async

# (category, substrings of "path:function" frames); first match in this order wins.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "SDK: ChatCompletionChunk model construction",
        ("openai/_base_client.py:BaseClient._process_response_data",),
    ),
    ("SDK: HTTP body read (httpx2 over aiohttp or httpcore2)", ("httpx2/_models.py:Response.aiter_bytes",)),
    ("SDK: SSE decoding + JSON parse", ("openai/_streaming.py:",)),
    ("SDK: request set-up, connect, headers", ("openai/resources/chat/completions/completions.py:",)),
    # Before the runner's rule: the judge streams from the model through the same backend.
    ("assessment: the model judge", ("hotseat/interview/analysis/judge.py:", "_record_judgement")),
    ("turn log append + wake readers", ("hotseat/streaming/log.py:MemoryStreamLog.append",)),
    (
        "runner loop (per delta, rest)",
        ("hotseat/streaming/runner.py:TurnRunner._run", "hotseat/llm/openai.py:"),
    ),
    ("WS: deflate compression", ("websockets/extensions/permessage_deflate.py:",)),
    ("WS: send (starlette/uvicorn framing, lock)", ("hotseat/api/ws.py:_Connection._send",)),
    ("WS: log read, merge, JSON encode", ("hotseat/api/ws.py:_Connection._send_turn",)),
    ("WS: connect, session lookup, receive loop", ("hotseat/api/ws.py:", "websockets_sansio_impl.py:")),
    ("SSE: EventStream send (pings, disconnect, watchdog)", ("hotseat/api/event_stream.py:",)),
    ("SSE: log read, merge, encode", ("hotseat/api/sse.py:",)),
    # The answer path (A0-A5): the background assessment, the matcher and plan, the store's queries.
    ("answer: matcher and plan", ("hotseat/interview/analysis/", "hotseat/interview/plan.py:")),
    ("store: queries (event-loop side)", ("hotseat/store/",)),
    ("HTTP API: create session / answer (DB, prompts)", ("hotseat/api/http.py:", "hotseat/interview/")),
    ("SQLAlchemy (event-loop side)", ("sqlalchemy/",)),
    ("HTTP server (uvicorn/starlette/fastapi)", ("uvicorn/protocols/http/", "starlette/", "fastapi/")),
    # Stacks that start below the code that caused them (callbacks run by the loop): by the inner frames.
    ("SDK: ChatCompletionChunk model construction", ("openai/_models.py:",)),
    (
        "SDK: HTTP body read (httpx2 over aiohttp or httpcore2)",
        ("httpcore2/", "h11/", "httpx2/", "anyio/", "aiohttp/", "httpx_aiohttp/"),
    ),
    ("SDK: SSE decoding + JSON parse", ("json/decoder.py:",)),
    ("event loop (uvloop, callbacks, timers)", ("asyncio/runners.py:Runner.run",)),
)
# Leaf frames of a thread that is waiting, not running.
IDLE_LEAVES = frozenset(
    {"threading.py:Condition.wait", "queue.py:Queue.get", "threading.py:Thread._wait_for_tstate_lock"}
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?):\d+\)$")


def frame_key(frame: str) -> str:
    match = _FRAME.match(frame)
    return f"{match['path']}:{match['func']}" if match else frame


def classify(stack: list[str]) -> str:
    keys = [frame_key(f) for f in stack]
    for category, needles in RULES:
        if any(needle in key for key in keys for needle in needles):
            return category
    return "other"


def categories(raw: Path) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """(samples per category, self samples per leaf frame, total) of the event-loop thread.

    Reads py-spy's raw (collapsed) output. Only the main thread's stacks count (they start at
    ``_run_module_as_main``): py-spy also samples worker threads that merely wait (for work, or for
    the GIL after SQLite returns), which /proc shows cost little, so other threads are measured
    from /proc instead of sampled.
    """
    per_category: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if not frames[0].startswith("_run_module_as_main"):
            continue
        total += count
        per_category[classify(frames)] += count
        leaves[frame_key(frames[-1])] += count
    return per_category, leaves, total


async def _profile(
    server: servers.Server, spec: loadgen.LoadSpec, out: Path, rate: int, duration: int
) -> tuple[loadgen.LoadResult, float, float]:
    """Warm up, attach py-spy, run the load, stop py-spy (SIGINT makes it write its output)."""
    await loadgen.warm_up("hotseat", spec.transport, server.url, spec.tokens, spec.ws_compression)
    await asyncio.sleep(0.5)
    argv = [
        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid), "--rate", str(rate),
        "--format", "raw", "--duration", str(duration), "-o", str(out),
    ]  # fmt: skip
    spy = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await asyncio.sleep(0.5)
    threads0 = procstat.thread_cpu_seconds(server.pid)
    result = await loadgen.run_load(spec)
    threads1 = procstat.thread_cpu_seconds(server.pid)
    loop_cpu = threads1.get(server.pid, 0.0) - threads0.get(server.pid, 0.0)
    other_cpu = sum(v - threads0.get(tid, 0.0) for tid, v in threads1.items() if tid != server.pid)
    if spy.returncode is None:
        spy.send_signal(signal.SIGINT)
    await asyncio.wait_for(spy.wait(), 60)
    return result, loop_cpu, other_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_hotseat", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--scenario", default="S1", choices=[n for n, s in SCENARIOS.items() if not s.idle])
    parser.add_argument("--transport", choices=("ws", "sse"), default="ws")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--clients", type=int, help="override the scenario's client count")
    parser.add_argument("--keep", type=Path, help="keep the raw py-spy output and logs here")
    parser.add_argument("--hotseat-src", type=Path, help="as for bench.run: another copy of the package")
    args = parser.parse_args(argv)
    if args.hotseat_src is not None:
        servers.hotseat_src = args.hotseat_src.resolve()
    sc = SCENARIOS[args.scenario]
    work = args.keep or Path(tempfile.mkdtemp(prefix="hotseat-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    raw = work / f"pyspy-{args.scenario}-{args.transport}.txt"
    mock = servers.start_mock(sc.tokens, sc.delay_ms, 0, work)
    try:
        server = servers.start_hotseat(mock, sc.tokens, work)
        try:
            spec = loadgen.LoadSpec(
                "hotseat", args.transport, server.url, args.clients or sc.clients, sc.tokens,
                sc.turns, sc.ramp, sc.timeout(), think=sc.think, answer_ttft=sc.answers,
                client=pageflow.CLIENTS[args.transport] if sc.answers else None,
            )  # fmt: skip
            duration = int(sc.timeout()) + 10  # a bound only: py-spy is stopped when the load ends
            result, loop_cpu, other_cpu = _run_async(lambda: _profile(server, spec, raw, args.rate, duration))
        finally:
            server.stop()
    finally:
        mock.stop()
    print(loadgen.summary(result))
    cpu = loop_cpu + other_cpu
    tokens = max(result.tokens, 1)
    per_token_us = loop_cpu / tokens * 1e6
    print(
        f"server CPU {cpu:.2f} s for {result.tokens} tokens = {cpu / tokens * 1e6:.0f} us/token: "
        f"event-loop thread {loop_cpu:.2f} s ({per_token_us:.0f} us/token), "
        f"other threads {other_cpu:.2f} s ({other_cpu / tokens * 1e6:.0f} us/token)"
    )
    per_category, leaves, total = categories(raw)
    print(f"\nevent-loop thread, {total} samples\n{'category':<50} {'share':>6} {'us/token':>9}")
    for category, count in per_category.most_common():
        share = count / total
        print(f"{category:<50} {share:6.1%} {share * per_token_us:9.1f}")
    print("\nhottest leaf frames (self time)")
    for key, count in leaves.most_common(15):
        print(f"  {count / total:6.1%}  {key}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\nraw samples: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
