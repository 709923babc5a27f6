"""What clients that stop reading cost hotseat: server RSS with N stalled WebSockets vs N reading ones.

    .venv/bin/python -m bench.stalled_clients                  # 200 clients, one 5,000-token turn
    .venv/bin/python -m bench.stalled_clients --clients 200 --tokens 5000 --delay-ms 2 --runs 2

For each mode (``none``, ``reading``, ``stalled``) it starts the mock upstream
and ``hotseat serve`` as fresh processes, creates one session whose opening
turn streams ``--tokens`` tokens (after a pause long enough for every client
to connect), and connects ``--clients`` WebSockets to it (``none``: no client,
the turn's own cost). Each client is a raw asyncio socket with a small
``SO_RCVBUF`` that does the handshake itself, with no compression; a *reading*
client reads every frame until the turn's ``done``, a *stalled* one never
reads a byte after the handshake. The server's VmRSS is sampled every 50 ms
from ``/proc``; the kernel's TCP buffer memory (system wide,
``/proc/net/sockstat``) is read at the end of the turn, which is also timed,
to show that stalled clients do not slow generation. For ``stalled``, the run
then waits until the server has dropped every stalled connection
(``--send-timeout``, read from ``/metrics``) and samples RSS again. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
API_KEY = "bench-stalled-clients"
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Result:
    mode: str
    clients: int
    connected: int
    rss_before: int  # bytes, after warm-up, before any client
    rss_peak: int  # during the turn
    rss_after: int  # when the turn ended
    tcp_kernel: int  # bytes of TCP buffers, system-wide, when the turn ended
    turn_seconds: float
    done_frames: int  # reading clients that saw `done`
    dropped_after: float | None = None  # stalled: seconds from the turn's end until no WebSocket was open
    rss_dropped: int | None = None  # stalled: RSS then
    tcp_released: int | None = None  # stalled: kernel TCP buffers once the kernel timeout has passed too


# -- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def tcp_kernel_bytes() -> int:
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1]) * PAGE
    return 0


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTSEAT_") and "proxy" not in k.lower()}
    return {**env, "NO_PROXY": "*", **extra}


# -- clients --------------------------------------------------------------------------------


async def open_websocket(
    port: int, path: str, rcvbuf: int, *, stall: bool
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect and do the WebSocket handshake by hand; ``stall``: read nothing after the response head."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {API_KEY}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    if stall:
        # asyncio's stream protocol reads ahead into its own buffer; stop it, so the
        # kernel's small receive buffer fills and the window closes.
        writer.transport.pause_reading()
    return reader, writer


async def read_until_done(reader: asyncio.StreamReader) -> bool:
    """Read server frames (unmasked, no extensions) until the turn's terminal event."""
    while True:
        header = await reader.readexactly(2)
        length = header[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(length)
        opcode = header[0] & 0x0F
        if opcode == 0x8:  # close
            return False
        if opcode == 0x1 and (b'"type":"done"' in payload or b'"type":"error"' in payload):
            return True


# -- one measured run ---------------------------------------------------------------------------


async def measure(args: argparse.Namespace, mode: str, pid: int, port: int) -> Result:
    api = f"http://{HOST}:{port}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as http:
        # Warm-up: one short turn through every layer, so imports and caches are not counted.
        warm = (await http.post("/api/sessions", json={"pack": "backend-engineer"})).json()
        await http.get(f"/api/sessions/{warm['id']}/turns/{warm['turn_id']}/events")
        await asyncio.sleep(0.5)
        rss_before = rss(pid)
        # The turn starts now and waits --ttft-ms before its first token: time to connect everyone.
        session = (await http.post("/api/sessions", json={"pack": "backend-engineer"})).json()
        started = time.monotonic()
        count = 0 if mode == "none" else args.clients
        opened = await asyncio.gather(
            *(
                open_websocket(port, f"/ws?session={session['id']}", args.rcvbuf, stall=mode == "stalled")
                for _ in range(count)
            ),
            return_exceptions=True,
        )
        sockets = [o for o in opened if isinstance(o, tuple)]
        readers = [asyncio.create_task(read_until_done(r)) for r, _w in sockets] if mode == "reading" else []
        peak = rss_before
        while True:  # sample until the turn has ended (generation does not wait for clients)
            peak = max(peak, rss(pid))
            health = (await http.get("/api/health")).json()
            if health["running_turns"] == 0:
                break
            await asyncio.sleep(0.05)
        turn_seconds = time.monotonic() - started - args.ttft_ms / 1000
        done = 0
        if readers:
            done = sum(1 for ok in await asyncio.gather(*readers, return_exceptions=True) if ok is True)
        await asyncio.sleep(0.5)  # let the last sends settle
        after = rss(pid)
        peak = max(peak, after)
        kernel = tcp_kernel_bytes()
        dropped_after = rss_dropped = tcp_released = None
        if mode == "stalled":
            ended = time.monotonic()
            # Polling another process: there is nothing to await instead.
            while 'hotseat_open_connections{transport="ws"} 0.0' not in (await http.get("/metrics")).text:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            dropped_after = time.monotonic() - ended
            await asyncio.sleep(0.5)
            rss_dropped = rss(pid)
            # TCP_USER_TIMEOUT is twice the send timeout, counted from the last byte the peer took.
            await asyncio.sleep(2 * args.send_timeout + 1)
            tcp_released = tcp_kernel_bytes()
        for _r, writer in sockets:
            writer.transport.abort()
    return Result(
        mode,
        count,
        len(sockets),
        rss_before,
        peak,
        after,
        kernel,
        turn_seconds,
        done,
        dropped_after,
        rss_dropped,
        tcp_released,
    )


def run(args: argparse.Namespace, mode: str, workdir: Path) -> Result:
    mock_port, port = free_port(), free_port()
    data = workdir / f"{mode}-{port}"
    data.mkdir()
    mock_argv = [
        sys.executable, "-m", "doubles.mock_openai", "--host", HOST, "--port", str(mock_port),
        "--tokens", str(args.tokens), "--delay-ms", str(args.delay_ms), "--ttft-ms", str(args.ttft_ms),
    ]  # fmt: skip
    env = clean_env(
        {
            "HOTSEAT_BACKEND": "openai",
            "HOTSEAT_OPENAI_BASE_URL": f"http://{HOST}:{mock_port}/v1",
            "HOTSEAT_MODEL": "mock",
            "HOTSEAT_MAX_TOKENS": str(args.tokens),
            "HOTSEAT_DATA_DIR": str(data),
            "HOTSEAT_API_KEYS": API_KEY,
            "HOTSEAT_LOG_LEVEL": "warning",
            # Every client is one owner on one address: only the behaviour under test is limited.
            "HOTSEAT_MAX_CONNECTIONS_PER_OWNER": "0",
            "HOTSEAT_MAX_RUNNING_TURNS_PER_OWNER": "0",
            "HOTSEAT_ANSWER_RATE_PER_MINUTE": "0",
            "HOTSEAT_ANSWER_RATE_PER_MINUTE_PER_IP": "0",
            # No protocol pings during the run: a stalled client would not answer them.
            "HOTSEAT_WS_PING_SECONDS": "600",
            "HOTSEAT_SEND_TIMEOUT_SECONDS": str(args.send_timeout),
        }
    )
    with process(mock_argv, clean_env({}), data / "mock.log") as mock:
        wait_http(f"http://{HOST}:{mock_port}/v1/models", mock)
        argv = [sys.executable, "-m", "hotseat", "serve", "--host", HOST, "--port", str(port)]
        with process(argv, env, data / "hotseat.log") as server:
            wait_http(f"http://{HOST}:{port}/api/health", server)
            return asyncio.run(measure(args, mode, server.pid, port))


def mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stalled_clients", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--delay-ms", type=float, default=2.0, help="pause between tokens")
    parser.add_argument("--ttft-ms", type=float, default=3000.0, help="pause before the first token")
    parser.add_argument("--rcvbuf", type=int, default=4096, help="each client's SO_RCVBUF")
    parser.add_argument("--send-timeout", type=float, default=10.0, help="HOTSEAT_SEND_TIMEOUT_SECONDS")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.clients + 256)), hard))

    results = []
    with tempfile.TemporaryDirectory(prefix="hotseat-stalled-") as tmp:
        for _ in range(args.runs):
            for mode in ("none", "reading", "stalled"):
                results.append(run(args, mode, Path(tmp)))
                print(f"  {results[-1]}", file=sys.stderr)
    print(
        f"{args.clients} WebSocket clients, one turn of {args.tokens} tokens ({args.delay_ms:g} ms apart), "
        f"client SO_RCVBUF {args.rcvbuf} B"
    )
    print(
        "| clients | connected | RSS before | RSS peak | peak - before | kernel TCP buffers at turn end "
        "(system) | turn | saw `done` | all stalled dropped after | RSS then | kernel TCP buffers "
        "after the kernel timeout |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        dropped = "-" if r.dropped_after is None else f"{r.dropped_after:.1f} s"
        print(
            f"| {r.mode} | {r.connected} | {mib(r.rss_before)} MiB | {mib(r.rss_peak)} MiB "
            f"| {mib(r.rss_peak - r.rss_before)} MiB | {mib(r.tcp_kernel)} MiB | {r.turn_seconds:.1f} s "
            f"| {r.done_frames if r.mode == 'reading' else '-'} | {dropped} "
            f"| {'-' if r.rss_dropped is None else mib(r.rss_dropped) + ' MiB'} "
            f"| {'-' if r.tcp_released is None else mib(r.tcp_released) + ' MiB'} |"
        )
    return 0 if all(r.connected == r.clients for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
