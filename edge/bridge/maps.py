"""Serial register maps (`device_profiles/serial/*.yaml`) read with file:line problems."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from edge.config.errors import ConfigError, Problem
from edge.config.load import display_path
from edge.config.source import read_yaml_text
from edge.config.validation import validate
from firmware_bridge import RegisterMap

__all__ = ["load_register_maps"]

_FOLDER = "serial"


def load_register_maps(ids: Iterable[str], folder: Path | None = None) -> dict[str, RegisterMap]:
    """Read and validate the register maps with these ids (the file names without ``.yaml``).

    Args:
        ids: the map ids the bridge config names.
        folder: where the maps are; the package's ``device_profiles/serial/`` when None.

    Raises:
        ConfigError: every problem of every map, each with file, line and dotted path.
    """
    where: Traversable | Path = (resources.files("device_profiles").joinpath(_FOLDER)
                                 if folder is None else folder)
    maps: dict[str, RegisterMap] = {}
    problems: list[Problem] = []
    for map_id in sorted(set(ids)):
        entry = where.joinpath(f"{map_id}.yaml")
        shown = (f"device_profiles/{_FOLDER}/{map_id}.yaml" if folder is None
                 else display_path(Path(str(entry))))
        if not entry.is_file():
            problems.append(Problem(shown, 0, "", "file not found; check the path"))
            continue
        try:
            located = read_yaml_text(entry.read_text("utf-8"), shown)
        except ConfigError as err:
            problems += err.problems
            continue
        register_map, found = validate(RegisterMap, located)
        problems += found
        if register_map is None:
            continue
        if register_map.id != map_id:
            mark = located.mark(("id",))
            problems.append(Problem(shown, mark.line, "id", "the id must be the file name "
                                    "without .yaml: '{name}'", {"name": map_id},
                                    got=register_map.id))
            continue
        maps[map_id] = register_map
    if problems:
        raise ConfigError(problems)
    return maps
