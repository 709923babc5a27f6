"""Which GGUF file ``HOTSEAT_LOCAL_MODEL`` (a catalogue name or a path) selects."""

from __future__ import annotations

from pathlib import Path

from hotseat.errors import Internal
from hotseat.local_models.catalogue import known_names, lookup, pulled_path


def local_model_file(value: str, data_dir: Path) -> Path | None:
    """The file to load; ``None`` for the embedded default (an empty value or its name).

    A catalogue name must have been pulled; anything else is taken as a path to a GGUF file.
    Raises ``Internal`` with the command that fixes it, so a start fails on one clear line.
    """
    value = value.strip()
    if not value:
        return None
    model = lookup(value)
    if model is not None:
        if model.embedded:
            return None
        path = pulled_path(model, data_dir)
        if not path.is_file():
            raise Internal(
                f"HOTSEAT_LOCAL_MODEL={value} is not downloaded yet (no {path}): "
                f"run `hotseat models pull {model.name}` first."
            )
        return path
    path = Path(value).expanduser()
    if not path.is_file():
        names = known_names()
        raise Internal(
            f"HOTSEAT_LOCAL_MODEL={value} is neither a catalogue model ({names}) nor an existing .gguf file."
        )
    return path
