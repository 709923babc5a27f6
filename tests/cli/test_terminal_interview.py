"""``hotseat interview`` in a real pseudo-terminal (tmux) against a real server.

The server is hotseat under uvicorn on port 0 (``HotseatServer``, what ``hotseat serve`` runs),
with the scripted backend, or the openai backend on the mock upstream where a test must see
the model's connection close. The client is the real command, with its own config directory.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
from tmux import Tmux, words

from doubles.fault_proxy import FaultProxy
from doubles.mock_openai import MockOpenAI, Reply
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread, uvicorn_config_kwargs


def hotseat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotseat", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def stored_session(env: dict[str, str], base_url: str, session_id: str) -> dict[str, object]:
    """The session as its owner sees it: with the cookie the client kept in its config dir."""
    config = json.loads((Path(env["XDG_CONFIG_HOME"]) / "hotseat" / "client.json").read_text())
    cookie = config["servers"][base_url]["cookie"]
    response = httpx.get(
        f"{base_url}/api/sessions/{session_id}", headers={"Cookie": f"hotseat_owner={cookie}"}
    )
    response.raise_for_status()
    session: dict[str, object] = response.json()
    return session


def session_id_on(screen: str) -> str:
    found = re.search(r"Interview (\S+) \(", screen)
    assert found is not None, screen
    return found.group(1)


def turn_on_screen(screen: str, start: str) -> str:
    """The words of the interviewer turn whose text begins with ``start``, notices left out."""
    text = screen[screen.index(start) :].split("›", 1)[0]
    return words(" ".join(line for line in text.splitlines() if "reconnect" not in line))


def test_interview_from_cv_upload_to_exported_report(
    server: ServerThread, backend: ScriptedBackend, tmux: Tmux, cv_file: Path, client_env: dict[str, str]
) -> None:
    """Upload, a two-line answer (Alt-Enter), /skip, /finish, then export sees it all as the same user."""
    backend.enqueue(
        "Hello Jane. **Tell me** about the billing migration.",
        "Thanks. What did you do yourself?",
        "Next: which decision would you change?",
        "You explained the migration clearly.",
    )
    tmux.run("interview", "--server", server.base_url, "--cv", str(cv_file))
    tmux.wait_for(r"Tell me about the billing migration\.")
    assert "**" not in tmux.screen()  # Markdown rendered, not shown raw
    assert re.search(r"Read your CV jane-doe\.md: \d+ characters", tmux.screen())
    tmux.type("I moved 40,000 customers")
    tmux.send("Escape", "Enter")
    tmux.type("and wrote the plan myself.")
    tmux.send("Enter")
    tmux.wait_for("What did you do yourself")
    tmux.type("/skip")
    tmux.send("Enter")
    tmux.wait_for("which decision would you change")
    tmux.type("/finish")
    tmux.send("Enter")
    assert tmux.exit_code() == 0
    screen = tmux.screen()
    assert "You explained the migration clearly." in screen
    session_id = session_id_on(screen)

    listed = hotseat(client_env, "sessions", "list", "--server", server.base_url)
    assert listed.returncode == 0 and session_id in listed.stdout
    report = Path(client_env["XDG_CONFIG_HOME"]).parent / "report.md"
    exported = hotseat(client_env, "export", "--server", server.base_url, "-o", str(report), "--", session_id)
    assert exported.returncode == 0, exported.stderr
    markdown = report.read_text(encoding="utf-8")
    assert "> I moved 40,000 customers\n> and wrote the plan myself." in markdown
    assert "You explained the migration clearly." in markdown


def test_ctrl_c_stops_the_reply_twice_leaves_and_resume_continues(
    openai_server: ServerThread, upstream: MockOpenAI, tmux: Tmux, client_env: dict[str, str]
) -> None:
    """Ctrl-C mid-reply cancels it (the model's connection closes) and keeps the text the server
    kept; Ctrl-C again leaves with 130; --resume shows the transcript and /retry writes it again."""
    url = openai_server.base_url
    upstream.enqueue(Reply(text="Hello. " + " ".join(f"w{i}" for i in range(300)), delay=0.03))
    upstream.enqueue(Reply(text="Let me ask again: which project are you proudest of?"))
    tmux.run("interview", "--server", url)
    tmux.wait_for(r"\bw20\b")
    tmux.send("C-c")
    tmux.wait_for(r"\(stopped")
    assert upstream.wait_for_outcome(0, timeout=10) == "client_closed"
    session_id = session_id_on(tmux.screen())
    opening = stored_session(client_env, url, session_id)["turns"][0]  # type: ignore[index]
    assert opening["status"] == "cancelled"
    assert turn_on_screen(tmux.screen(), "Hello.").removesuffix(
        " (stopped; /retry has it written again, or answer)"
    ) == words(opening["text"])
    tmux.send("C-c")
    assert tmux.exit_code() == 130
    assert f"hotseat interview --server {url} --resume {session_id}" in tmux.screen()

    tmux.run("interview", "--server", url, "--resume", session_id)
    tmux.wait_for(r"\(stopped")
    tmux.type("/retry")
    tmux.send("Enter")
    tmux.wait_for("which project are you proudest of")
    tmux.type("/quit")
    tmux.send("Enter")
    assert tmux.exit_code() == 0


def test_dropped_connection_resumes_with_the_exact_text(
    server: ServerThread, backend: ScriptedBackend, tmux: Tmux, client_env: dict[str, str]
) -> None:
    """The connection is reset mid-reply: "reconnecting…" shows, and the reply goes on from its
    last seq; the screen then holds exactly the stored text, nothing missing, nothing twice."""
    text = "Hello. " + " ".join(f"w{i}" for i in range(90)) + "."
    backend.enqueue(ScriptedReply(text=text, token_delay=0.03), "Thanks, next question.")
    with FaultProxy("127.0.0.1", server.port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}"
        tmux.run("interview", "--server", url)
        tmux.wait_for(r"\bw15\b")
        assert proxy.reset_open() >= 1
        tmux.wait_for("connection lost .*; reconnecting…")
        tmux.wait_for("reconnected; resuming")
        tmux.wait_for(r"w89\.")
        tmux.wait_for("›")
        session_id = session_id_on(tmux.screen())
        stored = stored_session(client_env, url, session_id)["turns"][0]  # type: ignore[index]
        assert stored["text"] == text
        assert turn_on_screen(tmux.screen(), "Hello.") == words(text)
        tmux.type("My answer after the drop.")  # and the moves still go through
        tmux.send("Enter")
        tmux.wait_for("Thanks, next question.")
        tmux.type("/quit")
        tmux.send("Enter")
        assert tmux.exit_code() == 0


def test_a_refused_answer_comes_back_to_edit(
    settings: Settings, backend: ScriptedBackend, tmux: Tmux
) -> None:
    """An answer the server refuses (too long) is shown with the server's message and put back
    at the prompt, not lost; shortened, it goes through."""
    limited = settings.model_copy(update={"max_answer_chars": 30})
    backend.enqueue("Tell me about a project.", "Thanks, and then?")
    with ServerThread(create_app(limited, backend=backend), **uvicorn_config_kwargs(limited)) as server:
        tmux.run("interview", "--server", server.base_url)
        tmux.wait_for("Tell me about a project.")
        tmux.type("I led the billing migration at Acme for years")
        tmux.send("Enter")
        tmux.wait_for("error: .*30")
        # The draft is back at the prompt, below the error.
        tmux.wait_for(r"error: [^›]*\n› I led the billing migration at Acme for years")
        tmux.send("C-u")
        tmux.type("I led the billing migration.")
        tmux.send("Enter")
        tmux.wait_for("Thanks, and then?")
        tmux.type("/quit")
        tmux.send("Enter")
        assert tmux.exit_code() == 0
