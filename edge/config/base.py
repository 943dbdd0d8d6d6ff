"""Shared building blocks of the typed config: the strict base model and the field types staff fill.

Validators here are pure. Reference types (a speaker, post or profile named elsewhere) check
their name against the sets that ``edge.config.load`` passes as validation context, so every
dangling name is reported with a did-you-mean in the same run as every other problem.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from datetime import time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError

from edge.i18n import N_

__all__ = [
    "ClockTime",
    "DeviceId",
    "PostProfileRef",
    "PostRef",
    "SpeakerProfileRef",
    "SpeakerRef",
    "StrictModel",
    "closest",
    "fail",
    "has_fullwidth",
]

_FULLWIDTH = re.compile("[\uff10-\uff19\uff1a\uff0e\uff0c\u3000]")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors and loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def fail(msgid: str, *, at: tuple[str | int, ...] = (), **args: Any) -> PydanticCustomError:
    """An error for a catalogue message ``msgid`` with its ``{placeholders}`` filled from args.

    Args:
        msgid: the English message id.
        at: where below the validated value the problem is (so its line can be shown).
        **args: values of the placeholders.
    """
    ctx = {"msgid": msgid, **args}
    if at:
        ctx["at"] = at
    return PydanticCustomError("gridedge", msgid, ctx)


def has_fullwidth(text: str) -> bool:
    """True when text holds full-width digits or punctuation typed with a Chinese input method."""
    return bool(_FULLWIDTH.search(text))


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice that looks most like ``word`` (a likely typo), or None."""
    options = [str(c) for c in choices]
    by_case = {o.lower(): o for o in options}
    if word.lower() in by_case:
        return by_case[word.lower()]
    # Two swapped letters ("prot" for "port") are the commonest typo; difflib scores them low.
    swapped = [o for o in options if sorted(o.lower()) == sorted(word.lower())]
    if len(swapped) == 1:
        return swapped[0]
    # Chinese names are two or three characters: one wrong character is a ratio of 0.5.
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return found[0] if found else None


def _device_id(value: Any) -> Any:
    if isinstance(value, str) and not _ID.match(value):
        raise fail(N_("an id may use only the letters a-z and A-Z, digits, '-' and '_' (at most 64,"
                      " first a letter or digit) because it becomes part of MQTT topics; put a "
                      "Chinese name under 'name:'"))
    return value


DeviceId = Annotated[str, AfterValidator(_device_id)]


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and has_fullwidth(value):
        fixed = unicodedata.normalize("NFKC", value)
        raise fail(N_("full-width characters typed with a Chinese input method; write {fixed}"),
                   fixed=fixed)
    if isinstance(value, float | int) and not isinstance(value, bool):
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        hours, _, minutes = text.partition(".")
        hint = f"{int(hours):02d}:{minutes or '00'}"
        raise fail(N_("a time is written as HH:MM with a colon, e.g. {hint}"), hint=hint)
    if not isinstance(value, str):
        raise fail(N_("a time is written as HH:MM with a colon, e.g. 08:30"))
    match = _CLOCK.match(value.strip())
    if not match:
        raise fail(N_("a time is written as HH:MM with a colon, e.g. 08:30"))
    hours, minutes = int(match[1]), int(match[2])
    if hours > 23:  # noqa: PLR2004 - the clock has 24 hours
        raise fail(N_("hours go from 00 to 23 (midnight is 00:00)"))
    if minutes > 59:  # noqa: PLR2004
        raise fail(N_("minutes go from 00 to 59"))
    return time(hours, minutes)


ClockTime = Annotated[time, BeforeValidator(_clock_time)]


def _reference(kind: str, msgid: str) -> Any:
    def check(value: str, info: ValidationInfo) -> str:
        names: dict[str, str] | None = (info.context or {}).get(kind)
        if names is None or value in names:
            return names[value] if names else value
        hint = closest(value, names)
        if hint is not None:
            raise fail(N_("{msg}; did you mean '{hint}'?"), msg=msgid, hint=hint, name=value)
        raise fail(N_("{msg}; known: {known}"), msg=msgid, known=", ".join(sorted(names)) or "-", name=value)

    return AfterValidator(check)


# The context maps every accepted spelling (id, Chinese name, alias) to the canonical id.
SpeakerRef = Annotated[str, _reference("speakers", N_("there is no speaker '{name}'"))]
PostRef = Annotated[str, _reference("posts", N_("there is no charging post '{name}'"))]
SpeakerProfileRef = Annotated[str, _reference("speaker_profiles",
                                              N_("there is no speaker profile '{name}'"))]
PostProfileRef = Annotated[str, _reference("post_profiles",
                                           N_("there is no charging-post profile '{name}'"))]
