"""Checks across announcements: quiet hours, overlapping slots on one speaker, calendar gaps."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import combinations_with_replacement

from edge.config.errors import Problem
from edge.i18n import N_, _
from edge.schedule.calendar import ChinaCalendar
from edge.schedule.const import (
    CHECK_HORIZON_DAYS,
    SOURCE_HOLIDAYS_ESTIMATE,
)
from edge.schedule.occurrences import day_verdict, in_quiet_hours
from edge.schedule.schedule import Announcement, Schedule

__all__ = ["FALLBACK_TEXT", "LazyText", "check_schedule"]

_CALENDAR_KINDS = {"workdays", "holidays", "restdays"}
FALLBACK_TEXT = {
    SOURCE_HOLIDAYS_ESTIMATE: N_("the holidays package's estimate (holidays by rule, no "
                                 "adjusted working weekends)"),
    "weekday-fallback": N_("Monday to Friday as working days, no holidays"),
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
    """(errors, notes) about the schedule as a whole; errors stop it from loading."""
    errors: list[Problem] = []
    notes: list[Problem] = []
    horizon = [today + timedelta(days=i) for i in range(CHECK_HORIZON_DAYS)]
    active: dict[str, set[date]] = {}
    for ann in schedule.announcements:
        errors += _quiet_problems(ann, quiet, notes)
        active[ann.id] = {d for d in horizon if day_verdict(ann, calendar.day(d))[0]}
        notes += _gap_notes(ann, calendar, today, holidays_file)
    errors += _overlaps(schedule, active, quiet, speaker_names)
    return errors, notes


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


def _overlaps(schedule: Schedule, active: dict[str, set[date]], quiet: tuple[time, time],
              speaker_names: dict[str, str]) -> list[Problem]:
    out = []
    enabled = [a for a in schedule.announcements if a.enabled and a.duration_s > 0]
    for a, b in combinations_with_replacement(enabled, 2):
        shared = [s for s in a.speakers if s in b.speakers]
        common = active[a.id] & active[b.id]
        if not shared or not common:
            continue
        clash = _first_clash(a, b, quiet)
        if clash is None:
            continue
        first, t1, later, t2 = clash
        speaker = speaker_names.get(shared[0], shared[0])
        end = datetime.combine(date.min, t1) + timedelta(seconds=round(first.duration_s))
        if a is b:
            out.append(Problem(later.file, later.time_lines[t2], f"announcements.{later.id}",
                               "the slots at {first} and {second} overlap on {speaker}: this "
                               "announcement plays about {seconds} s; leave more time between "
                               "slots or shorten it",
                               {"first": _hm(t1), "second": _hm(t2), "speaker": speaker,
                                "seconds": round(first.duration_s)}))
        else:
            out.append(Problem(later.file, later.time_lines[t2], f"announcements.{later.id}",
                               "{time} overlaps '{other}' on {speaker} (from {date}): '{other}' "
                               "starts at {other_time} and plays about {seconds} s, until "
                               "{until}; a speaker plays one clip at a time: move one of them",
                               {"time": _hm(t2), "other": first.id, "speaker": speaker,
                                "date": min(common).isoformat(), "other_time": _hm(t1),
                                "seconds": round(first.duration_s),
                                "until": end.strftime("%H:%M:%S")}))
    return out


def _first_clash(a: Announcement, b: Announcement, quiet: tuple[time, time],
                 ) -> tuple[Announcement, time, Announcement, time] | None:
    """The first two slots that overlap: (the earlier one's announcement and time, the later's)."""
    for ta in _playing(a, quiet):
        for tb in _playing(b, quiet):
            if a is b and tb <= ta:
                continue
            sa, sb = _seconds(ta), _seconds(tb)
            if sa <= sb < sa + a.duration_s:
                return a, ta, b, tb
            if sb < sa < sb + b.duration_s:
                return b, tb, a, ta
    return None


def _gap_notes(ann: Announcement, calendar: ChinaCalendar, today: date,
               holidays_file: str) -> list[Problem]:
    if not ann.enabled or not any(r.kind in _CALENDAR_KINDS for r in ann.days):
        return []
    start = max(today, ann.first or today)
    end = today + timedelta(days=CHECK_HORIZON_DAYS - 1)
    if ann.last is not None:
        end = min(end, ann.last)
    gaps = calendar.gaps(start, end) if start <= end else []
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
