"""Occurrences: which slots play on which days, in the site's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.schedule import ChinaCalendar
from edge.schedule.occurrences import expand, slot_instant
from tests.schedule.helpers import load, site

SHANGHAI = ZoneInfo("Asia/Shanghai")
QUIET = (time(21, 30), time(7, 0))


def slots(tmp_path: Path, text: str, first: date, days: int = 1, *,
          dropped: bool = False) -> list[str]:
    """'YYYY-MM-DD HH:MM id [dropped]' for every slot of the schedule text in those days."""
    schedule = load(site(tmp_path, text))
    start = datetime.combine(first, time(0), tzinfo=SHANGHAI)
    found = expand(schedule, start, start + timedelta(days=days), tz=SHANGHAI,
                   calendar=ChinaCalendar(None), quiet=QUIET, include_dropped=dropped)
    return [f"{o.when:%Y-%m-%d %H:%M} {o.announcement.id}" + (f" {o.dropped}" if o.dropped else "")
            for o in found]


def test_at_and_every_within_window(tmp_path: Path) -> None:
    """Test that 'at' times and 'every' steps inside the window make one sorted timetable."""
    text = ("announcements:\n  a:\n    text: x\n    at: '12:00'\n    speakers: 东门\n"
            "  b:\n    text: y\n    every: 90m\n    window: '09:00 ~ 12:30'\n    speakers: 南门\n")
    assert slots(tmp_path, text, date(2026, 12, 1)) == [
        "2026-12-01 09:00 b", "2026-12-01 10:30 b", "2026-12-01 12:00 a", "2026-12-01 12:00 b"]


def test_every_slots_in_quiet_hours_are_dropped_not_played(tmp_path: Path) -> None:
    """Test that 'every' slots reaching into quiet hours are skipped, and emergency ones play."""
    text = ("announcements:\n  a:\n    text: x\n    every: 1h\n    window: '20:30 ~ 22:30'\n"
            "  b:\n    text: y\n    at: '23:00'\n    priority: emergency\n")
    assert slots(tmp_path, text, date(2026, 12, 1), dropped=True) == [
        "2026-12-01 20:30 a", "2026-12-01 21:30 a quiet_hours", "2026-12-01 22:30 a quiet_hours",
        "2026-12-01 23:00 b"]


def test_day_kinds(tmp_path: Path) -> None:
    """Test workdays (with the adjusted Saturday), holidays, weekday names and dates."""
    text = """\
    announcements:
      work:
        text: 上班日
        at: "08:00"
        days: 工作日
      holiday:
        text: 节日
        at: "09:00"
        days: 节假日
      sat:
        text: 星期六
        at: "10:00"
        days: [星期六, Sun]
      date:
        text: 某天
        at: "11:00"
        days: "2026-02-13 ~ 2026-02-14"
    """
    # 2026-02-13 Fri (workday), 14 Sat (adjusted workday), 15 Sun (春节 holiday).
    assert slots(tmp_path, text, date(2026, 2, 13), days=3) == [
        "2026-02-13 08:00 work", "2026-02-13 11:00 date",
        "2026-02-14 08:00 work", "2026-02-14 10:00 sat", "2026-02-14 11:00 date",
        "2026-02-15 09:00 holiday", "2026-02-15 10:00 sat"]


def test_workday_slot_on_a_holiday_is_marked_dropped(tmp_path: Path) -> None:
    """Test that a workday announcement on a weekday holiday shows as dropped by the calendar."""
    text = "announcements:\n  work:\n    text: 上班日\n    at: '08:00'\n    days: workdays\n"
    assert slots(tmp_path, text, date(2026, 10, 1), dropped=True) == [
        "2026-10-01 08:00 work calendar"]


def test_from_until(tmp_path: Path) -> None:
    """Test that an announcement plays from its first to its last date, both included."""
    text = ("announcements:\n  a:\n    text: x\n    at: '08:00'\n    from: 2026-12-02\n"
            "    until: 2026-12-03\n")
    assert slots(tmp_path, text, date(2026, 12, 1), days=4) == [
        "2026-12-02 08:00 a", "2026-12-03 08:00 a"]


def test_slots_are_instants_in_the_site_zone() -> None:
    """Test that 08:30 in Shanghai is 00:30 UTC, and DST gaps and folds never double a slot."""
    assert slot_instant(date(2026, 12, 1), time(8, 30), SHANGHAI).isoformat() == \
        "2026-12-01T08:30:00+08:00"
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29 02:30 does not exist in Berlin: played right after the jump, at 03:30 CEST.
    assert slot_instant(date(2026, 3, 29), time(2, 30), berlin).isoformat() == \
        "2026-03-29T03:30:00+02:00"
    # 2026-10-25 02:30 happens twice: the first one only.
    assert slot_instant(date(2026, 10, 25), time(2, 30), berlin).isoformat() == \
        "2026-10-25T02:30:00+02:00"
