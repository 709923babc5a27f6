"""The ``hotseat`` command: ``serve``, ``packs`` and ``calibrate`` here; the client commands in
``hotseat.terminal``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape

from hotseat.calibration.sets import CalibrationSet
from hotseat.config import Settings
from hotseat.local_models.command import models_app
from hotseat.terminal import commands

app = typer.Typer(help="hotseat: a self-hosted AI mock interviewer.", no_args_is_help=True)
packs_app = typer.Typer(help="List and validate interview packs.", no_args_is_help=True)
app.add_typer(packs_app, name="packs")
app.add_typer(models_app, name="models")
app.command()(commands.interview)
app.add_typer(commands.sessions_app, name="sessions")
app.command()(commands.export)
console = Console()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default HOTSEAT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default HOTSEAT_PORT).")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the interview server."""
    from hotseat.serving import HotseatServer, raise_open_files_limit, uvicorn_config_kwargs

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    if settings.backend == "local" and settings.local_model_path is None:
        from hotseat.errors import HotseatError
        from hotseat.local_models.selection import local_model_file

        try:  # here, not in the app's start-up: one line rather than uvicorn's traceback
            local_model_file(settings.local_model, settings.data_dir)
        except HotseatError as exc:
            console.print(f"[red]Cannot start:[/red] {escape(exc.message)}", soft_wrap=True)
            sys.exit(2)
    console.print(f"hotseat on http://{settings.host}:{settings.port}  (backend: {settings.backend})")
    if reload:
        # Reload runs the app in a subprocess that reads settings from the environment again.
        uvicorn.run(
            "hotseat.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            reload=True,
            **uvicorn_config_kwargs(settings),
        )
        return
    from hotseat.app import create_app

    before, after = raise_open_files_limit()
    if after < settings.max_connections:
        console.print(
            f"[yellow]The open-files limit is {after} (was {before}), below HOTSEAT_MAX_CONNECTIONS "
            f"({settings.max_connections}): raise it (ulimit -n, LimitNOFILE=) or lower the setting.[/yellow]"
        )

    try:
        app = create_app(settings)
    except ValueError as exc:  # a setting or a data-dir file that cannot work; the message says why
        console.print(f"[red]Cannot start:[/red] {escape(str(exc))}")
        sys.exit(2)
    # uvicorn.run() with our Server subclass, so a SIGTERM drains turns before connections close.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, **uvicorn_config_kwargs(settings))
    server = HotseatServer(config, whole_process=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run() exits


@packs_app.command("list")
def packs_list() -> None:
    """List the packs the server would load."""
    from hotseat.interview.packs import BUILTIN_PACKS_DIR, PackRegistry

    settings = Settings()
    registry = PackRegistry.load([BUILTIN_PACKS_DIR, *settings.pack_dirs()])
    for pack in registry.all():
        console.print(
            f"[bold]{pack.id}[/bold]  {pack.title}  ({pack.language}, {len(pack.questions)} questions)"
        )


@packs_app.command("validate")
def packs_validate(paths: Annotated[list[Path], typer.Argument(help="Pack files or directories.")]) -> None:
    """Check pack files; exits 1 if any is invalid."""
    from hotseat.interview.packs import validate_paths

    failed = False
    for path, result in validate_paths(paths):
        if isinstance(result, Exception):
            failed = True
            console.print(f"[red]invalid[/red] {escape(str(result))}")
        else:
            console.print(f"[green]ok[/green] {path}: {result.id} ({len(result.questions)} questions)")
    if failed:
        sys.exit(1)


@app.command()
def calibrate(
    runs: Annotated[int, typer.Option(min=1, max=20, help="Runs over the set (for stability).")] = 1,
    fixtures: Annotated[
        Path | None, typer.Option(help="A directory of hand-scored answers (default: the bundled set).")
    ] = None,
    answer_set: Annotated[
        CalibrationSet | None,
        typer.Option(
            "--set", help="A bundled set: tuning (the default), development, or held-out (never tuned on)."
        ),
    ] = None,
) -> None:
    """Score the hand-scored answer set with the configured analysis and print the agreement."""
    import asyncio

    from hotseat.calibration.command import run_calibrate
    from hotseat.calibration.sets import set_directory

    if answer_set is not None and fixtures is not None:
        console.print("Give --fixtures or --set, not both.")
        sys.exit(2)
    directory = set_directory(answer_set) if answer_set is not None else fixtures
    sys.exit(asyncio.run(run_calibrate(Settings(), runs, directory, console)))


def main() -> None:
    app()
