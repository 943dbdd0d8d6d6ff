"""Turning pydantic's validation errors into staff-readable :class:`Problem` s with file and line.

Used for config.yaml, device profiles and (later) schedule files alike, so every YAML file gets
the same message for the same mistake.
"""

from __future__ import annotations

import re
import types
import typing
import unicodedata
from typing import Any

from pydantic import BaseModel, ValidationError

from edge.config.base import closest, has_fullwidth
from edge.config.errors import Problem, show_value
from edge.config.source import FULLWIDTH_COLON, Located, PathKey
from edge.i18n import N_, _

__all__ = ["problems_from", "validate"]

_NUMBER_TYPES = {"int_parsing", "int_type", "float_parsing", "float_type", "int_from_float",
                 "decimal_parsing", "bool_parsing", "bool_type", "time_parsing", "date_parsing",
                 "time_type", "date_from_datetime_parsing", "datetime_parsing"}

_SIMPLE = {
    "int_parsing": N_("must be a whole number, e.g. 10"),
    "int_type": N_("must be a whole number, e.g. 10"),
    "int_from_float": N_("must be a whole number, e.g. 10"),
    "float_parsing": N_("must be a number, e.g. 2.5"),
    "float_type": N_("must be a number, e.g. 2.5"),
    "bool_parsing": N_("must be true or false"),
    "bool_type": N_("must be true or false"),
    "string_type": N_("must be text"),
    "string_too_short": N_("must not be empty"),
    "too_short": N_("must not be empty"),
    "list_type": N_("must be a list: lines starting with '- ', or [a, b]"),
    "dict_type": N_("must be a group of settings (lines of 'key: value', indented below)"),
    "model_type": N_("must be a group of settings (lines of 'key: value', indented below)"),
    "model_attributes_type": N_("must be a group of settings (lines of 'key: value', indented below)"),
    "date_parsing": N_("a date is written as YYYY-MM-DD, e.g. 2026-12-01"),
    "date_from_datetime_parsing": N_("a date is written as YYYY-MM-DD, e.g. 2026-12-01"),
    "date_type": N_("a date is written as YYYY-MM-DD, e.g. 2026-12-01"),
    "finite_number": N_("must be a finite number"),
    "url_parsing": N_("must be a URL such as http://192.168.1.10:8088"),
    "path_type": N_("must be a file path"),
}
_BOUNDS = {
    "greater_than_equal": (N_("must be at least {limit}"), "ge"),
    "greater_than": (N_("must be more than {limit}"), "gt"),
    "less_than_equal": (N_("must be at most {limit}"), "le"),
    "less_than": (N_("must be less than {limit}"), "lt"),
    "too_long": (N_("must have at most {limit} entries"), "max_length"),
    "string_too_long": (N_("must be at most {limit} characters"), "max_length"),
}


def validate(model: type[BaseModel], located: Located, context: dict[str, Any] | None = None,
             ) -> tuple[Any, list[Problem]]:
    """Validate located data against ``model``: (instance or None, problems)."""
    try:
        return model.model_validate(located.data, context=context), []
    except ValidationError as err:
        return None, problems_from(err, located, model)


def problems_from(err: ValidationError, located: Located, model: type[BaseModel]) -> list[Problem]:
    """One Problem per pydantic error, placed at the line where the value was written."""
    return [_problem(e, located, model) for e in err.errors()]


def _problem(error: Any, located: Located, model: type[BaseModel]) -> Problem:
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if error["type"] == "gridedge" and "at" in ctx:
        # A rule checked on a whole model names the part it is about, for a precise line.
        loc = loc + tuple(ctx["at"])
    is_key = bool(loc) and loc[-1] == "[key]"
    path: PathKey = tuple(k for k in loc if k != "[key]")
    kind = error["type"]
    mark = located.mark(path)
    shown_path = mark.path
    exact = path in located.marks
    if not exact and path:
        # The value is not in the file (a missing key): name the full path below its parent.
        tail = path[len(_known_prefix(located, path)):]
        shown_path = ".".join(p for p in [mark.path, *(str(t) for t in tail)] if p)
    value = error.get("input")
    got = located.raw.get(path, show_value(value)) if exact and not is_key else None
    if isinstance(value, dict | list) and kind not in _SIMPLE:
        got = None  # "(got {a, b, c})" says nothing a person can act on
    if is_key:
        got = str(path[-1])

    if kind == "missing":
        return Problem(mark.file, mark.line, shown_path, "this setting is required; add '{key}:'",
                       {"key": path[-1] if path else ""})
    if kind == "extra_forbidden":
        allowed = _fields_at(model, path[:-1])
        hint = closest(str(path[-1]), allowed) if allowed else None
        if hint:
            return Problem(mark.file, mark.line, shown_path,
                           "unknown setting '{key}'; did you mean '{hint}'?",
                           {"key": path[-1], "hint": hint})
        return Problem(mark.file, mark.line, shown_path, "unknown setting '{key}'; allowed here: {allowed}",
                       {"key": path[-1], "allowed": ", ".join(allowed) or "-"})
    if isinstance(value, str) and kind in {"dict_type", "model_type", "model_attributes_type"} \
            and FULLWIDTH_COLON in value:
        key = value.split(FULLWIDTH_COLON, 1)[0].strip()
        return Problem(mark.file, mark.line, shown_path, "a full-width colon '：' (Chinese input) "
                       "follows '{key}'; type a half-width ':' and a space instead", {"key": key},
                       got=got)
    if isinstance(value, str) and kind in _NUMBER_TYPES and has_fullwidth(value):
        return Problem(mark.file, mark.line, shown_path, "full-width characters typed with a Chinese"
                       " input method; write {fixed}",
                       {"fixed": unicodedata.normalize("NFKC", value)}, got=got)
    ime = _ime_value_problem(value, mark.file, mark.line, shown_path, got)
    if ime is not None and kind not in {"missing", "extra_forbidden"}:
        return ime
    if kind == "gridedge":
        args = {k: v for k, v in ctx.items() if k not in ("msgid", "at")}
        if "msg" in args:
            args["msg"] = _(args["msg"]).format(**args)
        return Problem(mark.file, mark.line, shown_path, ctx["msgid"], args, got=got)
    if kind in _BOUNDS:
        message, key = _BOUNDS[kind]
        return Problem(mark.file, mark.line, shown_path, message, {"limit": ctx.get(key)}, got=got)
    if kind in {"enum", "literal_error"}:
        # pydantic joins the choices in English ("'a', 'b' or 'c'"): list them plainly instead.
        expected = str(ctx.get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected) or [expected]
        return Problem(mark.file, mark.line, shown_path, "must be one of: {choices}",
                       {"choices": ", ".join(choices)}, got=got)
    if kind == "string_pattern_mismatch":
        return Problem(mark.file, mark.line, shown_path, "contains characters not allowed here",
                       got=got)
    if kind in _SIMPLE:
        return Problem(mark.file, mark.line, shown_path, _SIMPLE[kind], got=got)
    return Problem(mark.file, mark.line, shown_path, "{detail}", {"detail": error["msg"]}, got=got)


_QUOTES = "“”‘’「」『』＂＇"
_BRACKETS = "【】［］〔〕"


def _ime_value_problem(value: Any, file: str, line: int, path: str, got: str | None,
                       ) -> Problem | None:
    """Chinese quotation marks or brackets around a value that was refused: name them."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[:1] in _QUOTES or text[-1:] in _QUOTES:
        inner = text.strip(_QUOTES + "\"'")
        return Problem(file, line, path, "Chinese quotation marks (Chinese input) around the "
                       "value; write it with half-width quotes, \"{fixed}\", or without quotes",
                       {"fixed": inner}, got=got)
    if any(ch in _BRACKETS for ch in text):
        return Problem(file, line, path, "Chinese brackets (Chinese input) in the value; a list "
                       "is written in half-width brackets, e.g. [东门, 南门]", got=got)
    return None


def _known_prefix(located: Located, path: PathKey) -> PathKey:
    probe = tuple(path)
    while probe and probe not in located.marks:
        probe = probe[:-1]
    return probe


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        else:
            return annotation


def _fields_at(model: type[BaseModel], path: PathKey) -> list[str]:
    """Names of the settings allowed at ``path`` of ``model`` ([] when it is not a model)."""
    current: Any = model
    for key in path:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(key))
            if field is None:
                return []
            current = field.annotation
        elif origin is dict:
            current = typing.get_args(current)[1]
        elif origin is list:
            current = typing.get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []
