"""``python -m doubles.mock_openai``: serve a fixed reply forever, the upstream of the load benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence

from doubles.mock_openai.behaviours import Reply
from doubles.mock_openai.server import MockOpenAI


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a fixed :class:`Reply` forever; the upstream for load benchmarks."""
    parser = argparse.ArgumentParser(
        prog="python -m doubles.mock_openai",
        description="OpenAI-compatible mock upstream that streams a fixed reply, for load benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed on start)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per reply")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="pause between tokens")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="pause before the first token")
    parser.add_argument("--model", default="mock-model")
    parser.add_argument(
        "--ignore-max-tokens",
        action="store_true",
        help="always stream --tokens tokens instead of min(max_tokens, --tokens)",
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (must be installed)")
    args = parser.parse_args(argv)

    mock = MockOpenAI(
        Reply(token_count=args.tokens, delay=args.delay_ms / 1000, ttft=args.ttft_ms / 1000),
        host=args.host,
        port=args.port,
        model=args.model,
        honour_max_tokens=not args.ignore_max_tokens,
        keep_records=False,
    )
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.uvloop:
        import uvloop

        loop_factory = uvloop.new_event_loop

    async def run() -> None:
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            # Benchmark harnesses stop the mock with SIGTERM; still print the summary.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await mock.start()
        print(f"mock upstream listening on {mock.base_url}", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            await mock.aclose()

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(run())
    except KeyboardInterrupt:
        pass
    counts = ", ".join(f"{name}={n}" for name, n in sorted(mock.outcome_counts.items())) or "none"
    print(
        f"mock upstream stopped: connections={mock.connections_accepted} requests: {counts}; "
        f"tokens sent={mock.tokens_sent_total}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
