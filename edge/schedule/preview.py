"""The timetable staff check before and after editing: per day, per speaker, with dropped slots."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge.i18n import N_, _
from edge.schedule.calendar import ChinaCalendar, DayInfo
from edge.schedule.checks import FALLBACK_TEXT, SOURCE_TEXT
from edge.schedule.occurrences import DROP_QUIET, expand
from edge.schedule.schedule import Schedule

__all__ = ["render_preview"]

# One catalogue entry per list keeps short words ("Mon") from clashing with other modules' ids.
_WEEKDAYS = N_("Mon,Tue,Wed,Thu,Fri,Sat,Sun")
_PRIORITIES = N_("routine,important,emergency")


def _day_kind(info: DayInfo) -> str:
    if info.holiday is not None:
        return _("holiday: {name}").format(name=info.holiday)
    if info.adjusted_workday:
        return _("adjusted working day (调休上班)")
    return _("working day") if info.workday else _("rest day")


def _source(info: DayInfo) -> str:
    source = _(SOURCE_TEXT[info.source]) if info.source in SOURCE_TEXT else info.source
    if info.official:
        return _("calendar: {source}").format(source=source)
    return _("calendar: {source}, no official data").format(source=source)


def render_preview(schedule: Schedule, *, calendar: ChinaCalendar, tz: ZoneInfo,
                   quiet: tuple[time, time], first: date, days: int,
                   speakers: list[str], speaker_names: dict[str, str]) -> str:
    """The timetable of ``days`` days from ``first``, for the given speaker ids, as text."""
    lines = [_("Quiet hours {start}–{end}: only emergency announcements play.").format(
        start=quiet[0].strftime("%H:%M"), end=quiet[1].strftime("%H:%M"))]
    # A deliberate pause is shown, so that "nothing scheduled" below is never a surprise.
    for file in schedule.paused:
        count = sum(1 for a in schedule.announcements if a.file == file)
        lines.append(_("PAUSED ('paused: true' in {file}): its {count} announcement(s) do not "
                       "play.").format(file=file, count=count))
    off = [a.title for a in schedule.announcements if not a.enabled and a.file not in
           schedule.paused]
    if off:
        lines.append(_("Switched off ('enabled: false'): {titles}.").format(
            titles=", ".join(off)))
    for n in range(days):
        day = first + timedelta(days=n)
        info = calendar.day(day)
        lines.append("")
        lines.append(f"{day.isoformat()} {_(_WEEKDAYS).split(',')[day.weekday()]}  {_day_kind(info)}  "
                     f"[{_source(info)}]")
        start = datetime.combine(day, time(0), tzinfo=tz)
        occurrences = expand(schedule, start, datetime.combine(day + timedelta(days=1), time(0),
                                                               tzinfo=tz),
                             tz=tz, calendar=calendar, quiet=quiet, include_dropped=True)
        for speaker in speakers:
            mine = [o for o in occurrences if speaker in o.announcement.speakers]
            name = speaker_names.get(speaker, speaker)
            label = name if name == speaker else f"{name} ({speaker})"
            if not mine:
                lines.append(f"  {label}: " + _("nothing scheduled"))
                continue
            lines.append(f"  {label}:")
            for occ in mine:
                ann = occ.announcement
                what = ann.title if ann.text is not None or ann.clip is None \
                    else f"{ann.title} [{ann.clip.name}]"
                line = (f"    {occ.when.strftime('%H:%M')}  {what}  "
                        f"({_(_PRIORITIES).split(',')[ann.priority.rank]}, "
                        + _("about {seconds} s").format(seconds=round(ann.duration_s)) + ")")
                if occ.dropped == DROP_QUIET:
                    line += "  " + _("SKIPPED: quiet hours")
                elif occ.dropped is not None:
                    reason = occ.reason or ""
                    shown = _("adjusted working day (调休上班)") if reason == "adjusted workday" \
                        else reason
                    line += "  " + _("SKIPPED: {reason}").format(reason=shown)
                lines.append(line)
    gaps = calendar.gaps(first, first + timedelta(days=days - 1))
    if gaps:
        lines.append("")
        fallback = _(FALLBACK_TEXT.get(calendar.day(gaps[0]).source, ""))
        lines.append(_("Note: no official holiday arrangement for {count} of these days "
                       "({first} … {last}); working days there follow {fallback}. Enter the "
                       "arrangement in the holiday file when it is published.")
                     .format(count=len(gaps), first=gaps[0].isoformat(), last=gaps[-1].isoformat(),
                             fallback=fallback))
    return "\n".join(lines)
