"""``LoadResult.ttft_timeline``: first turns' TTFT grouped by when their client started."""

from __future__ import annotations

from bench.loadgen import ClientStats, LoadResult, LoadSpec, TurnStats


def test_windows_follow_the_ramp() -> None:
    """Six clients over a 1.5 s ramp start 0.25 s apart; windows of 0.5 s hold two each. A client
    with no text, or that failed before its first turn, is left out."""
    ttfts = [0.010, 0.030, 0.200, 0.100, None]
    clients = [ClientStats(turns=[TurnStats(started=0.0, ttft=ttft)]) for ttft in ttfts]
    clients.append(ClientStats(error="ConnectionRefusedError"))
    spec = LoadSpec("hotseat", "ws", "http://127.0.0.1:1", clients=len(clients), tokens=1, ramp=1.5)
    result = LoadResult(spec, clients, wall_seconds=2.0, client_cpu_seconds=0.0)
    assert result.ttft_timeline(0.5) == [
        (0.0, 2, 0.010, 0.030),
        (0.5, 2, 0.100, 0.200),
    ]
