"""Which announcements play when: day rules against the calendar, slots in the site time zone.

Times are wall-clock times of the site. A wall time that does not exist on a DST change is played
at the first instant after the gap; one that occurs twice is played at the first of the two, so a
slot never plays twice. (Asia/Shanghai has no DST today, but zoneinfo makes this free.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge.schedule.calendar import ChinaCalendar, DayInfo
from edge.schedule.schedule import Announcement, Schedule

__all__ = ["Occurrence", "day_verdict", "expand", "in_quiet_hours", "slot_instant"]

DROP_QUIET = "quiet_hours"
DROP_CALENDAR = "calendar"


@dataclass(frozen=True)
class Occurrence:
    """One slot of one announcement.

    Attributes:
        announcement: what plays.
        when: the slot's instant, aware, in the site time zone.
        dropped: None when it plays; "quiet_hours" or "calendar" when it is skipped.
        reason: for a calendar drop, the holiday's name (or "adjusted workday").
    """

    announcement: Announcement
    when: datetime
    dropped: str | None = None
    reason: str | None = None

    @property
    def key(self) -> str:
        """The play key: announcement id and slot instant, unique per occurrence."""
        return f"{self.announcement.id}@{self.when.isoformat()}"

    @property
    def due(self) -> float:
        """The slot as epoch seconds."""
        return self.when.timestamp()


def in_quiet_hours(t: time, start: time, end: time) -> bool:
    """True when wall time ``t`` falls in quiet hours ``start``–``end`` (which may cross midnight)."""
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def slot_instant(day: date, t: time, tz: ZoneInfo) -> datetime:
    """The instant of wall time ``t`` on ``day`` in ``tz`` (DST gaps move forward, folds take the first)."""
    # fold=0 (PEP 495): in a fold it is the first of the two instants; in a gap it is read with
    # the offset from before the jump, which lands just as far after the jump (02:30 → 03:30).
    local = datetime.combine(day, t).replace(tzinfo=tz, fold=0)
    return datetime.fromtimestamp(local.timestamp(), tz)


def _matches(ann: Announcement, info: DayInfo) -> tuple[bool, bool]:
    """(plays on this day, would play on it if it were an ordinary week)."""
    weekday = info.day.weekday()
    plays = ordinary = False
    for rule in ann.days:
        if rule.kind == "every":
            return True, True
        if rule.kind == "weekdays":
            hit = weekday < 5
            plays, ordinary = plays or hit, ordinary or hit
        elif rule.kind == "weekends":
            hit = weekday >= 5
            plays, ordinary = plays or hit, ordinary or hit
        elif rule.kind == "weekday":
            hit = weekday == rule.weekday
            plays, ordinary = plays or hit, ordinary or hit
        elif rule.kind == "dates":
            hit = rule.first is not None and rule.last is not None \
                and rule.first <= info.day <= rule.last
            plays, ordinary = plays or hit, ordinary or hit
        elif rule.kind == "workdays":
            plays = plays or info.workday
            ordinary = ordinary or weekday < 5
        elif rule.kind == "holidays":
            plays = plays or info.holiday is not None
        elif rule.kind == "restdays":
            plays = plays or not info.workday
            ordinary = ordinary or weekday >= 5
    return plays, ordinary


def day_verdict(ann: Announcement, info: DayInfo) -> tuple[bool, str | None]:
    """(plays on ``info.day``, why not when the calendar alone stopped it — else None)."""
    if not ann.enabled:
        return False, None
    if (ann.first is not None and info.day < ann.first) or \
            (ann.last is not None and info.day > ann.last):
        return False, None
    plays, ordinary = _matches(ann, info)
    if plays or not ordinary:
        return plays, None
    return False, info.holiday or ("adjusted workday" if info.adjusted_workday else None)


def expand(schedule: Schedule, start: datetime, end: datetime, *, tz: ZoneInfo,
           calendar: ChinaCalendar, quiet: tuple[time, time],
           include_dropped: bool = False) -> list[Occurrence]:
    """Every slot with ``start <= when < end``, sorted by time (then announcement order).

    Args:
        schedule: the announcements.
        start: aware start instant (included).
        end: aware end instant (excluded).
        tz: the site's time zone; days and times are read in it.
        calendar: working days and holidays.
        quiet: quiet hours (start, end) wall times; below emergency, slots there are dropped.
        include_dropped: also return slots skipped by quiet hours or the calendar (for preview).
    """
    out: list[Occurrence] = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date()
    order = {a.id: i for i, a in enumerate(schedule.announcements)}
    while day <= last_day:
        info = calendar.day(day)
        for ann in schedule.announcements:
            plays, reason = day_verdict(ann, info)
            if not plays and (reason is None or not include_dropped):
                continue
            for t in ann.times:
                when = slot_instant(day, t, tz)
                if not start <= when < end:
                    continue
                if not plays:
                    out.append(Occurrence(ann, when, DROP_CALENDAR, reason))
                elif ann.priority.rank < 2 and in_quiet_hours(t, *quiet):
                    if include_dropped:
                        out.append(Occurrence(ann, when, DROP_QUIET))
                else:
                    out.append(Occurrence(ann, when))
        day += timedelta(days=1)
    out.sort(key=lambda o: (o.when, order[o.announcement.id]))
    return out
