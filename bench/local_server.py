"""The embedded model through hotseat (HTTP + WebSocket) versus llama-cpp-python called directly.

Same prompt (the opening turn of a pack, built by hotseat's own prompt code),
same max_tokens, greedy. For each run: time to first token and decode tokens/s.
Through hotseat, the clock starts at ``POST /api/sessions`` and stops at the
WebSocket's ``done`` frame, so the figure includes everything a candidate
waits for. Afterwards, the server's own event-loop lag histogram
(``hotseat_event_loop_lag_seconds``, a 50 ms timer) gives the lag p99 while it
generated.

    .venv/bin/python bench/local_server.py [--runs 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx
from websockets.sync.client import connect

from hotseat.interview.flow import start as opening_plan
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry
from hotseat.interview.prompts import build_messages
from hotseat.llm.gguf import default_model_path, load_model

PACK = "backend-engineer"
API_KEY = "bench-key"


@dataclass
class Run:
    ttft: float
    tokens: int
    decode_seconds: float

    @property
    def rate(self) -> float:
        return (self.tokens - 1) / self.decode_seconds if self.tokens > 1 and self.decode_seconds else 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def through_hotseat(base: str, max_tokens: int) -> Run:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    started = time.perf_counter()
    session = httpx.post(f"{base}/api/sessions", json={"pack": PACK}, headers=headers, timeout=120).json()
    ws_url = base.replace("http", "ws") + f"/ws?session={session['id']}&turn_id={session['turn_id']}"
    first = last = 0.0
    tokens = 0
    with connect(ws_url, additional_headers=headers) as ws:
        while True:
            frame = json.loads(ws.recv(timeout=300))
            if frame["type"] == "delta":
                last = time.perf_counter()
                first = first or last
            if frame["type"] in ("done", "error"):
                tokens = frame.get("usage", {}).get("completion_tokens", 0)
                break
    return Run(first - started, tokens, last - first)


def direct(llm: object, messages: list[dict[str, str]], max_tokens: int) -> Run:
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    for chunk in llm.create_chat_completion(  # type: ignore[attr-defined]
        messages, stream=True, max_tokens=max_tokens, temperature=0.0
    ):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            last = time.perf_counter()
            first = first or last
    return Run(first - started, tokens, last - first)


def lag_p99(metrics_text: str) -> float:
    """The upper bound of the histogram bucket holding the 99th percentile."""
    buckets = []
    for line in metrics_text.splitlines():
        if line.startswith("hotseat_event_loop_lag_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1]
    return next(bound for bound, count in buckets if count >= 0.99 * total)


def summary(name: str, runs: list[Run]) -> tuple[str, float, float]:
    ttft = statistics.median(r.ttft for r in runs) * 1000
    rate = statistics.median(r.rate for r in runs)
    print(
        f"{name:<28} ttft p50 {ttft:8.1f} ms   decode {rate:6.1f} tok/s   tokens {[r.tokens for r in runs]}"
    )
    return name, ttft, rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="hotseat-bench-")
    env = {
        **os.environ,
        "HOTSEAT_BACKEND": "local",
        "HOTSEAT_DATA_DIR": data_dir,
        "HOTSEAT_MAX_TOKENS": str(args.max_tokens),
        "HOTSEAT_TEMPERATURE": "0",
        "HOTSEAT_API_KEYS": API_KEY,
        "HOTSEAT_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen([sys.executable, "-m", "hotseat", "serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("hotseat did not start") from None
                time.sleep(0.2)
        served = [through_hotseat(base, args.max_tokens) for _ in range(args.runs)]
        lag = lag_p99(httpx.get(f"{base}/metrics", timeout=10).text)
    finally:
        server.terminate()
        server.wait(30)

    pack = PackRegistry.load([BUILTIN_PACKS_DIR]).get(PACK)
    _, plan = opening_plan()
    messages = [{"role": m.role, "content": m.content} for m in build_messages(pack, plan, [], language="en")]
    llm = load_model(default_model_path(), n_ctx=4096, n_threads=max(1, (os.cpu_count() or 2) // 2))
    straight = [direct(llm, messages, args.max_tokens) for _ in range(args.runs)]

    print(f"\n{args.runs} runs x {args.max_tokens} tokens, greedy, pack {PACK!r} opening prompt")
    _, hotseat_ttft, hotseat_rate = summary("hotseat (HTTP + WebSocket)", served)
    _, direct_ttft, direct_rate = summary("llama-cpp-python direct", straight)
    print(f"\nthroughput ratio hotseat/direct: {hotseat_rate / direct_rate:.3f}")
    print(f"added ttft p50: {hotseat_ttft - direct_ttft:+.1f} ms")
    print(f"server event-loop lag p99 during the runs: <= {lag * 1000:.1f} ms")


if __name__ == "__main__":
    main()
