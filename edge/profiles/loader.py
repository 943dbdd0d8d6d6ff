"""Loading device profiles from ``device_profiles/`` (shipped in the package) into a registry.

``extends:`` is resolved on the YAML data before validation (the child's keys replace the
parent's; mappings merge), so every problem still names the file and line where it is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from edge.config.base import closest
from edge.config.errors import ConfigError, Problem
from edge.config.load import display_path, overlay
from edge.config.source import Located, read_yaml_text
from edge.config.validation import validate
from edge.profiles.model import Profile

__all__ = ["ProfileRegistry", "load_registry", "profile_files"]

logger = logging.getLogger(__name__)

# serial/ holds register maps of the firmware bridge, which have their own schema.
_KIND_DIRS = ("posts", "speakers")
_INHERITED_NOT = ("id", "aliases", "extends")


class ProfileRegistry:
    """All known profiles, found by id or alias."""

    def __init__(self, profiles: Iterable[Profile], files: dict[str, str] | None = None) -> None:
        self._by_id = {p.id: p for p in profiles}
        self._by_name = {**{a: p.id for p in self._by_id.values() for a in p.aliases},
                         **{p.id: p.id for p in self._by_id.values()}}
        self.files = files or {}

    def get(self, name: str) -> Profile:
        """The profile with this id or alias; KeyError with a did-you-mean otherwise."""
        try:
            return self._by_id[self._by_name[name]]
        except KeyError:
            hint = closest(name, self._by_name)
            raise KeyError(f"no device profile {name!r}" + (f"; did you mean {hint!r}?" if hint else "")) from None

    def names(self, kind: str | None = None) -> dict[str, str]:
        """Every id and alias (of one kind) → profile id."""
        return {n: i for n, i in self._by_name.items() if kind is None or self._by_id[i].kind == kind}

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def profile_files(extra_dirs: Iterable[Path] = ()) -> list[tuple[str, str]]:
    """(shown name, YAML text) of every profile: the package's, then those in ``extra_dirs``."""
    found: list[tuple[str, str]] = []
    root = resources.files("device_profiles")
    for sub in _KIND_DIRS:
        folder: Traversable = root.joinpath(sub)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                found.append((f"device_profiles/{sub}/{entry.name}", entry.read_text("utf-8")))
    for directory in extra_dirs:
        for path in sorted(Path(directory).glob("*/*.yaml")):
            if path.parent.name in _KIND_DIRS:
                found.append((display_path(path), path.read_text("utf-8")))
    return found


def load_registry(extra_dirs: Iterable[Path] = ()) -> ProfileRegistry:
    """Load and validate every profile; raise ConfigError listing every problem."""
    problems: list[Problem] = []
    raw: dict[str, Located] = {}
    files: dict[str, str] = {}
    for shown, text in profile_files(extra_dirs):
        try:
            located = read_yaml_text(text, shown)
        except ConfigError as err:
            problems += err.problems
            continue
        pid = located.data.get("id") if isinstance(located.data, dict) else None
        if not isinstance(pid, str):
            problems.append(Problem(shown, 1, "id", "every profile needs an 'id:'"))
            continue
        if pid in raw:
            mark = located.mark(("id",))
            problems.append(Problem(shown, mark.line, "id", "profile id '{id}' is also used in "
                                    "{other}", {"id": pid, "other": files[pid]}))
            continue
        raw[pid] = located
        files[pid] = shown

    profiles: list[Profile] = []
    for pid, located in raw.items():
        resolved = _resolve_extends(pid, raw, problems)
        if resolved is None:
            continue
        profile, found = validate(Profile, resolved)
        problems += found
        if profile is not None:
            profiles.append(profile)
    problems += _alias_clashes(profiles, raw)
    if problems:
        raise ConfigError(problems)
    logger.debug("loaded %d device profiles", len(profiles))
    return ProfileRegistry(profiles, files)


def _resolve_extends(pid: str, raw: dict[str, Located], problems: list[Problem],
                     seen: tuple[str, ...] = ()) -> Located | None:
    located = raw[pid]
    parent_id = located.data.get("extends")
    if parent_id is None:
        return located
    mark = located.mark(("extends",))
    if parent_id in seen or parent_id == pid:
        problems.append(Problem(mark.file, mark.line, mark.path, "profiles extend each other in "
                                "a circle: {chain}", {"chain": " → ".join((*seen, pid, parent_id))}))
        return None
    if parent_id not in raw:
        hint = closest(str(parent_id), raw)
        if hint:
            problems.append(Problem(mark.file, mark.line, mark.path, "there is no profile "
                                    "'{name}' to extend; did you mean '{hint}'?",
                                    {"name": parent_id, "hint": hint}))
        else:
            problems.append(Problem(mark.file, mark.line, mark.path, "there is no profile "
                                    "'{name}' to extend", {"name": parent_id}))
        return None
    parent = _resolve_extends(parent_id, raw, problems, (*seen, pid))
    if parent is None:
        return None
    base = Located({k: v for k, v in parent.data.items() if k not in _INHERITED_NOT},
                   {p: m for p, m in parent.marks.items() if not p or p[0] not in _INHERITED_NOT},
                   {p: r for p, r in parent.raw.items() if p and p[0] not in _INHERITED_NOT})
    return overlay(base, located)


def _alias_clashes(profiles: list[Profile], raw: dict[str, Located]) -> list[Problem]:
    owner: dict[str, str] = {p.id: p.id for p in profiles}
    problems = []
    for profile in profiles:
        for i, alias in enumerate(profile.aliases):
            if alias in owner and owner[alias] != profile.id:
                mark = raw[profile.id].mark(("aliases", i))
                problems.append(Problem(mark.file, mark.line, mark.path, "alias '{alias}' is "
                                        "already the name of profile '{other}'",
                                        {"alias": alias, "other": owner[alias]}))
            owner.setdefault(alias, profile.id)
    return problems


