"""``hotseat models list`` and ``hotseat models pull NAME``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hotseat.config import Settings
from hotseat.errors import HotseatError
from hotseat.local_models.catalogue import (
    CATALOGUE,
    EMBEDDED_NAME,
    RECOMMENDED,
    CatalogueModel,
    find,
    pulled_path,
)

models_app = typer.Typer(help="Larger local models: list the catalogue, pull one.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _live_name(settings: Settings) -> str:
    """The catalogue name the settings select (a path or another server: none of them)."""
    if settings.backend != "local" or settings.local_model_path is not None:
        return ""
    value = settings.local_model.strip().lower()
    return value or EMBEDDED_NAME


def _pulled(model: CatalogueModel, settings: Settings) -> bool:
    return not model.embedded and pulled_path(model, settings.data_dir).is_file()


@models_app.command("list")
def models_list() -> None:
    """The curated models: size on disk, licence, languages, speed on a 2-core laptop."""
    settings = Settings()
    live = _live_name(settings)
    for model in CATALOGUE:
        marks = [
            mark for mark, on in (("live", model.name == live), ("pulled", _pulled(model, settings))) if on
        ]
        state = f"  [green]({', '.join(marks)})[/green]" if marks else ""
        console.print(
            f"{'*' if model.name == live else ' '} [bold]{model.name}[/bold]  {escape(model.title)}"
            f"  {model.size_text()}{state}",
            soft_wrap=True,
        )
        console.print(f"    licence: {escape(model.licence)}", soft_wrap=True)
        console.print(f"    languages: {escape(model.languages)}", soft_wrap=True)
        console.print(f"    2-core laptop: {escape(model.speed)}", soft_wrap=True)
    console.print(
        f"Get one: hotseat models pull {RECOMMENDED}; use it: HOTSEAT_LOCAL_MODEL={RECOMMENDED}. "
        "Speeds are estimates (docs/cli.md)."
    )


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="A name from `hotseat models list`.")]) -> None:
    """Download a model from Hugging Face into the data directory, checksum verified."""
    from hotseat.local_models.pull import pull

    settings = Settings()
    try:
        model = find(name)
        path = pull(model, settings.data_dir)
    except HotseatError as exc:
        errors.print(f"[red]Cannot pull {escape(name)}:[/red] {escape(exc.message)}", soft_wrap=True)
        sys.exit(1)
    console.print(f"{model.name} is ready: {path} (SHA-256 verified).", soft_wrap=True)
    console.print(
        f"Use it: HOTSEAT_LOCAL_MODEL={model.name} hotseat serve (or put HOTSEAT_LOCAL_MODEL={model.name} "
        "in .env).",
        soft_wrap=True,
    )
