"""The schedule file as staff write it: pydantic models of ``announcements:`` with friendly types."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainValidator, ValidationInfo, model_validator

from edge.config.base import ClockTime, SpeakerRef, StrictModel, closest, fail, has_fullwidth
from edge.i18n import N_
from edge.schedule.dates import StaffDate, parse_span
from edge.speakers.requests import Priority

__all__ = ["NAME_RULE", "SEPARATORS", "AnnouncementConfig", "DayRule", "ScheduleFileConfig", "TimeWindow"]

# Spellings staff may use for each kind of day (lower-cased for English).
_DAY_WORDS: dict[str, str] = {
    "every day": "every", "everyday": "every", "daily": "every", "每天": "every", "每日": "every",
    "weekdays": "weekdays", "周一至周五": "weekdays", "周一到周五": "weekdays",
    "weekends": "weekends", "weekend": "weekends", "周末": "weekends",
    "workdays": "workdays", "工作日": "workdays",
    "holidays": "holidays", "节假日": "holidays", "法定节假日": "holidays",
    "restdays": "restdays", "休息日": "restdays",
}
_WEEKDAY_WORDS: dict[str, int] = {}
for _i, _names in enumerate([("mon", "monday"), ("tue", "tuesday"), ("wed", "wednesday"),
                             ("thu", "thursday"), ("fri", "friday"), ("sat", "saturday"),
                             ("sun", "sunday")]):
    _zh = "一二三四五六日"[_i]
    for _word in (*_names, f"周{_zh}", f"星期{_zh}", f"礼拜{_zh}"):
        _WEEKDAY_WORDS[_word] = _i
for _word in ("周天", "星期天", "礼拜天"):
    _WEEKDAY_WORDS[_word] = 6
_ALL_WORDS = ("all", "全部", "所有", "所有喇叭")
SEPARATORS = re.compile(r"\s*[,，、]\s*")
_INTERVAL = re.compile(r"^\s*(?:(\d+)\s*(?:h|hr|hours?|小时|个小时))?\s*"
                       r"(?:(\d+)\s*(?:m|min|mins|minutes?|分|分钟))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DayRule:
    """One entry of ``days:``: a kind (every, weekdays, weekends, workdays, holidays, restdays,
    weekday, dates) with the weekday (0 = Monday) or the date range it needs."""

    kind: str
    weekday: int | None = None
    first: date | None = None
    last: date | None = None


def _day_rule(value: Any, at: tuple[int, ...]) -> DayRule:
    if isinstance(value, str):
        word = unicodedata.normalize("NFKC", value).strip()
        key = word.lower()
        if key in _DAY_WORDS:
            return DayRule(_DAY_WORDS[key])
        if key in _WEEKDAY_WORDS:
            return DayRule("weekday", weekday=_WEEKDAY_WORDS[key])
        if not word[:1].isdigit():
            hint = closest(word, [*_DAY_WORDS, *_WEEKDAY_WORDS])
            if hint:
                raise fail(N_("unknown kind of day '{word}'; did you mean '{hint}'?"),
                           at=at, word=value, hint=hint)
            raise fail(N_("unknown kind of day '{word}'; write e.g. 每天, 工作日, 节假日, 周末, "
                          "周一, Mon, or a date 2026-12-01 (a range: 2026-12-01 ~ 2026-12-07)"),
                       at=at, word=value)
    try:
        first, last = parse_span(value)
    except Exception as err:
        if at and hasattr(err, "context") and err.context is not None:
            raise fail(err.context["msgid"], at=at, **{k: v for k, v in err.context.items()
                                                      if k not in ("msgid", "at")}) from None
        raise
    return DayRule("dates", first=first, last=last)


def _days(value: Any) -> tuple[DayRule, ...]:
    if value is None:
        return (DayRule("every"),)
    if isinstance(value, list):
        if not value:
            raise fail(N_("must not be empty"))
        return tuple(_day_rule(v, (i,)) for i, v in enumerate(value))
    return (_day_rule(value, ()),)


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _speakers(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        if value.strip().lower() in _ALL_WORDS:
            return list((info.context or {}).get("speakers_all", ()))
        return SEPARATORS.split(value.strip())
    return value


def _interval(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    elif isinstance(value, str) and not has_fullwidth(value) and (m := _INTERVAL.match(value)) \
            and (m[1] or m[2]):
        minutes = int(m[1] or 0) * 60 + int(m[2] or 0)
    else:
        raise fail(N_("an interval is written like 30m, 2h, 1h30m or 90分钟"))
    if not 1 <= minutes <= 24 * 60:
        raise fail(N_("an interval must be between 1 minute and 24 hours"))
    return timedelta(minutes=minutes)


# Staff write the priority in Chinese as often as in English (as ``days:`` takes 工作日).
_PRIORITY_WORDS = {"普通": "routine", "一般": "routine", "日常": "routine", "重要": "important",
                   "紧急": "emergency", "应急": "emergency"}


def _priority(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    word = unicodedata.normalize("NFKC", value).strip()
    if word in _PRIORITY_WORDS:
        return _PRIORITY_WORDS[word]
    if word.lower() in {p.value for p in Priority}:
        return word.lower()
    raise fail(N_("unknown priority; write 普通 (routine), 重要 (important) or 紧急 "
                  "(emergency)"))


def _window(value: Any) -> Any:
    if isinstance(value, str):
        parts = re.split(r"\s*(?:~|～|至|到|-)\s*", value.strip(), maxsplit=1)
        if len(parts) != 2:
            raise fail(N_("a window is written as 'HH:MM ~ HH:MM', e.g. '09:00 ~ 17:00'"))
        return {"start": parts[0], "end": parts[1]}
    return value


class TimeWindow(StrictModel):
    """Part of a day (same day: the end is after the start) within which ``every`` repeats."""

    start: ClockTime = Field(description="first slot, HH:MM site time")
    end: ClockTime = Field(description="no slot after this, HH:MM site time")

    @model_validator(mode="after")
    def _ends_after_start(self) -> TimeWindow:
        # A window is one stretch of one day; quiet hours are what crosses midnight.
        if self.end <= self.start:
            raise fail(N_("the window ends before it starts; it must lie within one day"),
                       at=("end",))
        return self


Interval = Annotated[timedelta, PlainValidator(_interval)]
Days = Annotated[tuple[DayRule, ...], PlainValidator(_days)]


class AnnouncementConfig(StrictModel):
    """One announcement: what to say, where, when."""

    title: str | None = Field(default=None, description="name shown to staff; default: the id")
    text: str | None = Field(default=None, description="text to speak (rendered by TTS)")
    clip: Path | None = Field(default=None, description="recorded clip, relative to this file")
    speakers: Annotated[list[SpeakerRef], BeforeValidator(_speakers)] = Field(
        default="all", min_length=1, validate_default=True,
        description="speaker names or ids, or all")
    at: Annotated[list[ClockTime], BeforeValidator(_as_list)] = Field(
        default_factory=list, description="times of day, HH:MM site time")
    every: Interval | None = Field(default=None, description="repeat interval within 'window'")
    window: Annotated[TimeWindow | None, BeforeValidator(_window)] = Field(
        default=None, description="part of the day in which 'every' repeats")
    days: Days = Field(default=(DayRule("every"),), description="which days it plays")
    from_: StaffDate | None = Field(default=None, alias="from", description="first date")
    until: StaffDate | None = Field(default=None, description="last date (included)")
    volume: int | None = Field(default=None, ge=0, le=100, description="percent; default: "
                               "the speaker's volume")
    repeat: int = Field(default=1, ge=1, le=5, description="times the text is said in one clip")
    priority: Annotated[Priority, BeforeValidator(_priority)] = Field(
        default=Priority.ROUTINE, description="routine, important or "
                               "emergency; emergency interrupts and ignores quiet hours")
    enabled: bool = Field(default=True, description="false = keep it in the file but never play")

    @model_validator(mode="after")
    def _one_rule_each(self) -> AnnouncementConfig:
        # Each rule is one sentence staff can act on; the first broken one is reported.
        if self.text is not None and self.clip is not None:
            raise fail(N_("give either 'text' or 'clip', not both"), at=("clip",))
        if self.text is None and self.clip is None:
            raise fail(N_("say what to play: add 'text:' (spoken by the computer voice) or "
                          "'clip:' (a recorded file)"))
        if self.text is not None and not self.text.strip():
            raise fail(N_("the text is empty; write what the speakers should say"), at=("text",))
        if not self.at and self.every is None:
            raise fail(N_("say when to play: add 'at:' times, or 'every:' with a 'window:'"))
        if self.every is not None and self.window is None:
            raise fail(N_("'every' needs a 'window' (e.g. window: '09:00 ~ 17:00') so it does "
                          "not repeat all day and night"), at=("every",))
        if self.window is not None and self.every is None:
            raise fail(N_("'window' needs 'every' (e.g. every: 2h)"), at=("window",))
        if self.from_ is not None and self.until is not None and self.until < self.from_:
            raise fail(N_("'until' ({until}) is before 'from' ({first}); the announcement "
                          "would never play"), at=("until",),
                       until=self.until.isoformat(), first=self.from_.isoformat())
        return self

    def times(self) -> list[time]:
        """Every slot of the day: the ``at`` times and the ``every`` steps within the window."""
        out = set(self.at)
        if self.every is not None and self.window is not None:
            minute = self.window.start.hour * 60 + self.window.start.minute
            end = self.window.end.hour * 60 + self.window.end.minute
            step = int(self.every.total_seconds() // 60)
            while minute <= end:
                out.add(time(minute // 60, minute % 60))
                minute += step
        return sorted(out)


NAME_RULE = N_("an announcement name must not be empty or contain '@'")


def _announcement_id(value: Any) -> Any:
    if isinstance(value, str) and ("@" in value or not value.strip()):
        raise fail(NAME_RULE)
    return value


class ScheduleFileConfig(StrictModel):
    """A schedule file: its announcements by name."""

    announcements: dict[Annotated[str, BeforeValidator(_announcement_id)], AnnouncementConfig] = \
        Field(default_factory=dict, description="announcements by name (the name is used in "
              "the play log)")
    paused: bool = Field(default=False, description="true = none of this file's announcements "
                         "play (a deliberate pause; an empty file is refused instead)")
