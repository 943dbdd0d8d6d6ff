"""Small edits of located YAML data before validation, keeping every value's mark."""

from __future__ import annotations

import re

from edge.config.source import Located, PathKey

__all__ = ["listify"]


def listify(located: Located, path: PathKey, split: re.Pattern[str] | None = None) -> None:
    """Write a single value (``at: "08:30"``, ``speakers: 东门,南门``) as the list it stands for.

    Each element keeps the mark of what staff wrote, so a wrong element is reported at their
    line and path (``announcements.a.at``), not at an index they never typed.
    """
    parent = located.data
    for key in path[:-1]:
        parent = parent[key]
    value = parent.get(path[-1]) if isinstance(parent, dict) else None
    if value is None or isinstance(value, list | dict):
        return
    parts = split.split(value.strip()) if split is not None and isinstance(value, str) else [value]
    mark, raw = located.marks.get(path), located.raw.get(path)
    parent[path[-1]] = parts
    for i, part in enumerate(parts):
        if mark is not None:
            located.marks[(*path, i)] = mark
        located.raw[(*path, i)] = part if len(parts) > 1 else (raw if raw is not None else part)
