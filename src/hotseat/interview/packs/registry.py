"""The packs the server offers, by id: the built-in directory, then the operator's."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from hotseat.errors import NotFound
from hotseat.interview.packs.loading import scan_dir
from hotseat.interview.packs.model import Pack
from hotseat.interview.packs.problems import PackError, PackProblem

log = logging.getLogger(__name__)


class PackRegistry:
    """The packs the server offers, by id; a later ``add`` replaces an id."""

    def __init__(self, packs: Iterable[Pack] = ()) -> None:
        self._packs: dict[str, Pack] = {}
        self._sources: dict[str, Path] = {}
        for pack in packs:
            self.add(pack)

    @classmethod
    def load(cls, dirs: Sequence[Path]) -> PackRegistry:
        """Load ``*.yaml``/``*.yml`` from each directory in order; later directories override ids.

        Any invalid file or missing directory raises one ``PackError`` listing every problem.
        """
        registry = cls()
        problems: list[PackProblem] = []
        for directory in dirs:
            for path, outcome in scan_dir(directory):
                if isinstance(outcome, PackError):
                    problems.extend(outcome.problems)
                    continue
                previous = registry._sources.get(outcome.id)
                if previous is not None:
                    log.info("pack %r from %s overrides %s", outcome.id, path, previous)
                registry.add(outcome, source=path)
        if problems:
            raise PackError.from_problems(problems)
        return registry

    def add(self, pack: Pack, *, source: Path | None = None) -> None:
        """Offer ``pack``, replacing any pack with the same id."""
        self._packs[pack.id] = pack
        if source is not None:
            self._sources[pack.id] = source
        else:
            self._sources.pop(pack.id, None)

    def get(self, pack_id: str) -> Pack:
        """The pack with this id; ``NotFound`` names the known ids."""
        pack = self._packs.get(pack_id)
        if pack is None:
            known = ", ".join(sorted(self._packs)) or "none are installed"
            raise NotFound(f"No interview pack with id {pack_id[:80]!r}. Known packs: {known}.")
        return pack

    def source(self, pack_id: str) -> Path | None:
        """The file a pack was loaded from, if it came from one."""
        return self._sources.get(pack_id)

    def all(self) -> list[Pack]:
        """Every pack, sorted by title (then id)."""
        return sorted(self._packs.values(), key=lambda pack: (pack.title.casefold(), pack.id))

    def __len__(self) -> int:
        return len(self._packs)

    def __contains__(self, pack_id: object) -> bool:
        return pack_id in self._packs
