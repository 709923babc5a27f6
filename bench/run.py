"""One command for the whole benchmark: start the processes, run the scenarios, print one table.

    .venv/bin/python -m bench.run                  # S1..S4, each twice
    .venv/bin/python -m bench.run --scenario S1    # one scenario (repeatable flag)
    .venv/bin/python -m bench.run --quick          # seconds: 4 clients x 2 turns, 20 idle connections

Every measured run starts its processes fresh on free ports (the mock upstream,
and the naive relay or hotseat pointed at it), warms the server up with one
short turn, samples the server's CPU and memory (``bench.procstat``), runs the
load (``bench.loadgen``), samples again and stops everything. Runs of a
scenario go target by target and then repeat, so slow drift on a shared
machine spreads over all targets. Results: the table on stdout (``bench.report``),
progress and notes on stderr, and everything with ``--json PATH``.

Scenarios (the issue's): S1 200 concurrent streams x 200 tokens at 20 ms;
S2 1,000 x 200 tokens at 100 ms; S3 2,000-token replies (bytes per token);
S4 10,000 idle connections held at once (RSS per connection), WS and SSE.
``--shared-stores`` runs hotseat as one replica of a scaled-out deployment, on
PostgreSQL and Redis started for the run (``bench.stores``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

if not __package__:  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import idle, loadgen, pageflow, procstat, report, servers, stores
from bench.loadgen import Target, Transport

T = TypeVar("T")

# S4: the upstream stays silent this long before a first token, so turns stay in progress.
IDLE_TTFT_MS = 30 * 60 * 1000
IDLE_HOTSEAT_ENV = {
    "HOTSEAT_UPSTREAM_READ_TIMEOUT": "3600",
    "HOTSEAT_ORPHAN_GRACE_SECONDS": "3600",
    "HOTSEAT_SHUTDOWN_GRACE_SECONDS": "0",  # the silent turns are interrupted at once on stop
}
STREAM_TARGETS: tuple[tuple[Target, Transport], ...] = (
    ("upstream", "sse"),
    ("naive", "ws"),
    ("naive", "sse"),
    ("hotseat", "ws"),
    ("hotseat", "sse"),
)
# Not in the issue, so only when asked for (``--target floor``): bench/floor_relay.py.
FLOOR_TARGETS: tuple[tuple[Target, Transport], ...] = (("floor", "ws"), ("floor", "sse"))
IDLE_TARGETS: tuple[tuple[Target, Transport], ...] = (("hotseat", "ws"), ("hotseat", "sse"), ("naive", "ws"))


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    tokens: int  # per reply
    delay_ms: float  # between tokens, at the upstream
    clients: int = 0
    turns: int = 1
    ramp: float = 0.0  # client starts spread evenly over this many seconds
    idle: int = 0  # S4: idle connections to hold at once
    idle_sessions: int = 0  # S4: hotseat sessions they are spread over
    # The answer scenarios (A0-A5): hotseat clients follow the page's flow (``bench.pageflow``),
    # only answer turns' TTFT counts, and clients wait ``think`` seconds before each answer.
    answers: bool = False
    think: float = 0.0

    def timeout(self) -> float:
        return self.ramp + self.turns * (3 * self.tokens * self.delay_ms / 1000 + self.think) + 60


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("S1", "200 concurrent streams x 200 tokens at 20 ms", 200, 20, clients=200, ramp=1.0),
        Scenario("S2", "1,000 concurrent streams x 200 tokens at 100 ms", 200, 100, clients=1000, ramp=5.0),
        Scenario(
            "S3", "10 streams x 2,000-token replies at 5 ms (bytes per token)", 2000, 5, clients=10, ramp=0.5
        ),
        Scenario("S4", "10,000 idle connections held at once", 5, 0, idle=10_000, idle_sessions=100),
        # Not in the issue: S1 at a quarter of its token rate, below the point where one core saturates,
        # and the fixed cost of a turn (a one-token reply: session, prompt, upstream request, persistence).
        Scenario("L1", "50 concurrent streams x 200 tokens at 20 ms (S1 / 4)", 200, 20, clients=50, ramp=1.0),
        Scenario(
            "T1", "200 one-token turns over 1 s (the fixed cost of a turn)", 1, 0, clients=200, ramp=1.0
        ),
        # Not in the issue: S1's and S2's streams held concurrently rather than started in a burst.
        # Starts are spread over one reply's length, so turns begin at 50 per second, and each client
        # goes on answering (for hotseat an answer also starts an assessment in the background).
        Scenario(
            "C1",
            "S1's 200 streams held: starts over 4 s, 3 turns each",
            200,
            20,
            clients=200,
            turns=3,
            ramp=4.0,
        ),
        Scenario(
            "C2",
            "S2's 1,000 streams held: starts over 20 s, 2 turns each",
            200,
            100,
            clients=1000,
            turns=2,
            ramp=20.0,
        ),
        # Not in the issue: A3's load (1,000 clients over 5 s, each asking again as soon as its
        # first reply ends) without the page's flow, so that the relays and the floor can run it:
        # how much of A3's answer latency any relay on this stack pays, and how much is hotseat's.
        Scenario(
            "C3",
            "A3's load without sessions: 1,000 over 5 s, 2 turns each",
            200,
            100,
            clients=1000,
            turns=2,
            ramp=5.0,
        ),
        # Not in the issue: A2's flow with one-token turns, so the CPU column is what a candidate's
        # session, opening and answer cost apart from streaming (ms per turn, as for T1).
        Scenario(
            "A0",
            "the page: 200 candidates over 4 s, one answer each, one-token turns (fixed cost)",
            1,
            0,
            clients=200,
            turns=2,
            ramp=4.0,
            answers=True,
        ),
        # Not in the issue: A0 with four answers, so that (A5 - A0) / 3 is what one more answer costs
        # (its matcher, writes, one-token turn and assessment) apart from the candidate's start.
        Scenario(
            "A5",
            "the page: 200 candidates over 4 s, 4 answers each, one-token turns (an answer's cost)",
            1,
            0,
            clients=200,
            turns=5,
            ramp=4.0,
            answers=True,
        ),
        # Issue #25: the page's own flow (new session, opening turn read, then answers); the TTFT
        # is an answer's, from its frame or POST to its first token.
        Scenario(
            "A1",
            "the page: 200 candidates over 1 s, one answer each",
            200,
            20,
            clients=200,
            turns=2,
            ramp=1.0,
            answers=True,
        ),
        Scenario(
            "A2",
            "the page: 200 candidates over 4 s, one answer each",
            200,
            20,
            clients=200,
            turns=2,
            ramp=4.0,
            answers=True,
        ),
        Scenario(
            "A3",
            "the page: 1,000 candidates over 5 s, one answer each",
            200,
            100,
            clients=1000,
            turns=2,
            ramp=5.0,
            answers=True,
        ),
        Scenario(
            "A4",
            "the page: 200 candidates over 4 s, 3 answers each, 1 s think",
            200,
            20,
            clients=200,
            turns=4,
            ramp=4.0,
            answers=True,
            think=1.0,
        ),
    )
}
DEFAULT_SCENARIOS = ("S1", "S2", "S3", "S4")
QUICK = {
    s.name: s
    for s in (
        Scenario("Q", "quick: 4 clients x 2 turns x 20 tokens at 5 ms", 20, 5, clients=4, turns=2),
        Scenario("Q4", "quick: 20 idle connections", 5, 0, idle=20, idle_sessions=2),
        Scenario(
            "QA",
            "quick: 4 page clients x 2 answers x 20 tokens at 5 ms",
            20,
            5,
            clients=4,
            turns=3,
            answers=True,
            think=0.1,
        ),
    )
}


@dataclass(frozen=True)
class Options:
    logs: Path
    compression: bool
    hotseat_env: dict[str, str] = field(default_factory=dict)  # --hotseat-env: extra settings
    stores: stores.SharedStores | None = None  # --shared-stores: their CPU goes in each row's note
    session_start: loadgen.SessionStart = "stream"  # --session-start
    timeline: float | None = None  # --timeline: TTFT by start time, in windows of this many seconds


def _run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """A fresh event loop per run (uvloop when installed: the load generator must stay cheap)."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(make())


def _start_target(
    target: Target, mock: servers.Server, sc: Scenario, logs: Path, env: dict[str, str]
) -> servers.Server:
    if target == "naive":
        return servers.start_naive(mock, logs)
    if target == "floor":
        return servers.start_floor(mock, logs)
    return servers.start_hotseat(mock, sc.tokens, logs, env)


# --------------------------------------------------------------------------- streaming runs (S1-S3)


async def _measure_stream(
    sc: Scenario,
    target: Target,
    transport: Transport,
    run: int,
    server: servers.Server,
    mock: servers.Server,
    opts: Options,
) -> report.Row:
    await loadgen.warm_up(target, transport, server.url, sc.tokens, opts.compression)
    await asyncio.sleep(0.5)
    before = procstat.sample(server.pid)
    mock_before = procstat.cpu_seconds(mock.pid)
    stores_before = opts.stores.cpu_seconds() if opts.stores and target == "hotseat" else {}
    spec = loadgen.LoadSpec(
        target,
        transport,
        server.url,
        sc.clients,
        sc.tokens,
        sc.turns,
        sc.ramp,
        sc.timeout(),
        opts.compression,
        opts.session_start,
        think=sc.think,
        answer_ttft=sc.answers,
        client=pageflow.CLIENTS[transport] if sc.answers and target == "hotseat" else None,
    )
    async with procstat.PeakSampler(server.pid) as peak:
        result = await loadgen.run_load(spec)
    await asyncio.sleep(0.5)  # let closing handshakes finish inside the window
    after = procstat.sample(server.pid)
    if opts.timeline:
        print(f"  TTFT by start time ({target}/{transport}, ms):", file=sys.stderr)
        for start, count, p50, worst in result.ttft_timeline(opts.timeline):
            print(
                f"    {start:6.2f} s  n={count:<5d} p50={p50 * 1000:7.1f}  max={worst * 1000:7.1f}",
                file=sys.stderr,
            )
    row = report.Row.of_load(sc.name, run, result)
    row.answers = result.answers if sc.answers else None
    row.server_cpu = after.cpu_seconds - before.cpu_seconds
    if server is not mock:
        row.upstream_cpu = procstat.cpu_seconds(mock.pid) - mock_before
    row.rss_before = before.rss_bytes
    row.rss_peak = max(peak.rss_bytes, after.hwm_bytes)
    if opts.stores and stores_before:
        spent = {name: cpu - stores_before[name] for name, cpu in opts.stores.cpu_seconds().items()}
        row.note = ", ".join(f"{name} cpu {cpu:.2f}s" for name, cpu in spent.items())
    return row


def run_stream(sc: Scenario, target: Target, transport: Transport, run: int, opts: Options) -> report.Row:
    with ExitStack() as stack:
        mock = servers.start_mock(sc.tokens, sc.delay_ms, 0, opts.logs)
        stack.callback(mock.stop)
        server = mock
        if target != "upstream":
            server = _start_target(target, mock, sc, opts.logs, opts.hotseat_env)
            stack.callback(server.stop)
        return _run_async(lambda: _measure_stream(sc, target, transport, run, server, mock, opts))


# --------------------------------------------------------------------------- idle connections (S4)


async def _measure_idle(
    sc: Scenario, target: Target, transport: Transport, run: int, server: servers.Server, opts: Options
) -> report.Row:
    sessions: list[idle.SilentSession] = []
    if target == "hotseat":
        sessions = await idle.create_silent_sessions(server.url, sc.idle_sessions)
    # One connection opened and dropped first, so one-off set-up is not charged per connection.
    async with idle.hold_idle(target, transport, server.url, 1, sessions, compression=opts.compression):
        pass
    await asyncio.sleep(1.0)
    before = procstat.sample(server.pid)
    t0 = time.perf_counter()
    async with idle.hold_idle(
        target, transport, server.url, sc.idle, sessions, compression=opts.compression
    ) as hold:
        connect_seconds = time.perf_counter() - t0
        await asyncio.sleep(2.0)  # let the server settle with everything open
        held = procstat.sample(server.pid)
    row = report.Row(sc.name, target, transport, run, clients=sc.idle)
    row.idle_held = hold.connected
    row.errors = hold.failed
    row.error_kinds = hold.errors or None
    row.rss_before = before.rss_bytes
    row.rss_held = held.rss_bytes
    row.rss_peak = held.hwm_bytes
    row.server_cpu = held.cpu_seconds - before.cpu_seconds
    row.wall = connect_seconds
    row.note = (
        f"RSS {before.rss_bytes / 2**20:.0f} -> {held.rss_bytes / 2**20:.0f} MB with {hold.connected} open; "
        f"{row.server_cpu / max(hold.connected, 1) * 1e6:.0f} us server CPU per connection set-up"
    )
    return row


def run_idle(sc: Scenario, target: Target, transport: Transport, run: int, opts: Options) -> report.Row:
    with ExitStack() as stack:
        mock = servers.start_mock(sc.tokens, 0, IDLE_TTFT_MS, opts.logs)
        stack.callback(mock.stop)
        server = _start_target(target, mock, sc, opts.logs, {**IDLE_HOTSEAT_ENV, **opts.hotseat_env})
        stack.callback(server.stop)
        return _run_async(lambda: _measure_idle(sc, target, transport, run, server, opts))


# --------------------------------------------------------------------------- the command


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "hotseat": str(servers.hotseat_src or "installed working tree"),
        "git": _git_state(),
    }


def _git_state() -> str:
    """The commit checked out and whether src/ differs from it (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=servers.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=servers.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}"


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every server started so far is stopped."""
    raise KeyboardInterrupt


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; children (the servers) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Descriptors a server needs besides its idle connections (upstream, database, logs, listening socket).
FD_HEADROOM = 500


def _sized(sc: Scenario, idle_count: int | None, fd_limit: int, clients: int | None = None) -> Scenario:
    """Apply ``--idle`` and ``--clients``, and cap idle connections at what the open-file limit
    allows (saying so)."""
    if not sc.idle:
        if clients is None or clients == sc.clients:
            return sc
        # The same ramp: starts per second and tokens per second grow with the client count.
        return dataclasses.replace(sc, clients=clients, about=f"{sc.about}, run with {clients:,} clients")
    wanted = idle_count or sc.idle
    allowed = max(1, fd_limit - FD_HEADROOM)
    if wanted > allowed:
        print(
            f"{sc.name}: {wanted} idle connections need one descriptor each in the server and in the "
            f"load generator, but the open-file limit is {fd_limit}; holding {allowed} instead",
            file=sys.stderr,
        )
        wanted = allowed
    if wanted == sc.idle:
        return sc
    return dataclasses.replace(sc, idle=wanted, about=f"{wanted:,} idle connections held at once")


def run_scenario(
    sc: Scenario, runs: int, targets: list[str] | None, opts: Options, transports: list[str] | None = None
) -> tuple[list[report.Row], bool]:
    """Every run of one scenario, target by target; (rows, whether any run failed outright)."""
    rows: list[report.Row] = []
    failed = False
    pairs = [
        (target, transport)
        for target, transport in (IDLE_TARGETS if sc.idle else STREAM_TARGETS + FLOOR_TARGETS)
        if (target in targets if targets else target != "floor")
        and (transport in transports or target == "upstream" if transports else True)
    ]
    for run in range(1, runs + 1):
        for target, transport in pairs:
            label = f"{sc.name} run {run} {target}/{transport}"
            print(f"{label}: {sc.about} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                if sc.idle:
                    row = run_idle(sc, target, transport, run, opts)
                else:
                    row = run_stream(sc, target, transport, run, opts)
            except Exception as exc:
                failed = True
                print(f"{label}: FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            rows.append(row)
            took = time.monotonic() - started
            print(f"  done in {took:.1f} s: {report.notes([row]).split(': ', 1)[1]}", file=sys.stderr)
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        help="S1-S4, L1, T1, C1-C3, or A0-A5 (the page's answers; repeatable; default S1-S4)",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny version in seconds (CI)")
    parser.add_argument(
        "--target",
        action="append",
        choices=loadgen.TARGETS,
        help="only these targets (repeatable; default all but floor, which runs only when named)",
    )
    parser.add_argument(
        "--transport", action="append", choices=("ws", "sse"),
        help="only this transport for the relays and hotseat (repeatable; the upstream always runs)",
    )  # fmt: skip
    parser.add_argument(
        "--pin", action="store_true",
        help="confine the measured server to CPU 0, and the mock and this load generator to CPU 1",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, help="repeats of each scenario (default 2, quick 1)")
    parser.add_argument("--idle", type=int, help="S4: idle connections to hold (default 10000)")
    parser.add_argument(
        "--clients", type=int,
        help="streaming scenarios: this many clients instead of the scenario's, starts over the same "
        "ramp (a load N/clients times as heavy: how far a target is from its limit)",
    )  # fmt: skip
    parser.add_argument(
        "--ws-compression", choices=("deflate", "none"), default="deflate",
        help="offer permessage-deflate from WS clients, as browsers do (default) or not",
    )  # fmt: skip
    parser.add_argument(
        "--session-start", choices=("stream", "post"), default="stream",
        help="hotseat clients start their session on the stream itself (a WS start frame, or a POST "
        "answered with the event stream; default) or with a plain POST /api/sessions before it",
    )  # fmt: skip
    parser.add_argument(
        "--hotseat-src",
        type=Path,
        help="run the hotseat package found in this directory (e.g. a `git archive` export's src/) "
        "instead of the installed working tree",
    )
    parser.add_argument(
        "--hotseat-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for hotseat (repeatable), e.g. HOTSEAT_METRICS_ENABLED=false",
    )
    parser.add_argument(
        "--shared-stores",
        action="store_true",
        help="run hotseat as one scale-out replica on PostgreSQL and Redis, started here "
        "(bench/stores.py); their CPU is reported in each row's note",
    )
    parser.add_argument(
        "--timeline", type=float, metavar="SECONDS",
        help="also print each streaming row's first-turn TTFT (p50 and max) by client start time, "
        "in windows of this many seconds of the ramp",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write every row and the machine info here")
    parser.add_argument("--logs", type=Path, help="keep server logs here (default: a temp dir, removed)")
    args = parser.parse_args(argv)

    catalogue = QUICK if args.quick else SCENARIOS
    names = (
        [n.upper() for n in args.scenario]
        if args.scenario
        else list(QUICK if args.quick else DEFAULT_SCENARIOS)
    )
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(catalogue)}")
    runs = args.runs or (1 if args.quick else 2)
    fd_limit = raise_fd_limit()
    if args.hotseat_src is not None:
        if not (args.hotseat_src / "hotseat" / "__init__.py").is_file():
            parser.error(f"no hotseat package in {args.hotseat_src}")
        servers.hotseat_src = args.hotseat_src.resolve()
    if args.pin:
        servers.pinned_cpus.update(hotseat="0", naive="0", floor="0", mock="1")
        os.sched_setaffinity(0, {1})
    signal.signal(signal.SIGTERM, _terminate)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="hotseat-bench-"))
    hotseat_env = dict(pair.partition("=")[::2] for pair in args.hotseat_env)
    if any(not name.startswith("HOTSEAT_") for name in hotseat_env):
        parser.error("--hotseat-env takes HOTSEAT_NAME=VALUE")
    shared = ExitStack()
    shared_stores = shared.enter_context(stores.running()) if args.shared_stores else None
    if shared_stores is not None:
        hotseat_env = {**shared_stores.env, **hotseat_env}
    opts = Options(
        logs, args.ws_compression == "deflate", hotseat_env, shared_stores, args.session_start, args.timeline
    )
    info = machine()
    print(
        f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"load average {info['loadavg'][0]:.2f}, open files {fd_limit}, "
        f"ws compression {args.ws_compression}, session start {args.session_start}"
        f"{', pinned: server on CPU 0, mock and load generator on CPU 1' if args.pin else ''}; "
        f"hotseat: {info['hotseat']} (checkout {info['git']})"
        + (f", settings {hotseat_env}" if hotseat_env else ""),
        file=sys.stderr,
    )

    rows: list[report.Row] = []
    failed = False
    try:
        for name in names:
            sc = _sized(catalogue[name], args.idle, fd_limit, args.clients)
            scenario_rows, scenario_failed = run_scenario(sc, runs, args.target, opts, args.transport)
            rows += scenario_rows
            failed = failed or scenario_failed
    finally:
        shared.close()
        if args.logs is None and not failed:
            shutil.rmtree(logs, ignore_errors=True)
        elif failed:
            print(f"server logs kept in {logs}", file=sys.stderr)

    info["loadavg_end"] = os.getloadavg()
    print()
    print(report.table(rows))
    print()
    print(report.notes(rows), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": [r.to_dict() for r in rows]}, indent=2))
    errors = sum(r.errors for r in rows)
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
