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
    atexit.register(_write, path)


if _OUT:
    _install(_OUT)
