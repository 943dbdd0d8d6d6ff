"""Reading staff-edited YAML into plain data while remembering where every value was written.

PyYAML composes the document into nodes that carry marks; we build the data from those nodes
ourselves so that each path (``("speakers", "devices", "east", "volume")``) keeps its file, line
and the dotted path as written. The resolver follows YAML 1.2's core schema: ``8:30`` stays the
text "8:30" (YAML 1.1 would read it as the number 510), ``yes``/``no``/``on``/``off`` stay text,
and dates stay text for the typed models to parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.config.errors import ConfigError, Problem, show_value

__all__ = ["Located", "Mark", "PathKey", "dotted", "read_yaml", "read_yaml_text"]

PathKey = tuple[str | int, ...]

FULLWIDTH_COLON = "："


@dataclass(frozen=True)
class Mark:
    """Where one value was written: file, 1-based line, and its dotted path in that file."""

    file: str
    line: int
    path: str


@dataclass
class Located:
    """Plain YAML data plus the mark of every path in it (paths relative to ``data``)."""

    data: Any
    marks: dict[PathKey, Mark] = field(default_factory=dict)
    raw: dict[PathKey, str] = field(default_factory=dict)

    def mark(self, path: PathKey) -> Mark:
        """The mark of ``path`` or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self.marks:
                return self.marks[probe]
            probe = probe[:-1]
        return self.marks.get((), Mark("?", 0, ""))

    def sub(self, path: PathKey) -> Located:
        """The part of the document below ``path`` (which must exist), with its marks."""
        data = self.data
        for key in path:
            data = data[key]
        n = len(path)
        return Located(
            data,
            {p[n:]: m for p, m in self.marks.items() if p[:n] == path},
            {p[n:]: r for p, r in self.raw.items() if p[:n] == path},
        )

    def graft(self, path: PathKey, part: Located) -> None:
        """Put ``part`` at ``path``, replacing what was there, marks included."""
        n = len(path)
        for store in (self.marks, self.raw):
            for p in [p for p in store if p[:n] == path and len(p) > n]:
                del store[p]
        target = self.data
        for key in path[:-1]:
            target = target[key]
        if path:
            target[path[-1]] = part.data
        else:
            self.data = part.data
        self.marks.update({path + p: m for p, m in part.marks.items()})
        self.raw.update({path + p: r for p, r in part.raw.items()})


def dotted(path: PathKey) -> str:
    """``("posts", "devices", "P01", "ports", 0)`` → ``posts.devices.P01.ports[0]``."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars (see the module docstring)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.rsplit(":", 1)[-1] == "merge"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789.")) 
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])

if yaml.__with_libyaml__:
    class _FastLoader(yaml.CSafeLoader):
        """The same resolvers on libyaml's parser: a 20,000-announcement schedule file parses
        about ten times faster. Errors are reported by the pure-Python parser (see
        ``read_yaml_text``) so that staff see the same message whichever parsed first."""

    _FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
else:  # pragma: no cover - PyYAML wheels ship libyaml
    _FastLoader = _Loader  # type: ignore[misc,assignment]


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag.rsplit(":", 1)[-1]
    text = node.value
    if tag == "null":
        return None
    if tag == "bool":
        return text.lower() == "true"
    if tag == "int":
        if text.startswith(("0o", "0x")):
            return int(text, 0)
        return int(text, 10)
    if tag == "float":
        low = text.lower()
        if low.endswith(".inf"):
            return float("-inf") if low.startswith("-") else float("inf")
        if low == ".nan":
            return float("nan")
        return float(text)
    return text


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.located = Located(None)
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: PathKey, line: int) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.located.marks[path] = Mark(self.file, line, dotted(path))
            _Loader.flatten_mapping(_Loader(""), node)
            out: dict[str, Any] = {}
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(self.file, key_line, dotted(path),
                                                 "a key must be a plain name, not a list or mapping"))
                    continue
                key = key_node.value
                if key in out:
                    self.problems.append(Problem(
                        self.file, key_line, dotted((*path, key)),
                        "'{key}' is written twice here (first at line {first}); each name must "
                        "be unique: remove or rename one of them",
                        {"key": key, "first": first_line[key]}))
                    continue
                first_line[key] = key_line
                out[key] = self.build(value_node, (*path, key), key_line)
            return out
        if isinstance(node, yaml.SequenceNode):
            self.located.marks[path] = Mark(self.file, line, dotted(path))
            return [self.build(item, (*path, i), item.start_mark.line + 1)
                    for i, item in enumerate(node.value)]
        value_line = node.start_mark.line + 1
        self.located.marks[path] = Mark(self.file, value_line, dotted(path))
        self.located.raw[path] = node.value
        return _scalar(node)


def read_yaml(path: Path, shown_as: str | None = None) -> Located:
    """Read one YAML file; raise ConfigError naming file and line for every problem."""
    name = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([Problem(name, 0, "", "file not found; check the path")]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([Problem(name, 0, "", "file is not UTF-8 text; save it as UTF-8 ({err})",
                                   {"err": err.reason})]) from None
    return read_yaml_text(text, name)


def read_yaml_text(text: str, name: str) -> Located:
    """Parse YAML ``text`` shown as file ``name`` into :class:`Located` data."""
    lines = text.splitlines()
    problems = _tab_problems(lines, name) + _fullwidth_indent_problems(lines, name)
    if problems:
        # A tab breaks the parse at that line, and a full-width space in front of a key can make
        # the parser drop the line without a word: the parser's view would only confuse.
        raise ConfigError(problems)
    try:
        node = yaml.compose(text, Loader=_FastLoader)
    except yaml.YAMLError:
        try:
            node = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as err:
            raise ConfigError([_parse_problem(err, lines, name)]) from None
    builder = _Builder(name)
    if node is None:
        builder.located.data = {}
        builder.located.marks[()] = Mark(name, 1, "")
    else:
        builder.located.data = builder.build(node, (), node.start_mark.line + 1)
    if builder.problems:
        raise ConfigError(builder.problems)
    return builder.located


_KEY_AFTER_INDENT = re.compile(r"^(?:[-－][ \u3000]+)?[^\s:：#]+:(?:\s|$)")


def _fullwidth_indent_problems(lines: list[str], name: str) -> list[Problem]:
    # Only lines that look like "key: value" (half-width colon) after the indentation: a spoken
    # text may well start its paragraph with full-width spaces.
    out = []
    for number, line in enumerate(lines, 1):
        stripped = line.lstrip(" \u3000")
        indent = line[: len(line) - len(stripped)]
        if FULLWIDTH_SPACE in indent and _KEY_AFTER_INDENT.match(stripped):
            found = ime_problem(line, number, name)
            if found is not None:
                out.append(found)
    return out


def _tab_problems(lines: list[str], name: str) -> list[Problem]:
    out = []
    for number, line in enumerate(lines, 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            out.append(Problem(name, number, "", "a tab is used for indentation; YAML needs spaces:"
                               " replace the tab with spaces (2 per level)"))
    return out


# Characters a Chinese input method types where YAML needs its ASCII twin.
FULLWIDTH_SPACE = "\u3000"
_KEY_COLON = re.compile(r"^[ \u3000]*(?:[-－][ \u3000]+)?([^\s:：#'\"“”‘’]+)[ \u3000]*：")
_DASH = re.compile(r"^[ \u3000]*－")


def ime_problem(line: str, number: int, name: str) -> Problem | None:
    """The input-method character that breaks this line's YAML structure, with the fix, or None.

    Looked for only where the parser failed: a full-width colon inside a text value, or a
    full-width space inside a spoken text, is what staff meant.
    """
    source = _without_comment(line)
    indent = source[: len(source) - len(source.lstrip(" \u3000\t"))]
    if FULLWIDTH_SPACE in indent:
        return Problem(name, number, "", "this line is indented with full-width spaces (Chinese "
                       "input); YAML needs half-width spaces: delete the indentation and type it "
                       "again with the space bar in English input mode")
    match = _KEY_COLON.match(source)
    if match and ":" not in source.split("：", 1)[0]:
        return Problem(name, number, "", "a full-width colon '：' (Chinese input) follows "
                       "'{key}'; type a half-width ':' and a space instead", {"key": match[1]})
    if _DASH.match(source):
        return Problem(name, number, "", "a list item starts with a full-width dash '－' "
                       "(Chinese input); type a half-width '-' and a space instead")
    return None


def _parse_problem(err: yaml.MarkedYAMLError, lines: list[str], name: str) -> Problem:
    mark = err.problem_mark or err.context_mark
    line_no = mark.line + 1 if mark else 0
    problem = err.problem or ""
    # The parser notices a mistake a line or two after it was typed (it is still looking for
    # the ':' of a key): look from where it began the construct it could not finish.
    first = line_no - 4
    if err.context_mark is not None:
        first = min(first, err.context_mark.line + 1)
    for n in range(max(first, 1), min(line_no, len(lines)) + 1):
        found = ime_problem(lines[n - 1], n, name)
        if found is not None:
            return found
    if "mapping values are not allowed" in problem and 1 <= line_no <= len(lines):
        source = lines[line_no - 1]
        key, _sep, rest = source.partition(": ")
        rest = rest.strip()
        return Problem(name, line_no, "", "this text contains ': ', which YAML reads as a new key; "
                       "put the whole text in quotes: {fix}",
                       {"fix": f"{key.strip()}: \"{rest}\""}, got=show_value(rest))
    if "found character '\\t'" in problem:
        return Problem(name, line_no, "", "a tab is used here; YAML needs spaces")
    detail = f"{err.context or ''} {problem}".strip()
    return Problem(name, line_no, "", "this is not valid YAML ({detail}); check indentation, "
                   "colons and quotes on this line and the one above", {"detail": detail})


def _without_comment(line: str) -> str:
    in_quote = ""
    for i, ch in enumerate(line):
        if ch in "'\"":
            in_quote = "" if in_quote == ch else (in_quote or ch)
        elif ch == "#" and not in_quote and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line
