"""Loading config.yaml: YAML with marks → ``${ENV}`` secrets → device defaults merged → typed model.

Every problem of the file is collected and raised once as :class:`ConfigError`, sorted by line.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config.errors import ConfigError, Problem
from edge.config.root import GridedgeConfig
from edge.config.source import Located, PathKey, read_yaml
from edge.config.validation import validate

if TYPE_CHECKING:
    from edge.profiles import ProfileRegistry

__all__ = ["display_path", "load_config", "overlay", "substitute_env"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DEVICE_SECTIONS = ("speakers", "posts")


def display_path(path: Path) -> str:
    """A file name as staff should see it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_config(path: Path, *, profiles: ProfileRegistry | None = None,
                environ: Mapping[str, str] | None = None) -> GridedgeConfig:
    """Read and validate config.yaml.

    Args:
        path: the config file.
        profiles: the device profiles that ``profile:`` may name; loaded from the package when None.
        environ: where ``${NAME}`` comes from; the process environment when None.

    Raises:
        ConfigError: with every problem found, each naming file and line.
    """
    if profiles is None:
        from edge.profiles import load_registry  # noqa: PLC0415 - profiles import config helpers

        profiles = load_registry()
    located = read_yaml(path, display_path(path))
    problems: list[Problem] = []
    if not isinstance(located.data, dict):
        mark = located.mark(())
        raise ConfigError([Problem(mark.file, mark.line, "", "the file must consist of sections "
                                   "such as 'site:', 'mqtt:', 'speakers:'")])
    empty_env = substitute_env(located, os.environ if environ is None else environ, problems)
    for section in _DEVICE_SECTIONS:
        _merge_device_defaults(located, section)
    context = _reference_context(located, profiles, problems)
    config, found = validate(GridedgeConfig, located, context)
    problems += found
    if config is not None:
        config._base_dir = path.resolve().parent  # noqa: SLF001 - set once, right after validation
        # Kept for checks after loading (who can be paged) that name a line and an empty variable.
        config._marks = dict(located.marks)  # noqa: SLF001
        config._empty_env = empty_env  # noqa: SLF001
        problems += _missing_files(config, located)
    if problems:
        raise ConfigError(problems)
    return config


def substitute_env(located: Located, environ: Mapping[str, str], problems: list[Problem],
                   ) -> dict[PathKey, tuple[str, ...]]:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every text value, in place.

    Returns:
        The paths whose value came out empty, with the variables that made it so: an unset
        ``${GRIDEDGE_ALERT_X:-}`` silently drops a phone, and ``check`` must be able to say which.
    """
    empty: dict[PathKey, tuple[str, ...]] = {}

    def visit(value: Any, path: PathKey) -> Any:
        if isinstance(value, dict):
            return {k: visit(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            result = _ENV.sub(lambda m: lookup(m, path), value)
            if not result.strip():
                empty[path] = tuple(m[1] for m in _ENV.finditer(value))
            return result
        return value

    def lookup(match: re.Match[str], path: PathKey) -> str:
        name, default = match[1], match[2]
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        mark = located.mark(path)
        problems.append(Problem(mark.file, mark.line, mark.path, "the environment variable {name} "
                                "is not set; set it for the service, or write ${{{name}:-value}} "
                                "to give a default", {"name": name}))
        return ""

    located.data = visit(located.data, ())
    return empty


def overlay(base: Located, over: Located) -> Located:
    """``over`` merged onto ``base`` (mappings merge key by key; anything else replaces).

    The marks follow the values: an inherited default keeps the line where the default is written.
    """
    if not (isinstance(base.data, dict) and isinstance(over.data, dict)):
        return Located(copy.deepcopy(over.data), dict(over.marks), dict(over.raw))
    merged = Located(copy.deepcopy(base.data), dict(base.marks), dict(base.raw))
    merged.marks[()] = over.marks.get((), base.marks.get(()))
    for key in over.data:
        if key in base.data:
            part = overlay(base.sub((key,)), over.sub((key,)))
        else:
            part = over.sub((key,))
        merged.graft((key,), part)
    return merged


def _merge_device_defaults(located: Located, section: str) -> None:
    data = located.data.get(section)
    if not isinstance(data, dict) or not isinstance(data.get("devices"), dict):
        return
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        return
    base = located.sub((section, "defaults")) if "defaults" in data else Located({})
    for device_id, own in list(data["devices"].items()):
        path = (section, "devices", device_id)
        if own is None:
            own_located = Located({}, {(): located.mark(path)})
        elif isinstance(own, dict):
            own_located = located.sub(path)
        else:
            continue
        located.graft(path, overlay(base, own_located))


def _reference_context(located: Located, profiles: ProfileRegistry,
                       problems: list[Problem]) -> dict[str, Any]:
    """Every spelling a reference may use (id or name) → canonical id; duplicate names reported."""
    context: dict[str, Any] = {
        "speaker_profiles": profiles.names(kind="speaker"),
        "post_profiles": profiles.names(kind="post"),
    }
    for section in _DEVICE_SECTIONS:
        names: dict[str, str] = {}
        devices = (located.data.get(section) or {}) if isinstance(located.data, dict) else {}
        devices = devices.get("devices") if isinstance(devices, dict) else None
        for device_id, settings in (devices or {}).items():
            names.setdefault(str(device_id), str(device_id))
        for device_id, settings in (devices or {}).items():
            name = settings.get("name") if isinstance(settings, dict) else None
            if not isinstance(name, str) or name == device_id:
                continue
            if name in names and names[name] != device_id:
                mark = located.mark((section, "devices", device_id, "name"))
                problems.append(Problem(mark.file, mark.line, mark.path, "the name '{name}' is "
                                        "already used by '{other}'; give each device its own name",
                                        {"name": name, "other": names[name]}))
                continue
            names[name] = str(device_id)
        context[section] = names
    areas = located.data.get("areas") if isinstance(located.data, dict) else None
    context["areas"] = {str(name): str(name) for name in areas} if isinstance(areas, dict) else {}
    return context


def _missing_files(config: GridedgeConfig, located: Located) -> list[Problem]:
    problems = []
    for i, file in enumerate(config.schedules.files):
        if not config.resolve(file).is_file():
            mark = located.mark(("schedules", "files", i))
            problems.append(Problem(mark.file, mark.line, mark.path, "schedule file not found "
                                    "(paths are taken from the folder of config.yaml)",
                                    got=str(file)))
    holidays = config.schedules.holidays_file
    if holidays is not None and not config.resolve(holidays).is_file():
        mark = located.mark(("schedules", "holidays_file"))
        problems.append(Problem(mark.file, mark.line, mark.path, "holiday file not found (paths "
                                "are taken from the folder of config.yaml)", got=str(holidays)))
    return problems
