"""The parse sandbox: a PDF or DOCX is parsed in a process of its own, killed past its time limit.

A thread stuck in a parser cannot be stopped; a process can. Each process parses one file and
is then ended, so nothing of one candidate's CV outlives its parse; but it is spawned ahead of
need (a warm spare, its parsers already imported), so an upload does not wait for an
interpreter to start. The child's address space is capped (``CHILD_MEMORY_BYTES``): a file
that would take more is refused as unreadable instead of pushing the server into swap.

The blocking part (waiting on the pipe, killing) runs on this module's own small thread pool,
one thread per parse that may run at once, never on asyncio's default pool, which also resolves
host names for the model server, PostgreSQL and Redis. Uploads waiting for a parse slot wait in
that pool's queue without holding a thread, at most ``QUEUE_TIMEOUT`` seconds.

Plain text and Markdown need no process: their reading is a decode and a cleaning pass, linear
in a file already bounded by ``HOTSEAT_CV_MAX_BYTES``, so it runs on the same pool's thread.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import resource
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from hotseat.errors import Busy, HotseatError, Unprocessable, error_for_code
from hotseat.interview.cv.detect import detect_kind
from hotseat.interview.cv.extract import check_size, extract_cv
from hotseat.interview.cv.model import (
    DEFAULT_LIMITS,
    MSG_BUSY,
    MSG_PARSE_CRASHED,
    CvLimits,
    ExtractedCv,
    Extractor,
    timeout_message,
)

logger = logging.getLogger(__name__)

# extract_cv_async: how many parse processes may run at once, how long a request waits
# for one, and how long a fresh process may take to start (not counted in parse_timeout).
MAX_PARALLEL_PARSES = 2
QUEUE_TIMEOUT = 60.0
STARTUP_TIMEOUT = 60.0

# The most address space a parse process may map: the interpreter and the parsers take about
# 100 MB; a PDF whose objects need more than this is not a CV.
CHILD_MEMORY_BYTES = 1024 * 1024 * 1024

# One thread per parse that may run at once: it takes a process and waits on its pipe.
_POOL = ThreadPoolExecutor(max_workers=MAX_PARALLEL_PARSES, thread_name_prefix="hotseat-cv-parse")
_TEXT_KINDS = frozenset({"txt", "md"})


@dataclass(slots=True)
class _Worker:
    """A spawned parse process that has imported the parsers and waits for its one file."""

    process: BaseProcess
    conn: Connection

    def end(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.process.close()
        self.conn.close()


# Warm spares, at most one per parse slot; filled in the background after each parse.
_SPARES: collections.deque[_Worker] = collections.deque()
_SPARES_LOCK = threading.Lock()
_spares_wanted = 0


def warm_spares() -> list[int]:
    """The process ids of the spares ready for a file (for tests and diagnostics)."""
    with _SPARES_LOCK:
        return [worker.process.pid or 0 for worker in _SPARES]


class _Ticket:
    """An upload's place in the pool's queue: it starts, or it is abandoned first, never both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "queued"  # queued | running | abandoned

    def start(self) -> bool:
        """In the pool's thread: False if the upload was abandoned while it waited."""
        with self._lock:
            if self._state == "abandoned":
                return False
            self._state = "running"
            return True

    def abandon(self) -> bool:
        """On the event loop: False if the parse has already started (it then runs to its end)."""
        with self._lock:
            if self._state == "running":
                return False
            self._state = "abandoned"
            return True


def _child_main(conn: Connection) -> None:
    """Entry point of the parse process: import the parsers, say "ready", take one file, parse it,
    send back the result or the error, end."""
    # No logging setup here: without a handler, pypdf's warnings about odd files would go to
    # stderr through logging's last resort. The parent logs the outcome.
    logging.getLogger().addHandler(logging.NullHandler())
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    try:
        conn.send(("ready",))
        extract, data, filename, content_type, limits = conn.recv()
        try:
            result = extract(data, filename, content_type, limits)
        except HotseatError as exc:
            conn.send(("error", exc.code, exc.message))
        except MemoryError:
            conn.send(("error", "unprocessable", MSG_PARSE_CRASHED))
        except BaseException:
            conn.send(("crash", traceback.format_exc()))
        else:
            conn.send(("ok", result))
    finally:
        conn.close()


def _spawn() -> _Worker:
    """Blocking: start a parse process and wait until it is ready for a file."""
    ctx = multiprocessing.get_context("spawn")  # no fork: the server has threads and an event loop
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_child_main, args=(child,), name="hotseat-cv-parse", daemon=True)
    process.start()
    child.close()
    worker = _Worker(process, parent)
    try:
        if not parent.poll(STARTUP_TIMEOUT):
            logger.error("cv: parse process did not start within %ss", STARTUP_TIMEOUT)
            raise Busy(MSG_BUSY, retry_after=10)
        parent.recv()  # "ready"
    except BaseException:
        worker.end()
        raise
    return worker


def _take_worker() -> _Worker:
    """A warm spare if there is one alive, else a process started now; and a spare to follow."""
    worker: _Worker | None = None
    while worker is None:
        with _SPARES_LOCK:
            spare = _SPARES.popleft() if _SPARES else None
        if spare is None:
            break
        if spare.process.is_alive():
            worker = spare
        else:
            spare.end()
    _refill_later()
    return worker if worker is not None else _spawn()


def _refill_later() -> None:
    """Start one spare in the background, unless there are already enough on their way."""
    global _spares_wanted
    with _SPARES_LOCK:
        if len(_SPARES) + _spares_wanted >= MAX_PARALLEL_PARSES:
            return
        _spares_wanted += 1

    def refill() -> None:
        global _spares_wanted
        spare: _Worker | None = None
        try:
            spare = _spawn()
        except Exception:
            logger.warning("cv: a spare parse process could not be started", exc_info=True)
        with _SPARES_LOCK:
            _spares_wanted -= 1
            if spare is not None:
                _SPARES.append(spare)

    threading.Thread(target=refill, name="hotseat-cv-spare", daemon=True).start()


def _extract_in_child(
    extract: Extractor, data: bytes, filename: str, content_type: str | None, limits: CvLimits
) -> ExtractedCv:
    """Blocking: parse in a spawned process, killed if it takes longer than ``parse_timeout``
    (the size and the kind were checked before: ``parse`` below)."""
    worker = _take_worker()
    try:
        worker.conn.send((extract, data, filename, content_type, limits))
        # The clock starts with the file: the process was ready before it.
        if not worker.conn.poll(limits.parse_timeout):
            logger.warning("cv: parsing %r took over %ss; killed", filename, limits.parse_timeout)
            raise Unprocessable(timeout_message(limits.parse_timeout))
        message = worker.conn.recv()
    except (EOFError, BrokenPipeError):  # it died without a word (the OOM killer, a crash in C)
        logger.warning("cv: parse process for %r died (exit code %s)", filename, worker.process.exitcode)
        raise Unprocessable(MSG_PARSE_CRASHED) from None
    finally:
        worker.end()

    status = message[0]
    if status == "ok":
        result: ExtractedCv = message[1]
        return result
    if status == "error":
        logger.info("cv: %r refused: %s %s", filename, message[1], message[2])
        raise error_for_code(message[1], message[2])
    logger.error("cv: parsing %r crashed:\n%s", filename, message[1])
    raise Unprocessable(MSG_PARSE_CRASHED)


async def extract_cv_async(
    data: bytes,
    filename: str,
    content_type: str | None,
    limits: CvLimits = DEFAULT_LIMITS,
    *,
    _extract: Extractor = extract_cv,
) -> ExtractedCv:
    """:func:`extract_cv` off the event loop: a PDF or DOCX in a process of its own, killed after
    ``limits.parse_timeout`` seconds; plain text and Markdown on this module's pool's thread.

    Each process parses one upload (a warm spare when one is ready); the time limit counts
    from when the file is sent, so interpreter start-up is not charged to the file. On
    timeout the process is killed and ``Unprocessable`` ("took too long to read…") is
    raised; if it dies, ``Unprocessable`` too. At most :data:`MAX_PARALLEL_PARSES` parse at
    once; a request that waits more than :data:`QUEUE_TIMEOUT` seconds for its turn gets
    ``Busy``. ``_extract`` replaces the parser (tests); it must be picklable, i.e. a
    module-level function or a ``functools.partial`` of one, and always runs in a process.
    """
    # Cheap refusals need no process, nor a wait for one. A zip's kind needs its directory read,
    # which a hostile file can make slow: that is left to the pool's thread.
    check_size(data, limits)
    if not data.startswith(b"PK\x03\x04"):
        detect_kind(filename, content_type, data)
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    ticket = _Ticket()

    def parse() -> ExtractedCv | None:
        if not ticket.start():
            return None  # abandoned while it waited: its caller has answered already
        loop.call_soon_threadsafe(started.set)
        # A zip's kind (DOCX) is detected here, its directory read off the event loop; other kinds
        # were detected above already, and detecting them again costs a look at their first bytes.
        kind = detect_kind(filename, content_type, data)  # a refusal needs no process
        if _extract is extract_cv and kind in _TEXT_KINDS:
            return extract_cv(data, filename, content_type, limits)
        return _extract_in_child(_extract, data, filename, content_type, limits)

    parsed = loop.run_in_executor(_POOL, parse)
    try:
        async with asyncio.timeout(QUEUE_TIMEOUT):
            await started.wait()
    except TimeoutError:
        if ticket.abandon():
            raise Busy(MSG_BUSY, retry_after=QUEUE_TIMEOUT) from None
    except asyncio.CancelledError:
        ticket.abandon()  # the client left: a parse still queued never runs
        raise
    result = await parsed
    assert result is not None  # it started, so it ran
    return result
