"""GET /metrics: Prometheus exposition of connections, turns, latency and tokens."""

from __future__ import annotations

import threading

from prometheus_client import generate_latest

import hx
from hotseat import metrics
from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.llm.scripted import ScriptedBackend, ScriptedReply
from hotseat.serving import ServerThread
from hx import ws_connect


def sample(text: str, name: str) -> float:
    """The sum of a metric's samples (all label sets) in an exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            metric, _, value = line.rpartition(" ")
            if metric == name or metric.startswith(name + "{"):
                total += float(value)
    return total


def test_metrics_count_turns_tokens_and_connections(server: ServerThread, backend: ScriptedBackend) -> None:
    """A streamed turn moves the turn, token, latency and connection metrics."""
    before = hx.get(f"{server.base_url}/metrics").text
    hold = threading.Event()
    backend.enqueue(ScriptedReply("one two three four", token_delay=0.01, hold=hold))
    session = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"}).json()
    with ws_connect(f"{server.ws_url}/ws?session={session['id']}") as ws:
        during = hx.get(f"{server.base_url}/metrics").text
        hold.set()
        while '"done"' not in ws.recv(timeout=10):
            pass
    after = hx.get(f"{server.base_url}/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert sample(during, 'hotseat_open_connections{transport="ws"}') == 1
    assert sample(during, "hotseat_turns_running") == 1
    assert sample(text, "hotseat_turns_running") == 0
    assert (
        sample(text, "hotseat_tokens_generated_total") - sample(before, "hotseat_tokens_generated_total") == 4
    )
    delivered = 'hotseat_tokens_delivered_total{transport="ws"}'
    assert sample(text, delivered) - sample(before, delivered) == 4
    ttft = "hotseat_time_to_first_token_seconds_count"
    assert sample(text, ttft) - sample(before, ttft) == 1
    gaps = "hotseat_inter_token_seconds_count"
    assert sample(text, gaps) - sample(before, gaps) == 3
    assert sample(text, 'hotseat_turns_total{status="complete"}') >= 1


def test_metrics_off_collects_nothing(settings: Settings) -> None:
    """HOTSEAT_METRICS_ENABLED=false: a whole turn leaves every instrument as it was, and
    /metrics is a documented 404 (this is what the cost measurement turns off)."""
    before = generate_latest(metrics.REGISTRY)
    off = settings.model_copy(update={"metrics_enabled": False})
    try:
        with ServerThread(create_app(off, backend=ScriptedBackend())) as server:
            session = hx.post(f"{server.base_url}/api/sessions", json={"pack": "general-behavioural"}).json()
            url = f"{server.ws_url}/ws?session={session['id']}&turn_id={session['turn_id']}"
            with ws_connect(url) as ws:
                while '"done"' not in ws.recv(timeout=10):
                    pass
            refused = hx.get(f"{server.base_url}/metrics")
        after = generate_latest(metrics.REGISTRY)
    finally:
        metrics.set_enabled(True)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert "hotseat_tokens_generated_total" in after.decode()
    assert after == before
