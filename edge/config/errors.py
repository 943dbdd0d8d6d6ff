"""Problems found in staff-edited YAML, and the one exception that carries them.

Hierarchy::

    GridedgeError                      (edge.errors)
     └── ConfigError                   every problem of one load, sorted by file and line

A :class:`Problem` keeps its message id and arguments, not a finished string, so that it is
rendered in the language chosen after loading (``--lang`` or ``site.language``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.errors import GridedgeError
from edge.i18n import _

__all__ = ["ConfigError", "Problem", "show_value"]

_MAX_SHOWN = 60


def show_value(value: Any) -> str:
    """Render a value the way staff typed it, cut to a readable length."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "{" + ", ".join(str(k) for k in list(value)[:5]) + (", …}" if len(value) > 5 else "}")
    elif isinstance(value, list):
        text = "[" + ", ".join(show_value(v) for v in value[:5]) + (", …]" if len(value) > 5 else "]")
    else:
        text = str(value)
    text = text.replace("\n", "⏎")
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


@dataclass(frozen=True, eq=False)
class Problem:
    """One thing wrong at one place of one file.

    Args:
        file: the file as staff know it (relative to where the command runs when possible).
        line: 1-based line number, 0 when the problem is about the whole file.
        path: dotted path of the setting, "" for the whole file.
        message: an English message id of the catalogue, with ``{name}`` placeholders.
        args: values for the placeholders.
        got: what was written, shown as "(got X)"; None to show nothing.
    """

    file: str
    line: int
    path: str
    message: str
    args: dict[str, Any] = field(default_factory=dict)
    got: str | None = None

    def text(self) -> str:
        """The message in the current language, without file and line."""
        body = _(self.message).format(**self.args)
        if self.got is not None:
            body += _(" (got {got})").format(got=self.got)
        return body

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.text()}" if self.path else f"{where}: {self.text()}"


class ConfigError(GridedgeError):
    """One or more problems in config, profile or schedule files; each names file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        unique = {(p.file, p.line, p.path, p.message, repr(sorted(p.args.items())), p.got): p
                  for p in problems}
        self.problems = sorted(unique.values(), key=lambda p: (p.file, p.line, p.path, p.message))
        super().__init__(f"{len(self.problems)} problem(s)")

    def __str__(self) -> str:
        # Rendered on demand so the language chosen after loading applies.
        return "\n".join(str(p) for p in self.problems)
