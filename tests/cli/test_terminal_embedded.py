"""``hotseat interview`` alone on a laptop: no --server, the in-process server, the embedded model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tmux import Tmux


def test_embedded_model_interview_without_a_server(
    tmux: Tmux, client_env: dict[str, str], cv_file: Path, tmp_path: Path
) -> None:
    """With the operator's settings (SmolLM2 in-process): CV upload, a streamed opening, /finish,
    and a later `hotseat export` without --server finds the interview as the same user."""
    env = {**client_env, "HOTSEAT_DATA_DIR": str(tmp_path / "data"), "HOTSEAT_MAX_TOKENS": "8"}
    env.pop("HOTSEAT_BACKEND", None)  # the default: the embedded model
    tmux.env = env
    tmux.run("interview", "--pack", "general-behavioural", "--cv", str(cv_file))
    found = tmux.wait_for(r"Interview (\S+) \(general-behavioural, en, model SmolLM2", timeout=60)
    tmux.wait_for("›", timeout=60)  # the opening turn has streamed and ended
    opening = tmux.screen().split("Interviewer", 1)[1].split("›", 1)[0]
    assert opening.strip(), tmux.screen()
    tmux.type("/finish")
    tmux.send("Enter")
    assert tmux.exit_code(timeout=60) == 0

    report = tmp_path / "report.md"
    exported = subprocess.run(
        [sys.executable, "-m", "hotseat", "export", "-o", str(report), "--", found.group(1)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    assert re.search(r"^# Interview report", report.read_text(encoding="utf-8"), re.MULTILINE)
