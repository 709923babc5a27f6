"""Pack files and directories read, parsed and validated (``hotseat packs validate``, the registry)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Final

import yaml
from pydantic import ValidationError

from hotseat.interview.packs.model import Pack, with_default
from hotseat.interview.packs.problems import PackError, kind_of, validation_problems, yaml_problem
from hotseat.interview.packs.yaml_source import PackLoader

BUILTIN_PACKS_DIR: Final[Path] = Path(str(files("hotseat") / "packs"))
PACK_SUFFIXES: Final = (".yaml", ".yml")
MAX_FILE_BYTES: Final = 1024 * 1024


def parse_pack(text: str, *, source: str = "<pack>", default_id: str | None = None) -> Pack:
    """Parse and validate one pack's YAML; ``default_id`` is used when the file sets no id."""
    loader = PackLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise PackError.from_problems([yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()
    if data is None:
        raise PackError.single(
            source,
            "the file is empty; a pack needs title, description, language, system_prompt and questions",
        )
    if not isinstance(data, dict):
        raise PackError.single(
            source, f"the top level must be a mapping of 'key: value' lines, not {kind_of(data)}", line=1
        )
    if default_id is not None and "id" not in data:
        data = with_default(data, "id", default_id)
    else:
        default_id = None
    try:
        return Pack.model_validate(data)
    except ValidationError as exc:
        raise PackError.from_problems(validation_problems(exc, source, root, default_id)) from None


def load_pack_file(path: Path) -> Pack:
    """Read and validate one pack file; its id defaults to the file name without suffix."""
    source = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PackError.single(source, "no such file") from None
    except IsADirectoryError:
        raise PackError.single(source, "is a directory, not a pack file") from None
    except OSError as exc:
        raise PackError.single(source, f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise PackError.single(source, f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PackError.single(source, "is not UTF-8 text", line=line) from None
    return parse_pack(text, source=source, default_id=path.stem)


def _pack_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in PACK_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def scan_dir(directory: Path) -> list[tuple[Path, Pack | PackError]]:
    """Every pack file of one directory, loaded; an id used twice in it is an error on the second."""
    source = str(directory)
    if not directory.exists():
        return [(directory, PackError.single(source, "pack directory does not exist"))]
    if not directory.is_dir():
        return [(directory, PackError.single(source, "is not a directory"))]
    try:
        paths = _pack_files(directory)
    except OSError as exc:
        return [(directory, PackError.single(source, f"cannot list the directory: {exc.strerror or exc}"))]
    results: list[tuple[Path, Pack | PackError]] = []
    owner: dict[str, Path] = {}
    for path in paths:
        outcome: Pack | PackError
        try:
            outcome = load_pack_file(path)
        except PackError as exc:
            outcome = exc
        if isinstance(outcome, Pack):
            if outcome.id in owner:
                outcome = PackError.single(
                    str(path),
                    f"pack id {outcome.id!r} is also used by {owner[outcome.id].name} in the same "
                    "directory; only a later directory may override an id",
                    field="id",
                )
            else:
                owner[outcome.id] = path
        results.append((path, outcome))
    return results


def validate_paths(paths: Iterable[Path]) -> list[tuple[Path, Pack | PackError]]:
    """Check pack files and directories of pack files, as ``hotseat packs validate`` does."""
    results: list[tuple[Path, Pack | PackError]] = []
    for path in paths:
        if path.is_dir():
            scanned = scan_dir(path)
            if not scanned:
                scanned = [(path, PackError.single(str(path), "contains no *.yaml or *.yml files"))]
            results.extend(scanned)
        else:
            try:
                results.append((path, load_pack_file(path)))
            except PackError as exc:
                results.append((path, exc))
    return results
