"""Drive the real ``hotseat`` command in a pseudo-terminal: a private tmux server per test.

``send-keys`` types as a person would (Enter, Escape Enter, C-c), ``capture-pane`` reads the
screen as they would see it. Each test gets its own tmux socket, so it starts, reads and ends
only its own server.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
import uuid

EXIT = re.compile(r"EXIT=(\d+)")


class Tmux:
    def __init__(self, env: dict[str, str], *, width: int = 100, height: int = 40) -> None:
        self.env = env
        self.width, self.height = width, height
        self.socket = f"hotseat-test-{uuid.uuid4().hex[:12]}"
        self.started = False

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-u", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
            timeout=10,
        )
        return result.stdout

    def run(self, *args: str) -> None:
        """Start ``python -m hotseat ARGS`` in a fresh window; its exit code is printed after it."""
        command = shlex.join([sys.executable, "-m", "hotseat", *args])
        if self.started:
            self._tmux("kill-session", "-t", "main")
        self._tmux(
            "new-session", "-d", "-s", "main", "-x", str(self.width), "-y", str(self.height),
            f"{command}; echo EXIT=$?; sleep 600",
        )  # fmt: skip
        self.started = True

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "main", *keys)

    def type(self, text: str) -> None:
        """Literal text (``-l``: no key names)."""
        self._tmux("send-keys", "-t", "main", "-l", text)

    def screen(self) -> str:
        """The pane and its scrollback, as plain text."""
        return self._tmux("capture-pane", "-p", "-t", "main", "-S", "-500")

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.screen())
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on screen within {timeout} s:\n{self.screen()}")
            time.sleep(0.05)

    def exit_code(self, timeout: float = 15.0) -> int:
        return int(self.wait_for(EXIT.pattern, timeout).group(1))

    def close(self) -> None:
        if self.started:
            subprocess.run(
                ["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False, timeout=10
            )


def words(text: str) -> str:
    """Text with its wrapping undone: one space between words."""
    return " ".join(text.split())
