"""Per-stage wall times of the answer path inside a hotseat server (``bench.answer_stages``).

Loaded by Python at start-up when this directory is on ``PYTHONPATH`` and ``BENCH_STAGES``
names an output file: it wraps the answer path's steps with timers and, at exit, writes each
step's count and percentiles as JSON. A diagnostic only: it changes nothing the steps do.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

_TIMES: dict[str, list[float]] = {}
_OUT = os.environ.get("BENCH_STAGES", "")
_written = [0.0]  # when the file was last written


def _record(name: str, seconds: float) -> None:
    _TIMES.setdefault(name, []).append(seconds)
    # Written every 2 s as well as at exit: a server stopped by a signal may skip atexit.
    now = time.monotonic()
    if now - _written[0] > 2.0:
        _written[0] = now
        _write(_OUT)


def _timed(owner: Any, attribute: str, name: str) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            _record(name, time.perf_counter() - started)

    setattr(owner, attribute, wrapper)


def _timed_sync(owner: Any, attribute: str, name: str) -> None:
    original: Callable[..., Any] = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _record(name, time.perf_counter() - started)

    setattr(owner, attribute, wrapper)


def _first_item(owner: Any, attribute: str, name: str) -> None:
    """An async generator method: the time to its first item."""
    original = getattr(owner, attribute)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        first = True
        async for item in original(*args, **kwargs):
            if first:
                _record(name, time.perf_counter() - started)
                first = False
            yield item

    setattr(owner, attribute, wrapper)


def _at(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _write(path: str) -> None:
    if not _TIMES:
        return
    summary = {}
    for name, values in _TIMES.items():
        ordered = sorted(values)
        summary[name] = {
            "count": len(ordered),
            "p50_ms": _at(ordered, 0.5),
            "p99_ms": _at(ordered, 0.99),
            "max_ms": ordered[-1] * 1000,
        }
    with open(f"{path}.{os.getpid()}.json", "w") as out:
        json.dump(summary, out, indent=1)


def _install(path: str) -> None:
    try:
        from hotseat.interview import service
        from hotseat.interview.analysis import matcher
        from hotseat.llm import openai
        from hotseat.store import repo
        from hotseat.streaming import runner
    except ImportError:
        return
    _timed(service.InterviewService, "answer", "answer: the whole move (service.answer)")
    _timed(service.InterviewService, "transcript", "answer: transcript read")
    _timed(service.InterviewService, "_known", "answer: history and CV")
    _timed_sync(matcher, "analyse", "answer: matcher")
    _timed(repo.Store, "add_turns", "answer: add_turns write")
    _timed(runner.TurnRunner, "start", "answer: runner.start")
    _timed(repo.Store, "get_session", "store: get_session")
    _timed(repo.Store, "list_turns", "store: list_turns")
    _timed(repo.Store, "finish_turn", "store: finish_turn")
    _timed(repo.Store, "finish_assessment", "store: finish_assessment")
    _timed(repo.Store, "get_session_and_turn", "store: get_session_and_turn")
    if hasattr(repo.Store, "get_session_with_turns"):
        _timed(repo.Store, "get_session_with_turns", "store: get_session_with_turns")
    _first_item(openai.OpenAIBackend, "stream", "model: request to first token")
    _timed(openai.OpenAIBackend, "_open", "model: request to response head")
    _answer_timeline(service, runner)
    atexit.register(_write, path)


def _answer_timeline(service: Any, runner: Any) -> None:
    """From an answer's arrival (``service.answer`` called) to its turn's task first running and to
    its first delta logged; and, for every turn, how long its task waits to run after
    ``create_task``: under a saturated event loop, each step that waits for the loop waits about
    that long (docs/performance.md, A3)."""
    arrived: dict[str, float] = {}  # an answer's turn: when the answer arrived
    waiting: dict[str, float] = {}  # the same, until its first delta is logged
    created: dict[str, float] = {}
    answer, start, run = service.InterviewService.answer, runner.TurnRunner.start, runner.TurnRunner._run
    logs_timed: set[type] = set()

    async def timed_answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        started = await answer(self, *args, **kwargs)
        arrived[started.turn_id] = began
        return started

    async def timed_start(self: Any, request: Any, on_end: Any) -> Any:
        created[request.turn_id] = time.perf_counter()
        return await start(self, request, on_end)

    async def timed_run(self: Any, running: Any) -> Any:
        turn_id = running.request.turn_id
        now = time.perf_counter()
        if turn_id in created:
            _record("turn: create_task to its first step", now - created.pop(turn_id))
        began = arrived.pop(turn_id, None)
        if began is not None:
            _record("answer timeline: arrival to its turn's task running", now - began)
            waiting[turn_id] = began
        if type(self.log) not in logs_timed:
            logs_timed.add(type(self.log))
            _time_first_delta(type(self.log))
        return await run(self, running)

    def _time_first_delta(log_class: Any) -> None:
        append = log_class.append

        async def timed_append(self: Any, turn_id: str, kind: str, payload: Any) -> Any:
            if kind == "delta" and turn_id in waiting:
                _record(
                    "answer timeline: arrival to first delta logged",
                    time.perf_counter() - waiting.pop(turn_id),
                )
            return await append(self, turn_id, kind, payload)

        log_class.append = timed_append

    service.InterviewService.answer = timed_answer
    runner.TurnRunner.start = timed_start
    runner.TurnRunner._run = timed_run


if _OUT:
    _install(_OUT)
