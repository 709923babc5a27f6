"""The client commands outside a terminal: bad input, a piped interview, sessions and export."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hotseat.llm.scripted import ScriptedBackend
from hotseat.serving import ServerThread
from hx import API_KEY


def hotseat(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotseat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["interview", "--server", "{url}", "--cv", "{tmp}/missing.pdf"],
            "error: No CV file at '{tmp}/missing.pdf'.",
        ),
        (
            ["interview", "--server", "{url}", "--job", "{tmp}/missing.txt"],
            "error: Cannot read the job description",
        ),
        (
            ["sessions", "list", "--server", "http://127.0.0.1:{closed}"],
            "error: Cannot reach the hotseat server",
        ),
        (
            ["interview", "--server", "{url}", "--api-key", "wrong"],
            "error: The server at {url} refused the API key",
        ),
        (["export", "--server", "{url}", "nope"], "error: No interview session 'nope'"),
        (["sessions", "delete", "--server", "{url}", "nope"], "error: No interview session 'nope'"),
        (
            ["sessions", "list", "--server", "localhost:8000"],
            "error: --server must be an http:// or https:// URL",
        ),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_1(
    server: ServerThread, client_env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    """A missing file, an unreachable server, a wrong key or an unknown session: one line, exit 1."""
    values = {"tmp": str(tmp_path), "url": server.base_url, "closed": str(closed_port())}
    result = hotseat(client_env, *[arg.format(**values) for arg in args])
    assert result.returncode == 1
    assert result.stderr.startswith(message.format(**values)), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_piped_interview_is_plain_text(
    server: ServerThread, backend: ScriptedBackend, client_env: dict[str, str]
) -> None:
    """With stdin a pipe, each line is an answer or a /command, and the output has no escape codes."""
    backend.enqueue("Hello. Tell me about **a project** you led.", "Good. What was hard?", "Well done.")
    result = hotseat(
        {**client_env, "TERM": "xterm-256color"},
        "interview",
        "--server",
        server.base_url,
        stdin="I led the billing migration.\n\n/finish\n",
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "" not in result.stderr.splitlines()  # no status lines rendered empty
    assert result.stdout.splitlines()[:8] == [
        "Interviewer:",
        "Hello. Tell me about **a project** you led.",
        "",
        "You: I led the billing migration.",
        "",
        "Interviewer:",
        "Good. What was hard?",
        "",
    ]
    assert "Report:\nWell done.\n" in result.stdout
    assert "The interview is finished. Your report: hotseat export" in result.stderr


def test_api_key_is_kept_and_sessions_commands_use_it(served: str, client_env: dict[str, str]) -> None:
    """Against a real `hotseat serve`: an --api-key given once is kept in the config dir, and
    list, show, export and delete then need none."""
    url = served
    started = hotseat(client_env, "interview", "--server", url, "--api-key", API_KEY, stdin="/finish\n")
    assert started.returncode == 0, started.stderr
    config = Path(client_env["XDG_CONFIG_HOME"]) / "hotseat" / "client.json"
    assert json.loads(config.read_text())["servers"][url] == {"api_key": API_KEY}
    assert config.stat().st_mode & 0o077 == 0  # the user's alone

    listed = hotseat(client_env, "sessions", "list", "--server", url)
    session_id, status, pack, _created = listed.stdout.splitlines()[0].split("\t")
    assert (status, pack) == ("finished", "general-behavioural")
    shown = hotseat(client_env, "sessions", "show", "--server", url, "--", session_id)
    assert "Interviewer:\nThank you. Could you tell me more about that?" in shown.stdout
    exported = hotseat(client_env, "export", "--server", url, "--format", "json", "--", session_id)
    assert json.loads(exported.stdout)["session_id"] == session_id
    deleted = hotseat(client_env, "sessions", "delete", "--server", url, "--", session_id)
    assert deleted.returncode == 0
    assert hotseat(client_env, "sessions", "list", "--server", url).stdout == ""
