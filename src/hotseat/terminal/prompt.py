"""Reading the candidate's answers.

In a terminal, prompt_toolkit edits the answer: Enter sends it, Alt-Enter (or Esc then Enter)
starts a new line, a paste keeps its newlines, and Ctrl-X Ctrl-E opens ``$EDITOR`` for a long
answer. In a pipe, each line is one answer or one /command, read by a daemon thread so that
leaving never waits for a line that will not come.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

TOOLBAR = " Enter sends · Alt-Enter new line · Ctrl-X Ctrl-E editor · /skip /retry /finish /quit /help "


class Prompter(Protocol):
    async def read(self, draft: str = "") -> str | None:
        """The next answer, editing ``draft`` where it can; None at end of input. In a terminal,
        Ctrl-C raises KeyboardInterrupt."""
        ...


def _bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _new_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class TerminalPrompter:
    def __init__(self) -> None:
        self.session: PromptSession[str] = PromptSession(
            multiline=True,
            key_bindings=_bindings(),
            enable_open_in_editor=True,
            bottom_toolbar=TOOLBAR,
            prompt_continuation="  ",
        )

    async def read(self, draft: str = "") -> str | None:
        try:
            # handle_sigint=False: the interview owns SIGINT while a reply streams, and
            # prompt_toolkit would remove that handler when the prompt ends.
            return await self.session.prompt_async("› ", default=draft, handle_sigint=False)
        except EOFError:
            return None


class LinePrompter:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=self._read_lines, name="stdin", daemon=True).start()

    def _read_lines(self) -> None:
        for line in sys.stdin:
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line.rstrip("\r\n"))
        self._loop.call_soon_threadsafe(self._lines.put_nowait, None)

    async def read(self, draft: str = "") -> str | None:
        return await self._lines.get()
