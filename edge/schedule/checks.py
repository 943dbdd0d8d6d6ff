"""Checks across announcements: quiet hours, overlapping slots on one speaker, calendar gaps."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from edge.config.errors import Problem
from edge.i18n import N_, _
from edge.schedule.calendar import ChinaCalendar
from edge.schedule.const import (
    CHECK_HORIZON_DAYS,
    SOURCE_HOLIDAYS_ESTIMATE,
)
from edge.schedule.occurrences import day_verdict, in_quiet_hours
from edge.schedule.schedule import Announcement, Schedule

__all__ = ["FALLBACK_TEXT", "SOURCE_TEXT", "LazyText", "check_schedule"]

_CALENDAR_KINDS = {"workdays", "holidays", "restdays"}
FALLBACK_TEXT = {
    SOURCE_HOLIDAYS_ESTIMATE: N_("an estimate by rule (holidays by rule, no adjusted working "
                                 "weekends)"),
    "weekday-fallback": N_("Monday to Friday as working days, no holidays"),
}
# Where a day's kind came from, in words staff read (the source ids are for logs and tests).
SOURCE_TEXT = {
    "override": N_("the holiday file"),
    "chinese-calendar": N_("the official calendar"),
    "holidays": N_("the official holiday data"),
    SOURCE_HOLIDAYS_ESTIMATE: N_("an estimate by rule"),
    "weekday-fallback": N_("Monday to Friday"),
}


class LazyText:
    """A catalogue message used as a placeholder value, translated when the message is shown."""

    def __init__(self, msgid: str) -> None:
        self.msgid = msgid

    def __format__(self, spec: str) -> str:
        return format(_(self.msgid), spec)

    def __repr__(self) -> str:
        return repr(self.msgid)


def check_schedule(schedule: Schedule, *, speaker_names: dict[str, str],
                   quiet: tuple[time, time], calendar: ChinaCalendar, today: date,
                   holidays_file: str = "") -> tuple[list[Problem], list[Problem]]:
    """(errors, notes) about the schedule as a whole; errors stop it from loading.

    Near-linear in the number of announcements: slots are compared only with the slots of the
    same speaker that start while they play, and the days an announcement plays are computed
    once per distinct day rule (most announcements share a handful).
    """
    errors: list[Problem] = []
    notes: list[Problem] = []
    horizon = [today + timedelta(days=i) for i in range(CHECK_HORIZON_DAYS)]
    days = _ActiveDays(calendar, horizon)
    gap_cache: dict[tuple[date, date], list[date]] = {}
    for ann in schedule.announcements:
        errors += _quiet_problems(ann, quiet, notes)
        notes += _gap_notes(ann, calendar, today, holidays_file, gap_cache)
    errors += _overlaps(schedule, days, quiet, speaker_names)
    return errors, notes


class _ActiveDays:
    """The horizon days an announcement plays on, cached by its day rule and date range."""

    def __init__(self, calendar: ChinaCalendar, horizon: list[date]) -> None:
        self._infos = [calendar.day(d) for d in horizon]
        self._cache: dict[tuple[object, ...], frozenset[date]] = {}

    def of(self, ann: Announcement) -> frozenset[date]:
        key = (ann.days, ann.first, ann.last, ann.enabled)
        found = self._cache.get(key)
        if found is None:
            found = frozenset(i.day for i in self._infos if day_verdict(ann, i)[0])
            self._cache[key] = found
        return found


def _hm(t: time) -> str:
    return t.strftime("%H:%M")


def _quiet_problems(ann: Announcement, quiet: tuple[time, time],
                    notes: list[Problem]) -> list[Problem]:
    if ann.priority.rank >= 2:
        return []
    out = []
    skipped = []
    for t in ann.times:
        if not in_quiet_hours(t, *quiet):
            continue
        if t in ann.explicit_times:
            out.append(Problem(ann.file, ann.time_lines[t], f"announcements.{ann.id}.at",
                               "{time} is inside the site's quiet hours ({start}–{end}), when "
                               "only emergency announcements play; choose another time or set "
                               "'priority: emergency'",
                               {"time": _hm(t), "start": _hm(quiet[0]), "end": _hm(quiet[1])}))
        else:
            skipped.append(t)
    if skipped:
        notes.append(Problem(ann.file, ann.time_lines[skipped[0]], f"announcements.{ann.id}.every",
                             "{count} slot(s) fall in quiet hours ({start}–{end}) and are "
                             "skipped: {times}",
                             {"count": len(skipped), "start": _hm(quiet[0]), "end": _hm(quiet[1]),
                              "times": ", ".join(_hm(t) for t in skipped)}))
    return out


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60


def _playing(ann: Announcement, quiet: tuple[time, time]) -> list[time]:
    return [t for t in ann.times
            if ann.priority.rank >= 2 or not in_quiet_hours(t, *quiet)]


def _file_order(ann: Announcement) -> tuple[str, int]:
    return ann.file, ann.line


def _overlaps(schedule: Schedule, days: _ActiveDays, quiet: tuple[time, time],
              speaker_names: dict[str, str]) -> list[Problem]:
    """One problem per pair of announcements whose slots overlap on a shared speaker."""
    slots: dict[str, list[tuple[int, int, Announcement, time]]] = {}
    for index, ann in enumerate(schedule.announcements):
        if not ann.enabled or ann.duration_s <= 0:
            continue
        for t in _playing(ann, quiet):
            for speaker in ann.speakers:
                slots.setdefault(speaker, []).append((_seconds(t), index, ann, t))
    reported: set[tuple[str, str]] = set()
    out = []
    for speaker, mine in slots.items():
        mine.sort(key=lambda slot: (slot[0], slot[1]))
        for i, (start, _index, first, t1) in enumerate(mine):
            end = start + first.duration_s
            # Sorted by start: only the slots that start before this one ends can overlap it.
            for other_start, _other_index, later, t2 in mine[i + 1:]:
                if other_start >= end:
                    break
                pair = (min(first.id, later.id), max(first.id, later.id))
                if pair in reported:
                    continue
                common = days.of(first) & days.of(later)
                if not common:
                    continue
                reported.add(pair)
                out.append(_overlap_problem(first, t1, later, t2, speaker_names.get(
                    speaker, speaker), min(common)))
    return out


def _overlap_problem(first: Announcement, t1: time, later: Announcement, t2: time,
                     speaker: str, since: date) -> Problem:
    """The overlap of the slot ``t1`` of ``first`` with the slot ``t2`` (not earlier) of
    ``later``, reported at whichever of the two is written later in the file."""
    end = datetime.combine(date.min, t1) + timedelta(seconds=round(first.duration_s))
    if first is later:
        return Problem(later.file, later.time_lines[t2], f"announcements.{later.id}",
                       "the slots at {first} and {second} overlap on {speaker}: this "
                       "announcement plays about {seconds} s; leave more time between "
                       "slots or shorten it",
                       {"first": _hm(t1), "second": _hm(t2), "speaker": speaker,
                        "seconds": round(first.duration_s)})
    here, there = (later, first) if _file_order(later) >= _file_order(first) else (first, later)
    here_t, there_t = (t2, t1) if here is later else (t1, t2)
    where = str(there.line) if there.file == here.file else f"{there.file}:{there.line}"
    return Problem(here.file, here.time_lines[here_t], f"announcements.{here.id}",
                   "'{this}' at {this_time} overlaps '{other}' (line {other_line}) at "
                   "{other_time} on {speaker} (from {date}): '{first}' starts at {start} and "
                   "plays about {seconds} s, until {until}; a speaker plays one clip at a time: "
                   "move one of them",
                   {"this": here.id, "this_time": _hm(here_t), "other": there.id,
                    "other_line": where, "other_time": _hm(there_t), "speaker": speaker,
                    "date": since.isoformat(), "first": first.id, "start": _hm(t1),
                    "seconds": round(first.duration_s), "until": end.strftime("%H:%M:%S")})


def _gap_notes(ann: Announcement, calendar: ChinaCalendar, today: date,
               holidays_file: str, cache: dict[tuple[date, date], list[date]]) -> list[Problem]:
    if not ann.enabled or not any(r.kind in _CALENDAR_KINDS for r in ann.days):
        return []
    start = max(today, ann.first or today)
    end = today + timedelta(days=CHECK_HORIZON_DAYS - 1)
    if ann.last is not None:
        end = min(end, ann.last)
    if (start, end) not in cache:
        cache[start, end] = calendar.gaps(start, end) if start <= end else []
    gaps = cache[start, end]
    if not gaps:
        return []
    source = calendar.day(gaps[0]).source
    return [Problem(ann.file, ann.days_line or ann.line, f"announcements.{ann.id}.days",
                    "no official holiday arrangement for {first} … {last} yet, so working days "
                    "there come from {fallback}; enter the State Council's arrangement in {file} "
                    "when it is published",
                    {"first": gaps[0].isoformat(), "last": gaps[-1].isoformat(),
                     "fallback": LazyText(FALLBACK_TEXT.get(source, source)),
                     "file": holidays_file or "schedules/holidays.yaml"})]
