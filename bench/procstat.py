"""What a server process costs: CPU seconds and resident memory, read from /proc.

CPU is ``utime + stime`` of the whole process (every thread: the event loop,
aiosqlite's thread, the default executor) from ``/proc/PID/stat``, in clock
ticks converted to seconds (10 ms resolution at the usual 100 Hz). Memory is
``VmRSS`` (now) and ``VmHWM`` (the kernel's high-water mark since the process
started) from ``/proc/PID/status``. ``PeakSampler`` also polls ``VmRSS`` while a
load runs, so a peak is seen even for a process that was not started fresh.
Linux only.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from types import TracebackType

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu_seconds: float  # user + system, all threads, since the process started
    rss_bytes: int  # resident set now
    hwm_bytes: int  # peak resident set since the process started


def _stat_fields(path: str) -> list[bytes]:
    """The fields of a ``/proc/.../stat`` file from field 3 (state) on: ``[0]`` is field 3."""
    with open(path, "rb") as f:
        stat = f.read()
    # The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime (fields 14 and 15) of ``pid`` in seconds."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def reaped_cpu_seconds(pid: int) -> float:
    """cutime + cstime (fields 16 and 17) of ``pid``: the CPU of the children it has waited for."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return (int(fields[13]) + int(fields[14])) / _TICKS_PER_SECOND


def tree_cpu_seconds(root: int) -> float:
    """CPU of ``root``, of its live descendants, and of the children it has already reaped."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parent = int(_stat_fields(f"/proc/{name}/stat")[1])  # field 4, the parent's pid
            except (FileNotFoundError, ProcessLookupError):
                continue  # it ended
            children.setdefault(parent, []).append(int(name))
    total, stack = reaped_cpu_seconds(root), [root]
    while stack:
        pid = stack.pop()
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        stack += children.get(pid, [])
    return total


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime of every thread of ``pid`` (the event loop's thread id is ``pid`` itself)."""
    result: dict[int, float] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = _stat_fields(f"/proc/{pid}/task/{task}/stat")
        except FileNotFoundError:
            continue  # the thread ended
        result[int(task)] = (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND
    return result


def memory_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in bytes."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith(b"VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return rss, hwm


def sample(pid: int) -> ProcSample:
    rss, hwm = memory_bytes(pid)
    return ProcSample(cpu_seconds(pid), rss, hwm)


class PeakSampler:
    """``async with PeakSampler(pid) as peak: ...``; ``peak.rss_bytes`` is the largest VmRSS seen.

    Polls every ``interval`` seconds for at most ``max_seconds`` (a bounded loop);
    the final value also folds in a last sample taken on exit.
    """

    def __init__(self, pid: int, interval: float = 0.1, max_seconds: float = 3600.0) -> None:
        self.pid = pid
        self.interval = interval
        self.max_samples = max(1, int(max_seconds / interval))
        self.rss_bytes = 0
        self._task: asyncio.Task[None] | None = None

    def _take(self) -> None:
        try:
            rss, _ = memory_bytes(self.pid)
        except (FileNotFoundError, ProcessLookupError):
            return
        self.rss_bytes = max(self.rss_bytes, rss)

    async def _poll(self) -> None:
        for _ in range(self.max_samples):
            self._take()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> PeakSampler:
        self._take()
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._take()
