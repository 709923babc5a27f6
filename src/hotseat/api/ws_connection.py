"""One WebSocket following one session: its tasks, in one task group.

::

    receiver ── client frames ──▶ Seat (answer, skip, retry, finish, cancel, resume)
       │  accepted / error frames          │ a turn starts (bus callback)
       │                                   ▼
       │                        follower: the turns to send, one after another,
       │                        each read from the Seat from a seq
       ▼                                   ▼
    Outbox (frames, in order) ────────▶ sender: the only task that writes to the socket

The connection ends when the client leaves (the receiver or the sender sees it), when a
send waits past ``HOTSEAT_SEND_TIMEOUT_SECONDS`` (the send watchdog; close 1013), or at a
restart (``OpenWebSockets``; close 1012 after the turns' last events). Whichever comes first
resolves ``_ended``, and the others are cancelled; a move already begun (it may have stored
its turns) is waited for instead, so that it also starts its turn. Ending a connection never
cancels a turn.

Each turn's frames begin with a ``turn`` frame (with ``after``, the seq it continues from),
and ``delta`` frames carry no turn id: a delta belongs to the turn of the last ``turn``
frame, so turns never interleave. A ``resume`` of the turn being sent replaces its stream and
goes on after the last seq already put in the outbox, so no merged delta repeats text the
client has. The answers to the client's frames (``accepted``, errors) go out at once, and
``accepted`` comes before the ``turn`` frame of the turn its move started (announcements
heard during the move are held until it is answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from fastapi import WebSocket, WebSocketDisconnect

from hotseat import metrics
from hotseat.api.deps import Services
from hotseat.api.errors import ws_error_frame
from hotseat.api.limits import admit_move
from hotseat.api.schemas import (
    AnswerFrame,
    CancelFrame,
    ClientFrame,
    ResumeFrame,
    RetryFrame,
    SkipFrame,
    StartFrame,
    check_answer,
)
from hotseat.api.send_watchdog import SendWatchdog
from hotseat.api.ws_audio import AudioChannel, Taken
from hotseat.api.ws_frames import BadFrame, receive_frame
from hotseat.api.ws_outbox import Goodbye, Outbox
from hotseat.errors import BadRequest, HotseatError, NotFound
from hotseat.interview.seats import Seat, StartedTurn, TurnStarted
from hotseat.streaming.events import count_deltas, merge_deltas

logger = logging.getLogger(__name__)

SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013
# A close frame to a client that stopped reading cannot be sent; give up on it after this long.
_CLOSE_SECONDS = 1.0


class _Stalled(Exception):
    """The watchdog cancelled a send: the client stopped reading."""


class Connection:
    """A session followed over one WebSocket; ``run`` it, then ``close`` it."""

    def __init__(
        self,
        websocket: WebSocket,
        services: Services,
        seat: Seat,
        owner: str,
        max_answer_chars: int,
        watchdog: SendWatchdog,
    ) -> None:
        self.websocket = websocket
        self.seat = seat
        self.owner = owner
        self._max_answer_chars = max_answer_chars
        self._guard = watchdog.guard(self._stalled)
        self._outbox = Outbox()
        self._group: asyncio.TaskGroup | None = None
        # Turns to send after the current one, in order: (turn id, after, kind).
        self._pending: list[tuple[str, int, str]] = []
        self._current: str | None = None  # the turn the follower is sending
        self._follower: asyncio.Task[None] | None = None  # made when there is a turn to send
        # The highest seq put in the outbox of each turn still being sent (the client gets it all).
        self._queued: dict[str, int] = {}
        # While a move of this connection runs: the turns announced meanwhile, sent after its answer.
        self._held: list[TurnStarted] | None = None
        self._moving = False
        # Resolved when the connection ends: with a close code to send, or None (the client left).
        self._ended: asyncio.Future[tuple[int, str] | None] = asyncio.get_running_loop().create_future()
        # Resolved once close() has run (a future: an Event allocates a waiter deque per connection).
        self._finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Recordings in, the interviewer's speech out (docs/protocol.md, "Audio on the WebSocket").
        self.audio = AudioChannel(websocket, services, seat.session_id, owner, self._send_audio)

    async def run(self, resume: tuple[str, int] | None) -> None:
        """Follow the session until the connection ends; an outage at connect propagates."""
        with self.seat.watch(self._on_turn_started):
            await self._resume_on_connect(resume)
            async with asyncio.TaskGroup() as group:
                self._group = group
                sender = group.create_task(self._send_loop())
                receiver = group.create_task(self._receive_loop())
                self._start_follower()
                try:
                    # Awaited directly, not through asyncio.wait: that costs an idle socket ~1 KB.
                    await self._ended
                finally:
                    self._group = None  # no new follower
                sender.cancel()
                if self._follower is not None:
                    self._follower.cancel()
                if not self._moving:
                    receiver.cancel()  # a move in progress finishes, then the receiver returns

    async def close(self) -> None:
        """Send the close frame the end calls for (bounded), and let ``restart`` return."""
        await self.audio.close()
        self._guard.close()
        # Cancelled with the task that ran the connection: the server is stopping; no code to send.
        ended = self._ended.result() if self._ended.done() and not self._ended.cancelled() else None
        if ended is not None:
            code, reason = ended
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
                async with asyncio.timeout(_CLOSE_SECONDS):
                    await self.websocket.close(code, reason)
        if not self._finished.done():
            self._finished.set_result(None)

    async def restart(self, flush_seconds: float) -> None:
        """Send what the turns have logged (bounded), then close with 1012; returns once closed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_seconds
        if self._follower is not None:
            await asyncio.wait([self._follower], timeout=flush_seconds)
        # After every frame already waiting: the sender closes when it gets here.
        self._outbox.put(Goodbye(SERVICE_RESTART, "server restarting"))
        await asyncio.wait([self._ended], timeout=max(0.0, deadline - loop.time()))
        self._end(SERVICE_RESTART, "server restarting")
        await asyncio.wait([self._finished])

    def _end(self, code: int | None, reason: str = "") -> None:
        if not self._ended.done():  # cancelled too, when the connection's task was
            self._ended.set_result((code, reason) if code is not None else None)

    # -- the client's frames ------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while not self._ended.done():
            try:
                frame = await receive_frame(self.websocket, self.audio)
            except BadFrame as exc:
                self._outbox.put(ws_error_frame(exc.error, ref=exc.ref))
                continue
            if frame is None:
                self._end(None)
                return
            if isinstance(frame, Taken):  # an audio frame, answered by the audio channel
                continue
            self._moving = True
            try:
                await self._move(frame)
            finally:
                self._moving = False

    async def _move(self, frame: ClientFrame) -> None:
        """Make the frame's move and answer it: ``accepted``, or an error frame."""
        ref = None if isinstance(frame, StartFrame) else frame.ref
        self._held = []
        try:
            turn_id, kind, candidate_turn_id = await self._handle(frame)
        except HotseatError as exc:  # the database or Redis going away too
            # A resume of a candidate turn names the turn, as its stream's error would.
            named = frame.turn_id if isinstance(frame, ResumeFrame) and isinstance(exc, BadRequest) else None
            self._outbox.put(ws_error_frame(exc, named, ref))
        else:
            accepted = {
                "type": "accepted",
                "ref": ref,
                "turn_id": turn_id,
                "kind": kind,
                "candidate_turn_id": candidate_turn_id,
            }
            self._outbox.put(orjson.dumps(accepted).decode())
            if isinstance(frame, ResumeFrame) and turn_id is not None and kind is not None:
                self._follow(turn_id, frame.after, kind, replace=True)
        finally:
            held, self._held = self._held, None
            for started in held:
                self._on_turn_started(started)

    async def _handle(self, frame: ClientFrame) -> tuple[str | None, str | None, str | None]:
        """Make the move; returns the turn it started, resumes or stopped, that turn's kind, and the
        candidate's turn it stored (an answer's or a skip's)."""
        seat = self.seat
        if isinstance(frame, StartFrame):
            raise BadRequest(
                f"This connection follows session {seat.session_id!r}; open a WebSocket without "
                "?session= to start another."
            )
        if isinstance(frame, CancelFrame):
            return await seat.cancel(frame.turn_id), None, None
        if isinstance(frame, ResumeFrame):
            return frame.turn_id, await seat.resume(frame.turn_id), None
        if isinstance(frame, AnswerFrame):
            check_answer(frame.text, self._max_answer_chars)
        # Every other move starts a model turn: rate-limited like its HTTP twin.
        started: StartedTurn
        async with admit_move(self.websocket, self.owner):
            if isinstance(frame, AnswerFrame):
                started = await seat.answer(frame.text)
            elif isinstance(frame, SkipFrame):
                started = await seat.skip()
            elif isinstance(frame, RetryFrame):
                started = await seat.retry()
            else:
                started = await seat.finish()
        return started.turn_id, started.kind, started.candidate_turn_id

    # -- the turns to send ----------------------------------------------------------------

    async def _resume_on_connect(self, resume: tuple[str, int] | None) -> None:
        """The rest of the turn the client names, if it has ended meanwhile (so a reconnect never
        misses an end); then a turn still generating, from its start (or from the client's seq,
        if it is the one named)."""
        current = await self.seat.current()
        if resume is not None and (current is None or resume[0] != current[0]):
            try:
                kind = await self.seat.resume(resume[0])
            except NotFound as exc:
                self._outbox.put(ws_error_frame(exc))
            except BadRequest as exc:
                self._outbox.put(ws_error_frame(exc, resume[0]))
            else:
                self._follow(resume[0], resume[1], kind)
        if current is not None:
            turn_id, kind = current
            after = resume[1] if resume is not None and resume[0] == turn_id else 0
            self._follow(turn_id, after, kind)

    def _on_turn_started(self, started: TurnStarted) -> None:
        """The bus's callback: a turn started on this session, here or on another replica."""
        if self._held is not None:
            self._held.append(started)  # after the answer to the move that started it
        else:
            self._follow(started.turn_id, 0, started.kind)

    def _follow(self, turn_id: str, after: int, kind: str, *, replace: bool = False) -> None:
        """Send the turn after those already waiting. A resume (``replace``) takes the place of any
        stream of it; an announcement of a turn already to be sent changes nothing."""
        waiting = any(pending[0] == turn_id for pending in self._pending)
        if not replace and (waiting or self._current == turn_id):
            return
        if waiting:
            self._pending = [pending for pending in self._pending if pending[0] != turn_id]
        if self._current == turn_id and self._follower is not None:
            # Stopped where it is: what it has put in the outbox is the resume's starting point.
            self._follower.cancel()
            self._follower = self._current = None
        self._pending.append((turn_id, after, kind))
        self._start_follower()

    def _start_follower(self) -> None:
        if self._follower is None and self._pending and self._group is not None:
            self._follower = self._group.create_task(self._follow_loop())

    async def _follow_loop(self) -> None:
        try:
            while self._pending:
                turn_id, after, kind = self._pending.pop(0)
                self._current = turn_id
                await self._send_turn(turn_id, after, kind)
                self._current = None
        finally:
            if self._follower is asyncio.current_task():
                self._follower = self._current = None

    async def _send_turn(self, turn_id: str, after: int, kind: str) -> None:
        outbox = self._outbox
        # A resume that overlaps a stream in progress must not send that part again, not even
        # inside a merged delta with a higher seq, which the client could not drop.
        after = max(after, self._queued.get(turn_id, 0))
        # The deltas that follow belong to this turn (they do not repeat its id).
        turn = {"type": "turn", "turn_id": turn_id, "kind": kind, "after": after}
        await outbox.put_batch([orjson.dumps(turn).decode()])
        try:
            async with contextlib.aclosing(self.seat.follow(turn_id, after)) as batches:
                async for batch in batches:
                    events = merge_deltas(batch) if len(batch) > 1 else batch
                    await outbox.put_batch([event.json for event in events])
                    # A merged delta carries the seq of the last delta it holds: the batch's last.
                    self._queued[turn_id] = batch[-1].seq
                    metrics.WS_DELIVERED.inc(count_deltas(batch))
        except HotseatError as exc:
            outbox.put(ws_error_frame(exc, turn_id))
        self._queued.pop(turn_id, None)

    # -- the socket --------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        websocket, guard = self.websocket, self._guard
        try:
            while True:
                for item in await self._outbox.take():
                    if isinstance(item, Goodbye):
                        self._end(item.code, item.reason)
                        return
                    # The send waits while the socket's buffer is full (the client is not reading).
                    with guard:
                        if isinstance(item, bytes):
                            await websocket.send_bytes(item)
                        else:
                            await websocket.send_text(item)
        except _Stalled:
            logger.info("closing a WebSocket that stopped reading (session %s)", self.seat.session_id)
            self._end(TRY_AGAIN_LATER, "send timeout: the client stopped reading")
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._end(None)  # the client has gone

    async def _send_audio(self, message: str | bytes) -> None:
        """The audio channel's frames, in order with everything else; it stops once the connection
        has ended. Not backpressured here: a client that stops reading is ended by the send
        watchdog, and that ends what the channel is sending."""
        if self._ended.done():
            raise RuntimeError("the WebSocket has ended")
        self._outbox.put(message)

    def _stalled(self) -> Exception:
        """The watchdog cancelled a send past the send timeout."""
        return _Stalled()
