"""A real, scriptable OpenAI-compatible HTTP server for tests and load benchmarks.

The test suite points hotseat's ``openai`` backend at it to
exercise real sockets, real SSE parsing and real failure modes: rate limits,
connections cut mid-reply, upstreams that go silent, malformed events, and
clients that hang up. Load benchmarks run it as a separate process
(``python -m doubles.mock_openai --tokens 200 --delay-ms 20``) as an
upstream that can hold thousands of concurrent streams for little CPU.

It is deliberately written on bare ``asyncio`` streams with a minimal HTTP/1.1
implementation (keep-alive, chunked responses) rather than on an ASGI stack:
per-token work is a byte concatenation and a socket write, so the mock is never
the bottleneck of the system it measures. It depends on the standard library
only.

Scripting: each chat request consumes one behaviour from a FIFO
(:meth:`MockOpenAI.enqueue`); when the FIFO is empty, :attr:`MockOpenAI.default`
is used. Every chat request is recorded in :attr:`MockOpenAI.requests` with the
outcome the server observed, so tests can prove, for example, that cancelling
a turn really closed the upstream request.

The modules, by job: ``behaviours`` (what to do with a request, what was seen), ``script``
(the queue and the records), ``server`` (listening, connections, routing), ``responses``
(one reply, streamed or whole), ``openai_shapes`` (OpenAI's JSON and SSE), ``http1`` (the
HTTP/1.1 framing), ``__main__`` (the benchmarks' command).
"""

from doubles.mock_openai.behaviours import (
    LLAMA_CPP_PYTHON_REFUSAL,
    Behaviour,
    Cut,
    Fault,
    Hang,
    Malformed,
    Outcome,
    Reply,
    RequestRecord,
    split_text,
)
from doubles.mock_openai.server import MockOpenAI

__all__ = [
    "LLAMA_CPP_PYTHON_REFUSAL",
    "Behaviour",
    "Cut",
    "Fault",
    "Hang",
    "Malformed",
    "MockOpenAI",
    "Outcome",
    "Reply",
    "RequestRecord",
    "split_text",
]
