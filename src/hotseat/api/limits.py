"""Abuse limits: open connections, running turns, sessions, and token-bucket rates.

Every limit has a setting (docs/security.md lists them) and answers with an
error from the closed set: ``rate_limited`` (429, with ``retry_after``) when
one client is over its share, ``busy`` (503) when the server as a whole is
full, ``conflict`` (409) for the session cap, which waiting does not cure (the
store counts an owner's sessions as it inserts one: ``Store.add_session``).

Owners are free to mint (a browser without a cookie gets a new one), so the
rates are also kept per client IP: the per-owner rates give each candidate a
fair share, the per-IP ones stop a script that rotates cookies.

The mechanisms sit behind two protocols, ``ConnectionCounter`` and
``RateLimiter``. The in-memory implementations here count within this
process; with Redis configured, ``api.redis_limits`` shares the counts across
replicas, without touching the routes. The cap on running turns per owner
(``TurnGate``) stays per replica: it asks the local runner.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection

from hotseat.config import Settings
from hotseat.errors import Busy, RateLimited

# What a refused connection is told to wait: connections end at unpredictable times.
CONNECTION_RETRY_AFTER = 5.0
# Bounds the per-key state of one bucket set; past it the least recently used keys are forgotten.
MAX_BUCKET_KEYS = 100_000

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_minute`` actions on average, up to ``burst`` at once; ``per_minute == 0`` is no limit."""

    per_minute: float
    burst: int

    @property
    def limited(self) -> bool:
        return self.per_minute > 0


class TokenBuckets:
    """One token bucket per key, all with the same rate, in bounded memory.

    A bucket that has refilled completely is the same as no bucket, so keys idle
    for ``burst / rate`` seconds are dropped (from the least recently used end,
    checked on every call), and never more than ``max_keys`` are kept. Forgetting
    a key early only ever grants it a full bucket, never a smaller one.
    """

    def __init__(self, rate: Rate, *, max_keys: int = MAX_BUCKET_KEYS) -> None:
        self.rate = rate
        self._per_second = rate.per_minute / 60.0
        self._max_keys = max_keys
        self._idle = rate.burst / self._per_second if rate.limited else 0.0
        # key -> (tokens, time of the last update); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def wait(self, key: str, now: float, cost: float = 1.0) -> float:
        """Seconds until ``key`` has ``cost`` tokens: 0 when it has them now."""
        self._evict(now)
        tokens = self._tokens(key, now)
        return 0.0 if tokens >= cost else (cost - tokens) / self._per_second

    def take(self, key: str, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key`` (after ``wait`` said 0)."""
        self._buckets[key] = (self._tokens(key, now) - cost, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def _tokens(self, key: str, now: float) -> float:
        state = self._buckets.get(key)
        if state is None:
            return float(self.rate.burst)
        tokens, at = state
        return min(float(self.rate.burst), tokens + (now - at) * self._per_second)

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            _tokens, at = next(iter(buckets.values()))
            if now - at < self._idle:
                return
            buckets.popitem(last=False)


class RateLimiter(Protocol):
    async def hit(self, owner: str, ip: str, cost: float = 1.0) -> None:
        """Count one action by ``owner`` from ``ip``, or raise ``RateLimited`` with ``retry_after``.

        ``cost`` is how many tokens the action takes (the seconds of a recording for the audio
        limit); at most a bucket's burst is asked, so one long action still passes a full bucket.
        """


class MemoryRateLimiter:
    """Per-owner and per-IP buckets for one kind of action, in this process.

    An action is counted only when both buckets allow it, so a refusal costs
    the client nothing.
    """

    def __init__(self, refusal: str, per_owner: Rate, per_ip: Rate, *, clock: Clock = time.monotonic) -> None:
        # ``refusal`` is formatted with the seconds to wait, e.g. "Too many answers; wait {wait} s."
        self._refusal = refusal
        self._clock = clock
        self._buckets = [
            (TokenBuckets(rate), by_ip)
            for rate, by_ip in ((per_owner, False), (per_ip, True))
            if rate.limited
        ]

    async def hit(self, owner: str, ip: str, cost: float = 1.0) -> None:
        if not self._buckets:
            return
        now = self._clock()
        keyed = [(buckets, ip if by_ip else owner) for buckets, by_ip in self._buckets]
        costs = [min(cost, float(buckets.rate.burst)) for buckets, _key in keyed]
        wait = max(buckets.wait(key, now, c) for (buckets, key), c in zip(keyed, costs, strict=True))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(self._refusal.format(wait=seconds), retry_after=float(seconds))
        for (buckets, key), c in zip(keyed, costs, strict=True):
            buckets.take(key, now, c)


# (kind of action, refusal message with "{wait}", per-owner rate, per-IP rate) -> its limiter.
RateLimiterFactory = Callable[[str, str, Rate, Rate], RateLimiter]


def memory_rate_limiter(kind: str, refusal: str, per_owner: Rate, per_ip: Rate) -> RateLimiter:
    del kind  # one process keeps each kind in its own object
    return MemoryRateLimiter(refusal, per_owner, per_ip)


class ConnectionCounter(Protocol):
    async def acquire(self, owner: str) -> None:
        """Count one more open connection, or raise ``RateLimited`` (owner's cap) or ``Busy`` (total)."""

    async def release(self, owner: str) -> None:
        """Count one connection fewer (exactly once per successful ``acquire``)."""

    def open_count(self) -> int:
        """Open connections counted here (all owners)."""


OWNER_CONNECTIONS_REFUSAL = (
    "You already have {count} connections open, the most allowed; close another tab or wait for a "
    "stream to end."
)
ADDRESS_CONNECTIONS_REFUSAL = (
    "Your network address already has {count} connections open, the most this server allows one "
    "address; close some, or ask the operator to raise HOTSEAT_MAX_CONNECTIONS_PER_IP."
)


class MemoryConnectionCounter:
    """Open WebSocket and SSE connections, in total and per owner (or per address), in this process.

    Memory is bounded by the connections themselves: an owner's entry goes with
    its last connection.
    """

    def __init__(
        self, max_total: int, max_per_owner: int, *, refusal: str = OWNER_CONNECTIONS_REFUSAL
    ) -> None:
        # ``refusal`` is formatted with the key's open ``count``.
        self._max_total = max_total
        self._max_per_owner = max_per_owner
        self._refusal = refusal
        self._total = 0
        self._by_owner: dict[str, int] = {}

    async def acquire(self, owner: str) -> None:
        mine = self._by_owner.get(owner, 0)
        if self._max_per_owner and mine >= self._max_per_owner:
            raise RateLimited(self._refusal.format(count=mine), retry_after=CONNECTION_RETRY_AFTER)
        if self._max_total and self._total >= self._max_total:
            raise Busy(
                "The server has as many open connections as it allows; try again in a moment.",
                retry_after=CONNECTION_RETRY_AFTER,
            )
        self._by_owner[owner] = mine + 1
        self._total += 1

    async def release(self, owner: str) -> None:
        left = self._by_owner.get(owner, 0) - 1
        if left > 0:
            self._by_owner[owner] = left
        else:
            self._by_owner.pop(owner, None)
        self._total = max(0, self._total - 1)

    def open_count(self) -> int:
        return self._total

    def count(self, owner: str) -> int:
        return self._by_owner.get(owner, 0)

    def owner_ids(self) -> list[str]:
        return list(self._by_owner)


class Lease:
    """One counted connection; ``release`` may be called any number of times, it counts once."""

    def __init__(self, held: list[tuple[ConnectionCounter, str]]) -> None:
        self._held = held  # each counter and the key it counted

    async def release(self) -> None:
        held, self._held = self._held, []
        for counter, key in held:
            await counter.release(key)


class TurnGate:
    """At most ``cap`` turns per owner running or being started (``cap == 0``: no limit).

    ``running(owner)`` counts the owner's generating turns (the runner knows);
    moves being admitted but not started yet are counted here, so simultaneous
    moves cannot all slip under the cap.
    """

    def __init__(self, cap: int, running: Callable[[str], int]) -> None:
        self._cap = cap
        self._running = running
        self._starting: dict[str, int] = {}

    @contextmanager
    def admit(self, owner: str) -> Iterator[None]:
        """Around a move that starts a turn: refuse it (``rate_limited``) when the owner is at the cap."""
        starting = self._starting.get(owner, 0)
        if self._cap and self._running(owner) + starting >= self._cap:
            raise RateLimited(
                f"You have {self._cap} replies being written at once, the most allowed; wait for one "
                "to finish or stop it.",
                retry_after=CONNECTION_RETRY_AFTER,
            )
        self._starting[owner] = starting + 1
        try:
            yield
        finally:
            left = self._starting[owner] - 1
            if left:
                self._starting[owner] = left
            else:
                del self._starting[owner]


@dataclass(slots=True)
class Limits:
    """Every limit of one app, built in the lifespan (``app.state.limits``)."""

    connections: ConnectionCounter
    # Per client address, in this replica: owners are free to mint, addresses are not.
    addresses: MemoryConnectionCounter
    answers: RateLimiter
    uploads: RateLimiter
    # Seconds of recordings transcribed (a token per second of audio), HTTP and WebSocket alike.
    speech_seconds: RateLimiter
    turns: TurnGate
    max_sessions_per_owner: int

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        running_for_owner: Callable[[str], int],
        *,
        connections: ConnectionCounter | None = None,
        rate_limiter: RateLimiterFactory | None = None,
    ) -> Limits:
        """The limits the settings ask for, counted in this process unless shared ones are given."""
        make_rate_limiter = rate_limiter or memory_rate_limiter
        return cls(
            connections=connections
            or MemoryConnectionCounter(settings.max_connections, settings.max_connections_per_owner),
            addresses=MemoryConnectionCounter(
                0, settings.max_connections_per_ip, refusal=ADDRESS_CONNECTIONS_REFUSAL
            ),
            answers=make_rate_limiter(
                "answers",
                "You are sending replies faster than this server allows; wait {wait} s and try again.",
                Rate(settings.answer_rate_per_minute, settings.answer_burst),
                Rate(settings.answer_rate_per_minute_per_ip, settings.answer_burst_per_ip),
            ),
            uploads=make_rate_limiter(
                "uploads",
                "Too many CV uploads in a short time; wait {wait} s and upload again.",
                Rate(settings.upload_rate_per_minute, settings.upload_burst),
                Rate(settings.upload_rate_per_minute_per_ip, settings.upload_burst_per_ip),
            ),
            speech_seconds=make_rate_limiter(
                "speech",
                "You have sent more recorded speech than this server transcribes in a short time; "
                "wait {wait} s, or type your answer.",
                Rate(settings.speech_seconds_per_minute, settings.speech_seconds_burst),
                Rate(settings.speech_seconds_per_minute_per_ip, settings.speech_seconds_burst_per_ip),
            ),
            turns=TurnGate(settings.max_running_turns_per_owner, running_for_owner),
            max_sessions_per_owner=settings.max_sessions_per_owner,
        )

    async def lease(self, owner: str, ip: str) -> Lease:
        """Count a new WebSocket or SSE connection from ``owner`` at ``ip``; raises when over a cap."""
        await self.addresses.acquire(ip)
        try:
            await self.connections.acquire(owner)
        except BaseException:
            await self.addresses.release(ip)
            raise
        return Lease([(self.addresses, ip), (self.connections, owner)])


@asynccontextmanager
async def admit_move(connection: HTTPConnection, owner: str) -> AsyncIterator[None]:
    """Around a move that starts a model turn (HTTP or WebSocket): rate limits, then the turn cap."""
    limits = limits_of(connection)
    await limits.answers.hit(owner, client_ip(connection))
    with limits.turns.admit(owner):
        yield


def limits_of(connection: HTTPConnection) -> Limits:
    limits: Limits = connection.app.state.limits
    return limits


def client_ip(connection: HTTPConnection) -> str:
    """The key of the client's address in every per-IP limit.

    The peer address; from a proxy named in HOTSEAT_FORWARDED_ALLOW_IPS, the client it
    forwards. An IPv6 address counts as its /64: one subscriber usually has a whole /64, so
    keyed whole, each of its 2**64 addresses would be a fresh bucket.
    """
    client = connection.client
    return address_key(client.host) if client is not None else "unknown"


def address_key(host: str) -> str:
    """``host`` as a per-IP limit counts it: an IPv4 address whole, an IPv6 one as its /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP address (a Unix socket's peer): counted as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
