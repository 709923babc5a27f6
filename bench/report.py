"""The results table: one row per scenario x target x transport x run, with ratios.

Ratios compare rows of the same scenario and run number:

- ``+p99``: TTFT p99 minus the upstream's (the mock read directly over OpenAI SSE);
- ``gap99 x``: inter-token gap p99 divided by the upstream's;
- ``CPU x naive``: server CPU per 1,000 delivered tokens divided by the naive
  relay's on the same transport;
- ``B/tok x``: bytes read by the clients per delivered token divided by the
  upstream's OpenAI SSE.

Idle rows (S4) fill the connection and memory columns only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.loadgen import LoadResult, percentile


@dataclass(slots=True)
class Row:
    scenario: str
    target: str
    transport: str
    run: int
    clients: int
    tokens: int = 0
    expected_tokens: int = 0
    errors: int = 0
    error_kinds: dict[str, int] | None = None
    ttft_p50: float | None = None
    ttft_p99: float | None = None
    gap_p50: float | None = None
    gap_p99: float | None = None
    frames: int = 0
    merged_frames: int = 0
    server_cpu: float | None = None  # seconds during the measured window
    upstream_cpu: float | None = None  # the mock's, for the noise notes
    client_cpu: float | None = None  # the load generator's
    bytes_received: int = 0
    rss_before: int | None = None
    rss_peak: int | None = None
    rss_held: int | None = None  # S4: with every idle connection open
    wall: float | None = None
    idle_held: int | None = None  # S4: connections open at once
    answers: int | None = None  # A0-A5: answer turns read to their end
    note: str = ""

    @classmethod
    def of_load(cls, scenario: str, run: int, result: LoadResult) -> Row:
        ttfts, gaps = result.ttfts(), result.gaps()
        return cls(
            scenario=scenario,
            target=result.spec.target,
            transport=result.spec.transport,
            run=run,
            clients=result.spec.clients,
            tokens=result.tokens,
            expected_tokens=result.expected_tokens,
            errors=result.errors,
            error_kinds=result.error_kinds or None,
            ttft_p50=percentile(ttfts, 0.5),
            ttft_p99=percentile(ttfts, 0.99),
            gap_p50=percentile(gaps, 0.5),
            gap_p99=percentile(gaps, 0.99),
            frames=result.frames,
            merged_frames=result.merged_frames,
            bytes_received=result.bytes_received,
            client_cpu=result.client_cpu_seconds,
            wall=result.wall_seconds,
        )

    @property
    def cpu_per_1k(self) -> float | None:
        if self.server_cpu is None or not self.tokens:
            return None
        return self.server_cpu / self.tokens * 1000

    @property
    def cpu_per_answer(self) -> float | None:
        """A0-A5: the run's server CPU per answer, its session and opening turn included."""
        if self.server_cpu is None or not self.answers:
            return None
        return self.server_cpu / self.answers

    @property
    def bytes_per_token(self) -> float | None:
        return self.bytes_received / self.tokens if self.tokens else None

    @property
    def kb_per_idle_connection(self) -> float | None:
        if not self.idle_held or self.rss_held is None or self.rss_before is None:
            return None
        return (self.rss_held - self.rss_before) / self.idle_held / 1024

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            cpu_per_1k=self.cpu_per_1k,
            cpu_per_answer=self.cpu_per_answer,
            bytes_per_token=self.bytes_per_token,
            kb_per_idle_connection=self.kb_per_idle_connection,
        )
        return data


def _find(rows: list[Row], row: Row, target: str, transport: str | None = None) -> Row | None:
    for other in rows:
        if (other.scenario, other.run, other.target) == (row.scenario, row.run, target) and (
            transport is None or other.transport == transport
        ):
            return other
    return None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}"


def _pair(a: str, b: str) -> str:
    return "-" if a == "-" and b == "-" else f"{a}/{b}"


COLUMNS = (
    ("scen", "<"), ("target", "<"), ("tr", "<"), ("run", ">"), ("clients", ">"), ("tokens", ">"),
    ("err", ">"), ("TTFT p50/p99 ms", ">"), ("+p99 ms", ">"), ("gap p50/p99 ms", ">"),
    ("gap99 x", ">"), ("merged", ">"), ("CPU s/1k tok", ">"), ("x naive", ">"), ("B/tok", ">"),
    ("x up", ">"), ("peak RSS MB", ">"), ("idle KB/conn", ">"),
)  # fmt: skip


def _cells(rows: list[Row], row: Row) -> list[str]:
    upstream = _find(rows, row, "upstream")
    naive = _find(rows, row, "naive", row.transport)
    is_upstream = row.target == "upstream"
    added = "-"
    if (
        not is_upstream
        and upstream is not None
        and row.ttft_p99 is not None
        and upstream.ttft_p99 is not None
    ):
        added = f"{(row.ttft_p99 - upstream.ttft_p99) * 1000:+.1f}"
    idle = row.idle_held is not None
    tokens = "-" if idle else f"{row.tokens}/{row.expected_tokens}"
    clients = f"{row.idle_held}/{row.clients}" if idle else str(row.clients)
    merged = "-" if idle or not row.frames else f"{100 * row.merged_frames / row.frames:.0f}%"
    cpu = row.cpu_per_1k
    bpt = row.bytes_per_token
    kb = row.kb_per_idle_connection
    return [
        row.scenario,
        row.target,
        row.transport,
        str(row.run),
        clients,
        tokens,
        str(row.errors),
        _pair(_ms(row.ttft_p50), _ms(row.ttft_p99)),
        added,
        _pair(_ms(row.gap_p50), _ms(row.gap_p99)),
        "-" if is_upstream else _ratio(row.gap_p99, upstream.gap_p99 if upstream else None),
        merged,
        "-" if cpu is None else f"{cpu:.3f}",
        "-" if row.target != "hotseat" else _ratio(cpu, naive.cpu_per_1k if naive else None),
        "-" if bpt is None else f"{bpt:.1f}",
        "-" if is_upstream else _ratio(bpt, upstream.bytes_per_token if upstream else None),
        "-" if row.rss_peak is None else f"{row.rss_peak / 2**20:.0f}",
        "-" if kb is None else f"{kb:.1f}",
    ]


def table(rows: list[Row]) -> str:
    """The one table, as aligned plain text (also valid Markdown)."""
    body = [[name for name, _ in COLUMNS]] + [_cells(rows, row) for row in rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(COLUMNS))]

    def fmt(line: list[str]) -> str:
        cells = [
            cell.ljust(w) if align == "<" else cell.rjust(w)
            for cell, w, (_, align) in zip(line, widths, COLUMNS, strict=True)
        ]
        return "| " + " | ".join(cells) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == ">" else ("-" * (w + 2))
            for w, (_, a) in zip(widths, COLUMNS, strict=True)
        )
        + "|"
    )
    return "\n".join([fmt(body[0]), rule, *(fmt(line) for line in body[1:])])


def notes(rows: list[Row]) -> str:
    """Errors by kind, and the side costs (mock and load generator CPU) per row."""
    lines = []
    for row in rows:
        extra = []
        if row.error_kinds:
            extra.append(f"errors {row.error_kinds}")
        if row.upstream_cpu is not None:
            extra.append(f"mock cpu {row.upstream_cpu:.2f}s")
        if row.client_cpu is not None:
            extra.append(f"loadgen cpu {row.client_cpu:.2f}s")
        if row.wall is not None:
            extra.append(f"wall {row.wall:.1f}s")
        if row.server_cpu is not None:
            extra.append(f"server cpu {row.server_cpu:.2f}s")
        if row.cpu_per_answer is not None:
            extra.append(f"{row.cpu_per_answer * 1000:.2f} ms server cpu per answer ({row.answers} answers)")
        if row.note:
            extra.append(row.note)
        lines.append(f"{row.scenario} {row.target}/{row.transport} run {row.run}: " + ", ".join(extra))
    return "\n".join(lines)
