"""The pinned installs (requirements/*.lock) still satisfy pyproject.toml's ranges, so a fresh clone installs
what the project declares; scripts/lock refreshes them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, Version]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(
    ("lock", "extras"), [("run.lock", ("local", "voice")), ("test.lock", ("local", "voice", "test"))]
)
def test_lock_pins_a_version_in_range_for_every_declared_requirement(
    lock: str, extras: tuple[str, ...]
) -> None:
    """Each of pyproject's requirements (for this lock's extras) is pinned, at a version its range allows."""
    pinned = pins(lock)
    for requirement in declared(*extras):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in requirements/{lock}: run scripts/lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]}, "
            f"outside {requirement.specifier}: run scripts/lock"
        )


def test_every_pin_carries_a_hash() -> None:
    """pip installs the locks with --require-hashes, which refuses a pin without one."""
    for lock in ("run.lock", "test.lock"):
        text = (ROOT / "requirements" / lock).read_text()
        for block in re.split(r"\n(?=[A-Za-z0-9])", text):
            if PIN.match(block):
                assert "--hash=sha256:" in block, f"{block.splitlines()[0]} in {lock} has no hash"


def test_the_test_lock_agrees_with_the_run_lock() -> None:
    """The tests run exactly the versions a user installs."""
    run, test = pins("run.lock"), pins("test.lock")
    assert {name: version for name, version in test.items() if name in run} == run
