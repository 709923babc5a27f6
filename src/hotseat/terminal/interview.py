"""The interview loop of ``hotseat interview``: read a move, send it, stream the reply.

Moves go over HTTP (each is answered, so a rejected one is shown at once); the replies come over
the session's WebSocket (``Follower``), which reconnects and resumes by itself. Ctrl-C while a
reply streams sends ``cancel`` (the server stops the model); a second Ctrl-C within
``LEAVE_WINDOW`` seconds leaves, as does Ctrl-C twice at the prompt, ``/quit`` or end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass

from hotseat.client.api import Api
from hotseat.client.follow import (
    Follower,
    Interrupt,
    Queued,
    Reconnected,
    Reconnecting,
    Rejected,
    Text,
    TurnEnded,
    TurnStarted,
)
from hotseat.errors import HotseatError
from hotseat.terminal.output import Output, TurnView, ended_note
from hotseat.terminal.prompt import Prompter

LEAVE_WINDOW = 3.0
EXIT_LEFT = 130  # the shell's code for a command ended by Ctrl-C
HELP = """\
Type your answer and press Enter (Alt-Enter starts a new line; Ctrl-X Ctrl-E opens $EDITOR).
  /skip     skip this question
  /retry    have the interviewer write its last reply again (after it was stopped or failed)
  /finish   end the interview and get the report
  /quit     leave; continue later with hotseat interview --resume
Ctrl-C stops a reply as it is written; Ctrl-C twice leaves."""
MOVES = {"/skip": "skip", "/retry": "retry", "/finish": "finish"}
STREAMING = "replying · Ctrl-C stops the reply"


def command_hint(verb: str, session_id: str, server: str | None, option: str = "") -> str:
    """A command line to show. ``--`` keeps an older id that starts with "-" from reading as an
    option; an option's value (``--resume ID``) needs none."""
    where = f" --server {server}" if server else ""
    if option:
        return f"hotseat {verb}{where} {option} {session_id}"
    separator = "-- " if session_id.startswith("-") else ""
    return f"hotseat {verb}{where} {separator}{session_id}"


class Leave(Exception):
    """The candidate asked to leave (Ctrl-C twice)."""


@dataclass(slots=True)
class Ending:
    """How a streamed turn ended, as the loop needs it."""

    kind: str
    done: bool  # ended normally (not cancelled, not failed)


@contextlib.contextmanager
def quiet_keyboard() -> Iterator[None]:
    """No echo while a reply streams, so keys typed ahead do not break the text; they wait for
    the prompt. Ctrl-C still signals."""
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class Interview:
    def __init__(
        self, api: Api, follower: Follower, out: Output, prompter: Prompter, server: str | None
    ) -> None:
        self.api = api
        self.follower = follower
        self.out = out
        self.prompter = prompter
        self.session_id = follower.session_id
        self.resume_hint = "To continue later: " + command_hint(
            "interview", self.session_id, server, "--resume"
        )
        self.export_hint = command_hint("export", self.session_id, server)
        self._last_interrupt = float("-inf")
        self._kind = ""  # kind of the last interviewer turn
        self._draft = ""  # an answer the server refused, offered again for editing

    def _second_interrupt(self) -> bool:
        now = time.monotonic()
        second = now - self._last_interrupt < LEAVE_WINDOW
        self._last_interrupt = now
        return second

    @contextlib.contextmanager
    def _sigint(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.follower.inject, Interrupt())
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def run(self, first_turn: str | None) -> int:
        """Stream ``first_turn`` if given, then loop until the interview ends or the user leaves."""
        try:
            if first_turn is not None and await self._after(await self.stream(first_turn)):
                return 0
            while True:
                line = await self._read()
                if line is None or line.strip() == "/quit":
                    self.out.info(self.resume_hint)
                    return 0
                if await self._handle(line.strip()):
                    return 0
        except Leave:
            self.out.info(self.resume_hint)
            return EXIT_LEFT

    async def _read(self) -> str | None:
        while True:
            try:
                if self.out.plain:
                    with self._sigint():
                        line = await self._read_or_interrupt()
                else:
                    line, self._draft = await self.prompter.read(self._draft), ""
            except KeyboardInterrupt:
                if self._second_interrupt():
                    raise Leave from None
                self.out.info("(Ctrl-C again to leave, or type /quit)")
                continue
            if line is None or line.strip():
                return line

    async def _read_or_interrupt(self) -> str | None:
        """A line from the pipe, or KeyboardInterrupt if SIGINT comes first."""
        reading = asyncio.ensure_future(self.prompter.read())
        interrupted = asyncio.ensure_future(self._next_interrupt())
        done, _ = await asyncio.wait({reading, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        if reading in done:
            interrupted.cancel()
            return reading.result()
        reading.cancel()
        interrupted.result()  # the connection's end for good, if that is what came
        raise KeyboardInterrupt

    async def _next_interrupt(self) -> None:
        while not isinstance(await self.follower.next_event(), Interrupt):
            pass  # at the prompt nothing streams; other events are stale

    async def _handle(self, line: str) -> bool:
        """Send one move and stream its reply; True when the interview is over."""
        if line == "/help":
            self.out.info(HELP)
            return False
        if line.startswith("/") and line.split()[0] not in MOVES:
            self.out.warn(f"Unknown command {line.split()[0]}; type /help for the commands.")
            return False
        if self.out.plain:  # in a terminal, the prompt has left the answer on the screen
            self.out.out.print(f"You: {line}", markup=False)
        self.out.out.print()
        try:
            if line in MOVES:
                turn_id = await self.api.move(self.session_id, MOVES[line])
            else:
                turn_id = await self.api.move(self.session_id, "answers", line)
        except HotseatError as error:
            self.out.error(move_advice(error))
            if line not in MOVES:
                self._draft = line  # not lost: edit it (a shorter one, say) and send again
            return False
        return await self._after(await self.stream(turn_id))

    async def _after(self, ending: Ending) -> bool:
        if ending.kind == "report" and ending.done:
            self.out.info(f"The interview is finished. Your report: {self.export_hint}")
            return True
        if ending.kind == "closing" and ending.done:
            self.out.info("That was the last question: type /finish for your report.")
        return False

    async def stream(self, turn_id: str) -> Ending:
        """Show turns as they stream until ``turn_id`` ends."""
        self.follower.follow(turn_id)
        view: TurnView | None = None
        shown: str | None = None
        stopping = False
        try:
            with self._sigint(), quiet_keyboard():
                while True:
                    event = await self.follower.next_event()
                    if isinstance(event, TurnStarted):
                        if view is not None and event.turn_id == shown and event.restart:
                            view.restart()
                            continue
                        if view is not None:
                            view.close()
                        view, shown, self._kind = self.out.turn(event.kind), event.turn_id, event.kind
                        view.status(STREAMING, routine=True)
                    elif isinstance(event, Interrupt):
                        if self._second_interrupt():
                            raise Leave
                        stopping = True
                        await self.follower.cancel(shown or turn_id)
                        if view is not None:
                            view.status("stopping the reply · Ctrl-C again to leave", routine=True)
                    elif isinstance(event, Text) and view is not None and event.turn_id == shown:
                        view.add(event.text)
                    elif isinstance(event, Queued) and view is not None:
                        view.status(f"waiting for the model: number {event.position} in the queue")
                    elif isinstance(event, Reconnecting):
                        message = f"connection lost ({event.reason}); reconnecting…"
                        (view.notice if view else self.out.warn)(message)
                    elif isinstance(event, Reconnected):
                        (view.notice if view else self.out.info)("reconnected; resuming")
                        if view is not None:
                            view.status("stopping the reply" if stopping else STREAMING, routine=True)
                    elif isinstance(event, Rejected):
                        (view.notice if view else self.out.warn)(event.error.message)
                    elif isinstance(event, TurnEnded):
                        if view is not None and event.turn_id == shown:
                            view.close(end_note(event))
                            view = None
                        if event.turn_id == turn_id:
                            return Ending(
                                self._kind, event.error is None and event.finish_reason != "cancelled"
                            )
        finally:
            if view is not None:
                view.close()


def end_note(event: TurnEnded) -> str | None:
    if event.error is not None:
        wait = event.error.retry_after
        later = f" in {wait:.0f} s" if wait else ""
        return f"(the reply failed: {event.error.message} Type /retry{later} to ask again.)"
    if event.finish_reason == "cancelled":
        return ended_note("cancelled", None)
    if event.finish_reason == "length":
        return "(the reply reached the server's length limit, HOTSEAT_MAX_TOKENS)"
    return None


def move_advice(error: HotseatError) -> str:
    """The server's message, and what to do when the message alone does not say."""
    if error.code == "rate_limited" and error.retry_after:
        return f"{error.message} Try again in {error.retry_after:.0f} s."
    return error.message
