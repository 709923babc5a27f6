"""Prometheus metrics, served at ``GET /metrics``.

Cheap on the hot path by design: per token, the runner makes one histogram
observation (the inter-token gap); counters of delivered tokens are bumped once
per batch a transport sends, not once per token; generated tokens once per turn.

``set_enabled(False)`` (``HOTSEAT_METRICS_ENABLED=false``) swaps every
instrument below for one that does nothing, so the cost of metrics can be
measured by turning them off (docs/performance.md). Callers always go through
this module's attributes (``metrics.TURNS.inc()``), never a name imported
from it, so the swap reaches them.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics import MetricWrapperBase

REGISTRY = CollectorRegistry(auto_describe=True)

CONNECTIONS = Gauge(
    "hotseat_open_connections", "Open client connections by transport.", ["transport"], registry=REGISTRY
)
TURNS_RUNNING = Gauge("hotseat_turns_running", "Turns being generated now.", registry=REGISTRY)
TURNS_QUEUED = Gauge("hotseat_turns_queued", "Turns waiting for the local model.", registry=REGISTRY)
TURNS = Counter("hotseat_turns_total", "Turns ended, by final status.", ["status"], registry=REGISTRY)
TIME_TO_FIRST_TOKEN = Histogram(
    "hotseat_time_to_first_token_seconds",
    "From a turn's start to its first text.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
INTER_TOKEN = Histogram(
    "hotseat_inter_token_seconds",
    "Gaps between successive deltas of a turn, as the runner receives them.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
TOKENS_GENERATED = Counter(
    "hotseat_tokens_generated_total", "Deltas produced by the model.", registry=REGISTRY
)
TOKENS_DELIVERED = Counter(
    "hotseat_tokens_delivered_total",
    "Deltas sent to clients (a merged frame counts each delta it carries).",
    ["transport"],
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "hotseat_upstream_errors_total",
    "Turns that ended in an error, by error code.",
    ["code"],
    registry=REGISTRY,
)

EVENT_LOOP_LAG = Histogram(
    "hotseat_event_loop_lag_seconds",
    "How late a 50 ms timer fires on the server's event loop (blocking work shows up here).",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1),
    registry=REGISTRY,
)

# Bound once, so the per-batch path does no label lookup.
WS_DELIVERED = TOKENS_DELIVERED.labels("ws")
SSE_DELIVERED = TOKENS_DELIVERED.labels("sse")
WS_CONNECTIONS = CONNECTIONS.labels("ws")
SSE_CONNECTIONS = CONNECTIONS.labels("sse")


class _Off:
    """Stands in for every instrument while metrics are off: any call does nothing."""

    def labels(self, *_args: object) -> _Off:
        return self

    def inc(self, _amount: float = 1) -> None:
        return None

    def dec(self, _amount: float = 1) -> None:
        return None

    def observe(self, _value: float) -> None:
        return None


# Every instrument defined above, labelled children included, by its module name.
_REAL = {name: value for name, value in globals().items() if isinstance(value, MetricWrapperBase)}


def set_enabled(enabled: bool) -> None:
    """Collect (the default) or not, for the whole process; the registry keeps what it has."""
    for name, instrument in _REAL.items():
        globals()[name] = instrument if enabled else _Off()


async def watch_event_loop_lag(interval: float = 0.05) -> None:
    """Run forever (cancel to stop): observe how late each timer fires."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, loop.time() - start - interval))


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
