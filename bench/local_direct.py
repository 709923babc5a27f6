"""What LocalBackend costs on top of llama-cpp-python, and what it spares the event loop.

Runs the same prompt, greedy, N times with each of:

- direct:  ``Llama.create_chat_completion(stream=True)`` called in a plain loop;
- backend: ``LocalBackend.stream`` consumed from asyncio (worker thread + queue hop);
- +ticker: the same while a 1 ms asyncio ticker runs (the CPU it needs is not free);

and reports time to first token, decode tokens/s, and the lateness of the 1 ms
ticker while the backend generates (p50/p99/max), next to the same ticker on
an idle loop. Both paths load the model the same way
(``hotseat.llm.gguf.load_model``), each in its own instance, one after the other.
Run 1 of each path evaluates the whole prompt; later runs reuse the KV cache
for the shared prefix, as consecutive interview turns do.

    .venv/bin/python bench/local_direct.py [--runs 5] [--max-tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from hotseat.llm.base import ChatMessage, GenerationParams, StreamEnd
from hotseat.llm.gguf import default_model_path, load_model
from hotseat.llm.local import LocalBackend

MESSAGES = [
    ChatMessage("system", "You are a patient technical interviewer."),
    ChatMessage("user", "Count from 1 to 300, separated by commas."),  # reliably long at temperature 0
]


@dataclass
class Run:
    ttft: float  # seconds from the call to the first text delta
    tokens: int
    total: float  # seconds from the call to the end of the stream

    @property
    def decode_rate(self) -> float:
        """Tokens per second after the first one (generation speed, prompt excluded)."""
        return (self.tokens - 1) / (self.total - self.ttft) if self.tokens > 1 else 0.0


def run_direct(llm: Any, max_tokens: int) -> Run:
    messages = [{"role": m.role, "content": m.content} for m in MESSAGES]
    start = time.perf_counter()
    ttft = 0.0
    tokens = 0
    for chunk in llm.create_chat_completion(messages, stream=True, max_tokens=max_tokens, temperature=0.0):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            if tokens == 1:
                ttft = time.perf_counter() - start
    return Run(ttft, tokens, time.perf_counter() - start)


async def run_backend(backend: LocalBackend, max_tokens: int) -> Run:
    start = time.perf_counter()
    ttft = 0.0
    tokens = 0
    async for item in backend.stream(MESSAGES, GenerationParams(max_tokens=max_tokens, temperature=0.0)):
        if isinstance(item, str) and not ttft:
            ttft = time.perf_counter() - start
        if isinstance(item, StreamEnd) and item.usage is not None:
            tokens = item.usage.completion_tokens
    return Run(ttft, tokens, time.perf_counter() - start)


class Ticker:
    """Sleeps 1 ms in a loop and records how late each wake-up is."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lateness.append(time.perf_counter() - before - 0.001)

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, runs: list[Run]) -> str:
    warm = runs[1:] or runs
    return (
        f"{name:<8} {runs[0].ttft * 1000:>12.1f} {statistics.median(r.ttft for r in warm) * 1000:>12.1f}"
        f" {statistics.median(r.decode_rate for r in runs):>11.1f}"
        f" {statistics.median(r.tokens / r.total for r in runs):>12.1f} {runs[0].tokens:>7d}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: half the CPUs)")
    parser.add_argument("--n-ctx", type=int, default=2048)
    args = parser.parse_args()
    path = default_model_path()

    llm = load_model(path, n_ctx=args.n_ctx, n_threads=args.threads)
    direct = [run_direct(llm, args.max_tokens) for _ in range(args.runs)]
    threads = llm.n_threads
    llm.close()

    with Ticker() as idle:
        await asyncio.sleep(1.0)

    backend = LocalBackend(path, n_ctx=args.n_ctx, n_threads=args.threads)
    await backend.start()
    through_backend = [await run_backend(backend, args.max_tokens) for _ in range(args.runs)]
    with Ticker() as busy:
        ticking = [await run_backend(backend, args.max_tokens) for _ in range(args.runs)]
    await backend.aclose()

    print(f"model {path.name}, n_ctx {args.n_ctx}, threads {threads}, {args.runs} runs x {args.max_tokens}")
    print()
    header = ("path", "ttft cold ms", "ttft warm ms", "decode tok/s", "overall tok/s", "tokens")
    print("{:<8} {:>12} {:>12} {:>11} {:>12} {:>7}".format(*header))
    print(summary("direct", direct))
    print(summary("backend", through_backend))
    print(summary("+ticker", ticking))
    print()
    print(f"{'loop lag (1 ms ticker)':<24} {'ticks':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, ticker in (("idle loop", idle), ("during backend runs", busy)):  # the +ticker runs
        lag = ticker.lateness
        print(
            f"{name:<24} {len(lag):>6d} {pct(lag, 0.5) * 1000:>8.2f} {pct(lag, 0.99) * 1000:>8.2f}"
            f" {max(lag) * 1000:>8.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
