"""CI: the benchmark harness works end to end (``python -m bench.run --quick``), in seconds.

It starts the mock upstream, the naive relay and hotseat as real processes and
drives a few streams against all three targets over every transport, plus a
few idle connections. Asserted: no errors, every expected token received,
the measurements present, the table printed. Nothing about timing: CI
machines are too noisy for that, and the numbers belong in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import datastores

ROOT = Path(__file__).resolve().parents[2]
STREAM_PAIRS = {
    ("upstream", "sse"),
    ("naive", "ws"),
    ("naive", "sse"),
    ("hotseat", "ws"),
    ("hotseat", "sse"),
}


def run_quick(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """``python -m bench.run --quick`` with ``options``; asserts it exits 0; returns it and its rows."""
    results = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "bench.run", "--quick", *options, "--json", str(results)]
    proc = subprocess.run(
        [*argv, "--logs", str(tmp_path / "logs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows: list[dict[str, Any]] = json.loads(results.read_text())["rows"]
    return proc, rows


def test_quick_benchmark_runs_clean(tmp_path: Path) -> None:
    """Every target x transport streams every token with 0 errors, and one table is printed."""
    proc, rows = run_quick(tmp_path)

    streams = [row for row in rows if row["idle_held"] is None]
    assert {(row["target"], row["transport"]) for row in streams} == STREAM_PAIRS
    for row in streams:
        label = f"{row['target']}/{row['transport']}"
        assert row["errors"] == 0, (label, row["error_kinds"])
        assert row["expected_tokens"] > 0
        assert row["tokens"] == row["expected_tokens"], label
        assert row["bytes_received"] > 0, label
        assert row["ttft_p50"] is not None and row["gap_p99"] is not None, label
        assert row["server_cpu"] is not None and row["rss_peak"], label

    idle = [row for row in rows if row["idle_held"] is not None]
    assert {(row["target"], row["transport"]) for row in idle} == {
        ("hotseat", "ws"),
        ("hotseat", "sse"),
        ("naive", "ws"),
    }
    for row in idle:
        assert row["errors"] == 0, row["error_kinds"]
        assert row["idle_held"] == row["clients"] > 0
        assert row["rss_held"] and row["rss_before"]

    table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| scen ") and "CPU s/1k tok" in table[0]
    assert len(table) == 2 + len(rows)  # header, rule, one line per row


def test_quick_benchmark_of_a_replica_on_postgres_and_redis(tmp_path: Path) -> None:
    """``--shared-stores``: hotseat streams every token as a scale-out replica, and the CPU of
    Redis and PostgreSQL is reported with each row."""
    datastores.require_binaries()
    proc, rows = run_quick(tmp_path, "--scenario", "Q", "--target", "hotseat", "--shared-stores")
    assert "HOTSEAT_REDIS_URL" in proc.stderr and "postgresql" in proc.stderr
    assert {row["transport"] for row in rows} == {"ws", "sse"}
    for row in rows:
        assert row["errors"] == 0, row["error_kinds"]
        assert row["tokens"] == row["expected_tokens"] > 0
        assert "redis cpu" in row["note"] and "postgres cpu" in row["note"], row["note"]


def test_quick_benchmark_of_the_floor_relay(tmp_path: Path) -> None:
    """``--target floor`` (bench/floor_relay.py) runs only when named, and relays every token, each
    frame carrying only its own text; ``--timeline`` prints each row's TTFT by start time."""
    proc, rows = run_quick(tmp_path, "--scenario", "Q", "--target", "floor", "--timeline", "0.5")
    assert proc.stderr.count("TTFT by start time (floor/") == 2, proc.stderr[-2000:]
    assert {(row["target"], row["transport"]) for row in rows} == {("floor", "ws"), ("floor", "sse")}
    for row in rows:
        assert row["errors"] == 0, row["error_kinds"]
        assert row["tokens"] == row["expected_tokens"] > 0
        # Deltas only: far fewer bytes per token than the naive relay's whole-text frames.
        assert row["bytes_received"] / row["tokens"] < 40, row["bytes_received"]
