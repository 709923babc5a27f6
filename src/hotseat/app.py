"""``create_app(settings)``: the FastAPI application and its lifespan wiring."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from hotseat import __version__, metrics
from hotseat.api import cvs, errors, http, speech, sse, ws
from hotseat.api.body_limit import BodyLimitMiddleware, BodyLimits
from hotseat.api.cross_site import CrossSiteMiddleware
from hotseat.api.forwarded import OneHopProxyHeadersMiddleware
from hotseat.api.headers import SecurityHeadersMiddleware
from hotseat.api.hosts import AllowedHostsMiddleware
from hotseat.api.identity import Identity, OwnerMiddleware, load_secret
from hotseat.api.limits import Limits
from hotseat.api.redis_limits import shared_limits
from hotseat.api.send_watchdog import SendWatchdog
from hotseat.config import Settings
from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry
from hotseat.interview.records import Records
from hotseat.interview.service import InterviewOptions, InterviewService
from hotseat.llm.base import Backend, GenerationParams
from hotseat.llm.factory import make_backend
from hotseat.retention import PURGE_INTERVAL_SECONDS, purge_expired
from hotseat.services import Services
from hotseat.speech.voice import Speech
from hotseat.store.db import create_engine, migrate
from hotseat.store.repo import Store
from hotseat.streaming.background import run_every
from hotseat.streaming.runner import TurnRunner
from hotseat.streaming.wiring import RedisStreaming, open_streaming

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
# At shutdown, how long a WebSocket may take to send its turns' last events before its 1012 close.
_SHUTDOWN_FLUSH_SECONDS = 5.0


async def build_services(settings: Settings, backend: Backend | None = None) -> Services:
    """Open the database (migrated), load packs, and wire the runner to the backend."""
    packs = PackRegistry.load([BUILTIN_PACKS_DIR, *settings.pack_dirs()])
    engine = create_engine(
        settings.resolved_database_url(),
        pool_size=settings.database_pool_size,
        pool_timeout=settings.database_pool_timeout_seconds,
    )
    await migrate(engine)
    store = Store(engine, pool_timeout=settings.database_pool_timeout_seconds)
    streaming = open_streaming(settings, store)
    if not streaming.shared:
        # This process alone uses the database, so what a previous run left unfinished is dead.
        # (Replicas share it: there the sweeper ends only the turns of replicas that stopped.)
        interrupted = await store.interrupt_streaming_turns()
        if interrupted:
            logger.warning("marked %d turn(s) left streaming by a previous run as interrupted", interrupted)
        await store.abandon_pending_assessments()
    backend = backend or make_backend(settings)
    await backend.start()
    runner = TurnRunner(
        backend,
        streaming.log,
        streaming.bus,
        orphan_grace_seconds=settings.orphan_grace_seconds,
        peers=streaming.peers,
    )
    streaming.start(runner)
    params = GenerationParams(max_tokens=settings.max_tokens, temperature=settings.temperature)
    assessment_params = GenerationParams(max_tokens=settings.assessment_max_tokens, temperature=0.2)
    concurrency = settings.assessment_concurrency or (1 if backend.name == "local" else 8)
    options = InterviewOptions(
        style=settings.resolved_style(backend.name),
        analysis=settings.resolved_analysis(backend.name),
        judge_wait_seconds=settings.judge_wait_seconds,
    )
    interview = InterviewService(
        store, packs, runner, streaming.log, params, assessment_params, concurrency, options
    )
    return Services(settings, engine, store, packs, backend, runner, interview, streaming, Records(store))


def open_limits(settings: Settings, services: Services) -> tuple[Limits, Callable[[], Awaitable[None]]]:
    """The app's limits, shared through Redis between replicas when it is configured; and their closer."""
    running = services.runner.running_for_owner
    streaming = services.streaming
    if not isinstance(streaming, RedisStreaming):

        async def nothing_to_close() -> None:
            pass

        return Limits.from_settings(settings, running), nothing_to_close
    limits, counter = shared_limits(settings, running, streaming.redis, streaming.replica_id)
    heartbeat = asyncio.create_task(
        run_every(counter.heartbeat_seconds, "the connection-count heartbeat", counter.heartbeat),
        name="connection-count-heartbeat",
    )

    async def close() -> None:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        await counter.forget()

    return limits, close


def start_retention(settings: Settings, services: Services) -> asyncio.Task[None] | None:
    """The task that deletes old sessions and CVs (HOTSEAT_RETENTION_DAYS), if a period is set."""
    days = settings.retention_days
    if not days:
        return None

    async def purge() -> None:
        await purge_expired(services.engine, services.records, services.interview, days)

    return asyncio.create_task(
        run_every(PURGE_INTERVAL_SECONDS, "the retention purge", purge), name="retention"
    )


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> FastAPI:
    """The app. ``backend`` overrides the one the settings name (tests pass a scripted one)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, backend)
        app.state.services = services
        app.state.speech = Speech.from_settings(settings)
        app.state.limits, close_limits = open_limits(settings, services)
        lag_watcher = (
            asyncio.create_task(metrics.watch_event_loop_lag()) if settings.metrics_enabled else None
        )
        purger = start_retention(settings, services)
        try:
            yield
        finally:
            # In this order; each runs even if one before it failed.
            await close_all(
                ("the event-loop lag watcher", lambda: lag_watcher.cancel() if lag_watcher else None),
                ("the retention purger", lambda: _stop(purger)),
                ("the send watchdog", app.state.send_watchdog.stop),
                ("the connection limits", close_limits),
                ("the running turns", lambda: services.runner.shutdown(settings.shutdown_grace_seconds)),
                ("the assessments", services.interview.shutdown),
                ("the speech workers", app.state.speech.aclose),
                ("the turn logs", services.runner.log.aclose),
                ("the streaming store", services.streaming.aclose),
                ("the model backend", services.backend.aclose),
                ("the database", services.engine.dispose),
            )

    metrics.set_enabled(settings.metrics_enabled)
    app = FastAPI(title="hotseat", version=__version__, lifespan=lifespan)
    app.state.websockets = ws.OpenWebSockets()
    app.state.send_watchdog = SendWatchdog(settings.send_timeout_seconds)
    app.state.drain = lambda: drain(app, settings)
    # The kernel drops a connection whose peer has not read for this long (serving.HotseatServer).
    app.state.tcp_user_timeout = 2 * settings.send_timeout_seconds
    errors.install(app)
    identity = Identity(
        load_secret(settings.secret_key.get_secret_value(), settings.data_dir),
        settings.api_key_list(),
        secure_cookie=settings.secure_cookies,
        require_key=settings.require_api_key,
    )
    # Outermost last: security headers wrap everything, including identity's refusals.
    app.add_middleware(OwnerMiddleware, identity=identity)
    app.add_middleware(CrossSiteMiddleware, allowed_origins=settings.origin_list())
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimits.of(settings.cv_max_bytes, settings.max_answer_chars, settings.speech_max_bytes),
    )
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.host_list())
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.trusts_any_proxy():
        app.add_middleware(OneHopProxyHeadersMiddleware)
    app.include_router(http.router)
    app.include_router(http.metrics_router)
    app.include_router(cvs.router)
    app.include_router(speech.router)
    app.include_router(sse.router)
    app.include_router(ws.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    return app


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def close_all(*steps: tuple[str, Callable[[], object]]) -> None:
    """Run every ``(what, close)`` step in order; one that raises is logged, and the rest still run."""
    for what, close in steps:
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("shutting down: closing %s failed; closing the rest", what)


async def drain(app: FastAPI, settings: Settings) -> None:
    """Shut down gracefully while clients are still connected (``serving.HotseatServer`` calls it).

    The server has stopped accepting connections. Running turns get
    ``HOTSEAT_SHUTDOWN_GRACE_SECONDS`` to finish; the rest are stored as
    interrupted. Each turn's terminal event then reaches its readers: SSE
    responses end after it, and WebSockets send it and are closed with 1012 so
    that clients reconnect. Only then does the server close what is left.
    """
    services: Services | None = getattr(app.state, "services", None)
    if services is None:
        return
    await services.runner.shutdown(settings.shutdown_grace_seconds)
    registry: ws.OpenWebSockets = app.state.websockets
    await registry.restart_all(_SHUTDOWN_FLUSH_SECONDS)
