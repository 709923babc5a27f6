"""The parse sandbox: each upload is parsed in a freshly spawned process, killed past its time limit.

A thread stuck in a parser cannot be stopped; a process can. The blocking part (spawning,
waiting on the pipe, killing) runs on this module's own small thread pool, one thread per
parse that may run at once, never on asyncio's default pool, which also resolves host
names for the model server, PostgreSQL and Redis. Uploads waiting for a parse slot wait in
that pool's queue without holding a thread, at most ``QUEUE_TIMEOUT`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

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

# One thread per parse that may run at once: it spawns the process and waits on its pipe.
_POOL = ThreadPoolExecutor(max_workers=MAX_PARALLEL_PARSES, thread_name_prefix="hotseat-cv-parse")


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


def _child_main(
    conn: Connection,
    extract: Extractor,
    data: bytes,
    filename: str,
    content_type: str | None,
    limits: CvLimits,
) -> None:
    """Entry point of the parse process: say "ready", parse, send back the result or the error."""
    # No logging setup here: without a handler, pypdf's warnings about odd files would go to
    # stderr through logging's last resort. The parent logs the outcome.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        conn.send(("ready",))
        try:
            result = extract(data, filename, content_type, limits)
        except HotseatError as exc:
            conn.send(("error", exc.code, exc.message))
        except BaseException:
            conn.send(("crash", traceback.format_exc()))
        else:
            conn.send(("ok", result))
    finally:
        conn.close()


def _extract_in_child(
    extract: Extractor, data: bytes, filename: str, content_type: str | None, limits: CvLimits
) -> ExtractedCv:
    """Blocking: parse in a spawned process, killed if it takes longer than ``parse_timeout``."""
    check_size(data, limits)
    detect_kind(filename, content_type, data)  # cheap refusals need no process
    ctx = multiprocessing.get_context("spawn")  # no fork: the server has threads and an event loop
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child_main,
        args=(sender, extract, data, filename, content_type, limits),
        name="hotseat-cv-parse",
        daemon=True,
    )
    started = finished = False
    try:
        process.start()
        started = True
        sender.close()
        if not receiver.poll(STARTUP_TIMEOUT):
            logger.error("cv: parse process did not start within %ss", STARTUP_TIMEOUT)
            raise Busy(MSG_BUSY, retry_after=10)
        receiver.recv()  # "ready": the clock starts once the process has started
        if not receiver.poll(limits.parse_timeout):
            logger.warning("cv: parsing %r took over %ss; killed", filename, limits.parse_timeout)
            raise Unprocessable(timeout_message(limits.parse_timeout))
        message = receiver.recv()
        finished = True
    except EOFError:  # the process died without a word (killed by the OOM killer, a crash in C)
        logger.warning("cv: parse process for %r died (exit code %s)", filename, process.exitcode)
        raise Unprocessable(MSG_PARSE_CRASHED) from None
    finally:
        if started:
            if finished:
                process.join(timeout=2)
            if process.is_alive():
                process.kill()
            process.join()
            process.close()
        sender.close()
        receiver.close()

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
    """:func:`extract_cv` in a separate process, killed after ``limits.parse_timeout`` seconds.

    A fresh process is spawned per upload (from a thread of this module's pool, so the
    event loop never blocks); the time limit counts from when it is ready, so interpreter
    start-up is not charged to the file. On timeout the process is killed and
    ``Unprocessable`` ("took too long to read…") is raised; if it dies, ``Unprocessable``
    too. At most :data:`MAX_PARALLEL_PARSES` parse at once; a request that waits more
    than :data:`QUEUE_TIMEOUT` seconds for its turn gets ``Busy``. ``_extract`` replaces
    the parser (tests); it must be picklable, i.e. a module-level function or a
    ``functools.partial`` of one.
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
