"""The documents stay in step with the code: settings, error codes, routes and modules are all documented."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Mount, Route

from hotseat.app import create_app
from hotseat.config import Settings
from hotseat.errors import ERROR_CODES
from hotseat.llm.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
PROTOCOL = ROOT / "docs" / "protocol.md"

# Framework routes that are not part of hotseat's protocol.
FRAMEWORK_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PARAM = re.compile(r"\{[^}/]*\}")
# A path as written in the docs: starts at a boundary with "/", stops at a query, space or backtick.
DOC_PATH = re.compile(r"(?<![\w/.])/[\w{}./-]*")
ENV_NAME = re.compile(r"HOTSEAT_[A-Z0-9_]+")


def env_name(field: str) -> str:
    return f"HOTSEAT_{field.upper()}"


def normalise(path: str) -> str:
    """``/api/sessions/{session_id}`` and ``/api/sessions/{sid}`` compare equal."""
    return PARAM.sub("{}", path.rstrip(".,:;)"))


def route_paths(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[str]:
    """The path of every route, descending into included routers."""
    for route in routes:
        # Newer FastAPI keeps an included router as one branch route instead of copying its routes.
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from route_paths(included.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(route, Mount):  # /static: files, not protocol
            continue
        else:
            assert isinstance(route, APIRoute | APIWebSocketRoute | Route), route
            yield prefix + route.path


def app_paths(tmp_path: Path) -> list[str]:
    settings = Settings(_env_file=None, data_dir=tmp_path, backend="scripted")  # type: ignore[call-arg]
    app = create_app(settings, backend=ScriptedBackend())
    return [path for path in route_paths(app.routes) if path not in FRAMEWORK_PATHS]


def error_code_table(text: str) -> set[str]:
    """The codes listed in the rows of protocol.md's "Error codes" section."""
    section = text.split("\n## Error codes", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    """Every Settings field's HOTSEAT_ variable is named in docs/configuration.md."""
    assert env_name(field) in set(ENV_NAME.findall(CONFIGURATION.read_text(encoding="utf-8")))


def test_configuration_names_no_unknown_variable() -> None:
    """Every HOTSEAT_ variable docs/configuration.md names is a real setting (no stale names)."""
    known = {env_name(field) for field in Settings.model_fields}
    assert set(ENV_NAME.findall(CONFIGURATION.read_text(encoding="utf-8"))) <= known


@pytest.mark.parametrize("code", ERROR_CODES)
def test_every_error_code_is_documented(code: str) -> None:
    """Every code in errors.ERROR_CODES has a row in the error-code table of docs/protocol.md."""
    assert code in error_code_table(PROTOCOL.read_text(encoding="utf-8"))


def test_error_code_table_is_the_closed_set() -> None:
    """The error-code table of docs/protocol.md lists exactly errors.ERROR_CODES, nothing more."""
    assert error_code_table(PROTOCOL.read_text(encoding="utf-8")) == set(ERROR_CODES)


def test_every_route_is_documented(tmp_path: Path) -> None:
    """Every HTTP and WebSocket route the app registers appears, by path, in docs/protocol.md."""
    documented = {normalise(path) for path in DOC_PATH.findall(PROTOCOL.read_text(encoding="utf-8"))}
    paths = app_paths(tmp_path)
    assert "/api/health" in paths and "/ws" in paths  # the walk over app.routes found the routes
    missing = [path for path in paths if normalise(path) not in documented]
    assert not missing, f"routes missing from docs/protocol.md: {missing}"


# --------------------------------------------------------------------------- ARCHITECTURE.md

ARCHITECTURE = ROOT / "ARCHITECTURE.md"
PACKAGE = ROOT / "src" / "hotseat"
# A map line: two spaces, then a path under src/hotseat/ (a module, or a directory ending in "/").
MAP_ENTRY = re.compile(r"^  (\S+)", flags=re.MULTILINE)


def module_map() -> set[str]:
    """The paths the module map of ARCHITECTURE.md names, relative to src/hotseat/."""
    section = ARCHITECTURE.read_text(encoding="utf-8").split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return set(MAP_ENTRY.findall(block))


def shipped_modules() -> list[str]:
    """Every module (.py file) under src/hotseat, as a path relative to it; packages are their __init__.py."""
    return sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    )


@pytest.mark.parametrize("module", shipped_modules())
def test_module_map_names_every_module(module: str) -> None:
    """Every module under src/hotseat has a line in ARCHITECTURE.md's map; a package, its directory."""
    named = module_map()
    path = Path(module)
    if path.name == "__init__.py" and path.parent != Path("."):
        assert f"{path.parent.as_posix()}/" in named, f"package {path.parent}/ missing from the module map"
    else:
        assert module in named, f"{module} missing from ARCHITECTURE.md's module map"


def test_module_map_names_nothing_that_is_gone() -> None:
    """Every path the module map names exists under src/hotseat (no stale lines)."""
    stale = sorted(entry for entry in module_map() if not (PACKAGE / entry).exists())
    assert not stale, f"ARCHITECTURE.md's module map names what is gone: {stale}"


def test_performance_page_holds_only_what_is_true_now() -> None:
    """docs/performance.md stays within 250 lines: the targets, the latest table, how to reproduce."""
    lines = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"docs/performance.md has {len(lines)} lines; move history to git"
