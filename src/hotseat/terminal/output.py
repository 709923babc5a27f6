"""What the terminal client shows, in two forms chosen once per run.

In a terminal (stdin and stdout both ttys) the interviewer's words stream into a Rich ``Live``
region: the paragraph being written is rendered as Markdown and wrapped, with a status line under
it; each finished paragraph is printed for good above it. In a pipe everything is plain text
with no escape codes: the words as they arrive, and notices on stderr, so that an interview can
be scripted. Rich honours ``NO_COLOR`` by itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, Protocol

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

LABELS = {"report": "Report", "answer": "You", "skip": "You"}
# Lines of the screen kept free under a paragraph that streams (the status line and the prompt).
RESERVED_LINES = 3


def label(kind: str) -> str:
    return LABELS.get(kind, "Interviewer")


class Trimmed:
    """A renderable without its leading and trailing blank lines (Rich starts a Markdown list with
    one), and with ``tail``, only its last lines that fit on the screen: a long paragraph then
    scrolls as it streams instead of overflowing the live region, which would print it again on
    every refresh."""

    def __init__(self, renderable: RenderableType, *, tail: bool = False) -> None:
        self.renderable = renderable
        self.tail = tail

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
        while lines and not "".join(segment.text for segment in lines[0]).strip():
            lines.pop(0)
        while lines and not "".join(segment.text for segment in lines[-1]).strip():
            lines.pop()
        if self.tail:
            lines = lines[-max(1, console.size.height - RESERVED_LINES) :]
        for line in lines:
            yield from line
            yield Segment.line()


def markdown(text: str) -> Trimmed:
    return Trimmed(Markdown(text))


class TurnView(Protocol):
    """One interviewer turn as it streams."""

    def add(self, text: str) -> None: ...
    def status(self, message: str, *, routine: bool = False) -> None:
        """The status line; a ``routine`` one (replying, stopping) only where a status line shows."""
        ...

    def notice(self, message: str) -> None: ...
    def restart(self) -> None: ...
    def close(self, note: str | None = None) -> None: ...


class RichTurnView:
    def __init__(self, console: Console, kind: str) -> None:
        self.console = console
        self.pending = ""  # the paragraph being written; earlier ones are printed for good
        self._status = "replying"
        console.print(Text(label(kind), style="bold cyan"))
        self.live = Live(self._view(), console=console, transient=True, refresh_per_second=12)
        self.live.start()

    def _view(self) -> RenderableType:
        spinner = Spinner("dots", Text(self._status, style="dim"), style="cyan")
        if not self.pending.strip():
            return spinner
        return Group(Trimmed(Markdown(self.pending), tail=True), spinner)

    def add(self, text: str) -> None:
        self.pending += text
        while "\n\n" in self.pending:
            done, self.pending = self.pending.split("\n\n", 1)
            if done.strip():
                self.live.console.print(markdown(done))
                self.live.console.print()
        self.live.update(self._view())

    def status(self, message: str, *, routine: bool = False) -> None:
        self._status = message
        self.live.update(self._view())

    def notice(self, message: str) -> None:
        self.live.console.print(Text(message, style="yellow"))

    def restart(self) -> None:
        self.notice("(the reply is sent again from its start)")
        self.pending = ""
        self.live.update(self._view())

    def close(self, note: str | None = None) -> None:
        self.live.stop()
        if self.pending.strip():
            self.console.print(markdown(self.pending))
        if note:
            self.console.print(Text(note, style="yellow"))
        self.console.print()


class PlainTurnView:
    def __init__(self, out: Console, err: Console, kind: str) -> None:
        self.out, self.err = out, err
        self._ended_line = True
        out.print(f"{label(kind)}:")

    def add(self, text: str) -> None:
        if text:
            self.out.file.write(text)
            self.out.file.flush()
            self._ended_line = text.endswith("\n")

    def status(self, message: str, *, routine: bool = False) -> None:
        if not routine:
            self.err.print(f"({message})", markup=False)

    def notice(self, message: str) -> None:
        self.err.print(message, markup=False)

    def restart(self) -> None:
        self._end_line()
        self.notice("(the reply is sent again from its start)")

    def _end_line(self) -> None:
        if not self._ended_line:
            self.out.file.write("\n")
            self._ended_line = True

    def close(self, note: str | None = None) -> None:
        self._end_line()
        if note:
            self.out.print(note, markup=False)
        self.out.print()


class Output:
    """The run's consoles: ``plain`` when input or output is not a terminal."""

    def __init__(self, *, plain: bool | None = None) -> None:
        if plain is None:
            plain = not (sys.stdin.isatty() and sys.stdout.isatty())
        self.plain = plain
        options: dict[str, Any] = (
            {"force_terminal": False, "no_color": True, "soft_wrap": True} if plain else {}
        )
        self.out = Console(highlight=False, **options)
        self.err = Console(stderr=True, highlight=False, **options)

    def turn(self, kind: str) -> TurnView:
        if self.plain:
            return PlainTurnView(self.out, self.err, kind)
        return RichTurnView(self.out, kind)

    def line(self, text: str) -> None:
        """One line exactly as given (tabs kept), for output that scripts read."""
        self.out.file.write(text + "\n")
        self.out.file.flush()

    def info(self, message: str) -> None:
        """A line about the interview (uploads, hints): stdout in a terminal, stderr in a pipe."""
        (self.err if self.plain else self.out).print(Text(message, style="dim"))

    def warn(self, message: str) -> None:
        (self.err if self.plain else self.out).print(Text(message, style="yellow"))

    def error(self, message: str) -> None:
        self.err.print(Text(f"error: {message}", style="bold red"))

    def markdown(self, text: str) -> None:
        """A finished text: rendered in a terminal, as it is in a pipe."""
        if self.plain:
            self.out.print(text, markup=False)
        else:
            self.out.print(markdown(text))

    def transcript(self, turns: Iterable[dict[str, Any]]) -> None:
        """A stored transcript (``GET /api/sessions/{id}``), turn by turn."""
        for turn in turns:
            if turn["role"] == "candidate":
                name = "You"
                self.out.print(Text(f"{name}:" if self.plain else name, style="bold green"))
                self.out.print(turn["text"], markup=False)
                self.out.print()
                continue
            if turn["status"] == "streaming":
                continue  # no text yet: it streams next
            name = label(turn["kind"])
            self.out.print(Text(f"{name}:" if self.plain else name, style="bold cyan"))
            self.markdown(turn["text"])
            note = ended_note(turn["status"], turn.get("error"))
            if note:
                self.warn(note)
            self.out.print()


def ended_note(status: str, error: dict[str, Any] | None) -> str | None:
    """What to say under a turn that did not end normally, and how to go on."""
    if status == "cancelled":
        return "(stopped; /retry has it written again, or answer)"
    if status in ("failed", "interrupted"):
        message = (error or {}).get("message", "the reply failed")
        return f"({message} /retry asks again.)"
    return None
