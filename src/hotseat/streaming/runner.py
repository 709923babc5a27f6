"""The turn runner: reads a backend's stream and writes the turn's log.

One asyncio task per running turn. It appends ``delta``/``queued`` events as
the backend produces them, then hands the outcome to ``on_end`` (which persists
it) and only then appends the terminal event, so a client that sees ``done``
can read the final transcript at once.

Who cancels whom:

- ``cancel(turn_id)`` (a WS frame, an HTTP call, or the orphan timer) cancels
  the turn's task; the CancelledError surfaces inside the backend's stream,
  whose ``finally`` closes the upstream request; the turn ends ``done`` with
  ``finish_reason: "cancelled"`` and keeps its partial text.
- ``shutdown()`` cancels what is still running after the deadline; those turns
  end with an ``interrupted`` error.
- Transports never cancel a turn by going away: they ``watch`` the session,
  and a running turn nobody watches is cancelled after ``orphan_grace_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from hotseat import metrics
from hotseat.errors import INTERRUPTED_MESSAGE, HotseatError, Internal, Interrupted
from hotseat.llm.base import Backend, Queued, StreamEnd, StreamItem, Usage
from hotseat.outages import retry_outages
from hotseat.streaming.bus import SessionBus, TurnStarted
from hotseat.streaming.log import LogMissing, StreamLog
from hotseat.streaming.orphans import OrphanTimers
from hotseat.streaming.peers import Peers, Standalone
from hotseat.streaming.turns import OnEnd, TurnOutcome, TurnRequest, TurnStatus

logger = logging.getLogger(__name__)

__all__ = ["OnEnd", "TurnOutcome", "TurnRequest", "TurnRunner", "TurnStatus"]


@dataclass(slots=True)
class _Running:
    request: TurnRequest
    on_end: OnEnd
    task: asyncio.Task[None] | None = None
    stop_reason: Literal["cancelled", "interrupted"] | None = None
    # Set once the stream is over: from then on the outcome is being saved and must not be cancelled.
    ending: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class TurnRunner:
    def __init__(
        self,
        backend: Backend,
        log: StreamLog,
        bus: SessionBus,
        *,
        orphan_grace_seconds: float = 30.0,
        peers: Peers | None = None,
    ) -> None:
        self.backend = backend
        self.log = log
        self.bus = bus
        # The other replicas (leases, remote cancel, remote watchers); nobody in one process.
        self.peers: Peers = peers or Standalone()
        self._running: dict[str, _Running] = {}
        self._by_session: dict[str, str] = {}
        self._by_owner: dict[str, int] = {}
        self._watchers: dict[str, int] = {}
        # Set once shutdown's deadline has passed: a turn started after that is interrupted at once.
        self._closed = False
        self._orphans = OrphanTimers(orphan_grace_seconds, self.peers, self.cancel_local)

    # -- starting and stopping turns ------------------------------------------

    async def start(self, request: TurnRequest, on_end: OnEnd) -> None:
        """Open the turn's log, announce it, and start generating in the background."""
        running = _Running(request, on_end)
        try:
            await self.log.create(request.turn_id)
        except HotseatError as exc:
            # The log store is down: the turn cannot stream, so it is stored as failed at once.
            try:
                await on_end(TurnOutcome(request.turn_id, "", "failed", None, None, exc, [], 1))
            except Exception:
                logger.exception("storing the failed start of turn %s failed", request.turn_id)
            raise
        await self.peers.turn_started(request.turn_id)
        self._running[request.turn_id] = running
        self._by_session[request.session_id] = request.turn_id
        self._by_owner[request.owner] = self._by_owner.get(request.owner, 0) + 1
        running.task = asyncio.create_task(self._run(running), name=f"turn:{request.turn_id}")
        if not self._watchers.get(request.session_id):
            self._orphans.arm(request.turn_id, request.session_id)
        await self.bus.publish(TurnStarted(request.session_id, request.turn_id, request.kind))

    def running_turn(self, session_id: str) -> str | None:
        """The id of the session's turn being generated here, if any."""
        return self._by_session.get(session_id)

    def running_owner(self, session_id: str) -> str | None:
        """Whose session has a turn being generated here, if one has.

        Proof that the session exists and is theirs: a deleted session's turn is stopped, and
        its outcome stored, before the session's rows are deleted.
        """
        turn_id = self._by_session.get(session_id)
        running = self._running.get(turn_id) if turn_id is not None else None
        return running.request.owner if running is not None else None

    def running_kind(self, turn_id: str) -> str | None:
        """The kind of a turn being generated here (``opening``, ``question``...), if it is."""
        running = self._running.get(turn_id)
        return running.request.kind if running is not None else None

    def is_running(self, turn_id: str) -> bool:
        return turn_id in self._running

    def running_count(self) -> int:
        return len(self._running)

    def running_for_owner(self, owner: str) -> int:
        """How many of ``owner``'s turns are generating in this process."""
        return self._by_owner.get(owner, 0)

    async def cancel(self, turn_id: str) -> bool:
        """Stop generating, here or on the replica running it; the turn ends ``done``/``cancelled``.

        Returns once the outcome is stored; False if the turn is not running anywhere.
        """
        return await self._stop(turn_id, "cancelled") or await self.peers.cancel_remote(turn_id)

    async def cancel_local(self, turn_id: str) -> bool:
        """``cancel`` for a turn running in this process only (where other replicas' cancels land)."""
        return await self._stop(turn_id, "cancelled")

    async def wait(self, turn_id: str) -> None:
        """Wait until the turn has ended (persisted and terminal event logged)."""
        running = self._running.get(turn_id)
        if running is not None:
            await running.ended.wait()

    async def shutdown(self, deadline_seconds: float) -> None:
        """Let running turns finish until the deadline, then interrupt the rest.

        Turns started during the grace period (a WebSocket still open may send an
        answer) are waited for too; after the deadline, new turns end at once.
        Calling it again after that returns at once.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (0.0 if self._closed else deadline_seconds)
        while self._running and loop.time() < deadline:
            ended = [asyncio.ensure_future(r.ended.wait()) for r in self._running.values()]
            _done, pending = await asyncio.wait(ended, timeout=deadline - loop.time())
            for waiter in pending:
                waiter.cancel()
        self._closed = True
        await asyncio.gather(*(self._stop(tid, "interrupted") for tid in list(self._running)))
        await self._orphans.close()

    async def _stop(self, turn_id: str, reason: Literal["cancelled", "interrupted"]) -> bool:
        running = self._running.get(turn_id)
        if running is None or running.task is None:
            return False
        if running.stop_reason is None and not running.ending:
            running.stop_reason = reason
            running.task.cancel()
        await running.ended.wait()
        return True

    # -- who is watching ----------------------------------------------------------

    @contextmanager
    def watching(self, session_id: str) -> Iterator[None]:
        """Mark a client as following the session while the block runs."""
        self._watchers[session_id] = self._watchers.get(session_id, 0) + 1
        if self._watchers[session_id] == 1:
            self.peers.watch(session_id)
        turn_id = self._by_session.get(session_id)
        if turn_id is not None:
            self._orphans.disarm(turn_id)
        try:
            yield
        finally:
            left = self._watchers[session_id] - 1
            if left:
                self._watchers[session_id] = left
            else:
                del self._watchers[session_id]
                self.peers.unwatch(session_id)
                turn_id = self._by_session.get(session_id)
                if turn_id is not None:
                    self._orphans.arm(turn_id, session_id)

    # -- the turn task --------------------------------------------------------------

    async def _run(self, running: _Running) -> None:
        request = running.request
        turn_id = request.turn_id
        parts: list[str] = []
        length = 0
        delta_index: list[tuple[int, int]] = []
        finish_reason: str | None = None
        usage: Usage | None = None
        error: HotseatError | None = None
        status: TurnStatus = "complete"
        last_seq = 0
        append = self.log.append
        clock = time.monotonic
        started = previous = clock()
        queued = False
        metrics.TURNS_RUNNING.inc()
        try:
            if self._closed:
                # Started after the shutdown deadline: stop before calling the model.
                running.stop_reason = "interrupted"
                raise asyncio.CancelledError
            stream = (
                request.source() if request.source else self.backend.stream(request.messages, request.params)
            )
            try:
                async for item in stream:
                    if type(item) is str:
                        if item:
                            # Counted before the append: a cancel that lands while a shared log's
                            # write is in flight does not stop the write, so the text stays in step
                            # with what readers get (seqs are consecutive from 1).
                            last_seq += 1
                            parts.append(item)
                            length += len(item)
                            delta_index.append((last_seq, length))
                            try:
                                await append(turn_id, "delta", {"text": item})
                            except Exception:
                                # Not logged, as far as this writer knows: not part of the reply.
                                last_seq -= 1
                                parts.pop()
                                length -= len(item)
                                delta_index.pop()
                                raise
                            now = clock()
                            if len(parts) == 1:
                                metrics.TIME_TO_FIRST_TOKEN.observe(now - started)
                                if queued:
                                    queued = False
                                    metrics.TURNS_QUEUED.dec()
                            else:
                                metrics.INTER_TOKEN.observe(now - previous)
                            previous = now
                    elif isinstance(item, Queued):
                        last_seq += 1
                        await append(turn_id, "queued", {"position": item.position})
                        if not queued:
                            queued = True
                            metrics.TURNS_QUEUED.inc()
                    elif isinstance(item, StreamEnd):
                        finish_reason, usage = item.finish_reason, item.usage
            finally:
                await _close(stream)
        except asyncio.CancelledError:
            if running.stop_reason is None:
                raise
            if running.stop_reason == "cancelled":
                status, finish_reason = "cancelled", "cancelled"
            else:
                status = "interrupted"
                error = Interrupted(INTERRUPTED_MESSAGE)
        except HotseatError as exc:
            status, error = "failed", exc
        except Exception:
            logger.exception("turn %s failed", turn_id)
            status, error = "failed", Internal("The model backend failed unexpectedly; retry the turn.")
        finally:
            metrics.TURNS_RUNNING.dec()
            if queued:
                metrics.TURNS_QUEUED.dec()
            metrics.TOKENS_GENERATED.inc(len(parts))
        if status == "complete" and finish_reason is None:
            finish_reason = "stop"
        metrics.TURNS.labels(status).inc()
        if error is not None:
            metrics.UPSTREAM_ERRORS.labels(error.code).inc()
        outcome = TurnOutcome(
            turn_id, "".join(parts), status, finish_reason, usage, error, delta_index, last_seq + 1
        )
        await self._end(running, outcome)

    async def _end(self, running: _Running, outcome: TurnOutcome) -> None:
        request = running.request
        running.ending = True
        self._orphans.disarm(request.turn_id)
        try:
            # The outcome is the transcript: a busy pool or a short outage is waited out.
            await retry_outages(f"storing turn {request.turn_id}", lambda: running.on_end(outcome))
        except Exception:
            logger.exception("persisting turn %s failed", request.turn_id)
            if outcome.error is None:
                outcome.status = "failed"
                outcome.error = Internal("The reply could not be saved; retry the turn.")
        try:
            if outcome.error is not None:
                await self.log.append(request.turn_id, "error", outcome.error.to_dict())
            else:
                payload: dict[str, object] = {"finish_reason": outcome.finish_reason}
                if outcome.usage is not None:
                    payload["usage"] = outcome.usage.to_dict()
                await self.log.append(request.turn_id, "done", payload)
        except (HotseatError, LogMissing) as exc:
            # A shared log that is down or was closed by a sweeper; the outcome is stored, and
            # readers get the end from the database (or from the log once Redis is back).
            logger.warning("the end of turn %s could not be logged: %s", request.turn_id, exc)
        # While still running: whoever waits for the turn (shutdown, above all) waits for its lease too.
        await self.peers.turn_ended(request.turn_id)
        del self._running[request.turn_id]
        if self._by_session.get(request.session_id) == request.turn_id:
            del self._by_session[request.session_id]
        left = self._by_owner[request.owner] - 1
        if left:
            self._by_owner[request.owner] = left
        else:
            del self._by_owner[request.owner]
        running.ended.set()


async def _close(stream: AsyncIterator[StreamItem]) -> None:
    """Close the model's stream now rather than when it is garbage-collected: a turn that fails on
    the log (Redis gone) would otherwise leave the upstream request generating to its end, and the
    failure's traceback keeps the generator alive."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        logger.warning("closing the model's stream failed", exc_info=True)
