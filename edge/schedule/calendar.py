"""Chinese working days and holidays, with adjusted weekends, from the best source that knows.

Sources, asked in order for each date:

1. ``override``: the staff's holiday file (the State Council's notice typed in); a year written
   there is complete and wins.
2. ``chinese-calendar``: the package's official data (it raises NotImplementedError past its years).
3. ``holidays``: the package's China calendar for years it checked against the official notice;
   for later years it only estimates from rules, without adjusted working weekends: those days
   come out as ``holidays-estimate``.
4. ``weekday-fallback``: Monday to Friday work, nothing else known.

Days answered by (3)-estimate or (4) are *gaps*: ``gaps()`` lists them so that ``check`` and the
daemon can say plainly which fallback was used instead of guessing silently.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from edge.schedule.const import (
    HOLIDAYS_FIRST_OFFICIAL_YEAR,
    OFFICIAL_SOURCES,
    PACKAGE_SOURCES,
    SOURCE_CHINESE_CALENDAR,
    SOURCE_HOLIDAYS,
    SOURCE_HOLIDAYS_ESTIMATE,
    SOURCE_OVERRIDE,
    SOURCE_WEEKDAY_FALLBACK,
)
from edge.schedule.holidays_file import HolidayArrangement, YearArrangement, load_holiday_file

__all__ = ["ChinaCalendar", "DayInfo"]

logger = logging.getLogger(__name__)

# chinese-calendar names its holidays in English; staff read the official Chinese names.
_ZH_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_SATURDAY = 5


@dataclass(frozen=True)
class DayInfo:
    """What the calendar knows about one date.

    Attributes:
        day: the date.
        workday: True on a working day (weekdays, and weekend days worked in exchange).
        holiday: the holiday's name on a public day off, else None.
        adjusted_workday: a weekend day that is a working day (调休上班).
        source: which source answered: "override", "chinese-calendar", "holidays",
            "holidays-estimate" or "weekday-fallback".
    """

    day: date
    workday: bool
    holiday: str | None
    adjusted_workday: bool
    source: str

    @property
    def official(self) -> bool:
        """True when the answer comes from the official arrangement, not a rule or a guess."""
        return self.source in OFFICIAL_SOURCES


class ChinaCalendar:
    """Working days of mainland China.

    Args:
        overrides: the staff's holiday file (see ``edge.schedule.holidays_file``), an already
            loaded arrangement, or None.
        sources: the packages to ask after the override, in order (default: chinese-calendar,
            then holidays); tests and the preview may narrow it to one.
        shown_as: the file name used in messages.

    Raises:
        ConfigError: when the holiday file is invalid (every problem with file and line).
    """

    def __init__(self, overrides: Path | HolidayArrangement | None = None, *,
                 sources: Sequence[str] = PACKAGE_SOURCES, shown_as: str | None = None) -> None:
        if isinstance(overrides, Path):
            overrides = load_holiday_file(overrides, shown_as)
        self.arrangement = overrides or HolidayArrangement()
        unknown = set(sources) - set(PACKAGE_SOURCES)
        if unknown:
            msg = f"unknown calendar source(s) {sorted(unknown)}; choose from {PACKAGE_SOURCES}"
            raise ValueError(msg)
        self.sources = tuple(sources)
        self._holidays_years: dict[int, tuple[dict[date, str], set[date], bool]] = {}
        self._cc_years: dict[int, bool] = {}
        self._cache: dict[date, DayInfo] = {}

    def day(self, d: date) -> DayInfo:
        """Everything known about date ``d``, from the first source that has official data."""
        info = self._cache.get(d)
        if info is None:
            info = self._lookup(d)
            self._cache[d] = info
        return info

    def is_workday(self, d: date) -> bool:
        """True when ``d`` is a working day in mainland China."""
        return self.day(d).workday

    def gaps(self, start: date, end: date) -> list[date]:
        """Dates in ``start..end`` (both included) for which no source has official data."""
        out = []
        day = start
        while day <= end:
            if not self.day(day).official:
                out.append(day)
            day += timedelta(days=1)
        return out

    def _lookup(self, d: date) -> DayInfo:
        year = self.arrangement.years.get(d.year)
        if year is not None:
            return _from_override(d, year)
        estimate: DayInfo | None = None
        for source in self.sources:
            if source == SOURCE_CHINESE_CALENDAR:
                info = self._from_chinese_calendar(d)
            else:
                info = self._from_holidays(d)
            if info is None:
                continue
            if info.official:
                return info
            estimate = estimate or info
        if estimate is not None:
            return estimate
        weekday = d.weekday() < _SATURDAY
        return DayInfo(d, weekday, None, adjusted_workday=False, source=SOURCE_WEEKDAY_FALLBACK)

    def _from_chinese_calendar(self, d: date) -> DayInfo | None:
        if self._cc_years.get(d.year) is False:
            return None
        import chinese_calendar  # type: ignore[import-untyped]  # loaded only when asked

        try:
            workday = chinese_calendar.is_workday(d)
            is_holiday, name = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            # The package covers a fixed range of years (2004-2026 in 1.11).
            self._cc_years[d.year] = False
            return None
        self._cc_years[d.year] = True
        holiday = _ZH_NAMES.get(name, name) if is_holiday and name else None
        return DayInfo(d, workday, holiday, adjusted_workday=workday and d.weekday() >= _SATURDAY,
                       source=SOURCE_CHINESE_CALENDAR)

    def _from_holidays(self, d: date) -> DayInfo | None:
        if d.year not in self._holidays_years:
            self._holidays_years[d.year] = _holidays_year(d.year)
        days_off, worked, official = self._holidays_years[d.year]
        if not days_off and not official:
            return None
        name = days_off.get(d)
        adjusted = d in worked
        workday = name is None and (d.weekday() < _SATURDAY or adjusted)
        return DayInfo(d, workday, name, adjusted_workday=adjusted,
                       source=SOURCE_HOLIDAYS if official else SOURCE_HOLIDAYS_ESTIMATE)


def _from_override(d: date, year: YearArrangement) -> DayInfo:
    name = year.days_off.get(d)
    adjusted = d in year.working_days
    workday = name is None and (d.weekday() < _SATURDAY or adjusted)
    return DayInfo(d, workday, name, adjusted_workday=adjusted, source=SOURCE_OVERRIDE)


def _holidays_year(year: int) -> tuple[dict[date, str], set[date], bool]:
    """Days off (with names), worked weekend days, and whether the year is official data."""
    import holidays

    try:
        calendar = holidays.country_holidays("CN", years=year, language="zh_CN")
        days_off = {d: str(n) for d, n in calendar.items()}
    except (NotImplementedError, KeyError, ValueError):
        logger.warning("the holidays package has no China calendar for %s", year)
        return {}, set(), False
    worked: set[date] = set()
    for name in days_off.values():
        # A substituted day off names the weekend day worked for it: "休息日（由 2026-02-14 调休）".
        for match in _ISO_DATE.finditer(name):
            worked.add(date(int(match[1]), int(match[2]), int(match[3])))
    return days_off, worked, HOLIDAYS_FIRST_OFFICIAL_YEAR <= year <= _holidays_last_official_year()


def _holidays_last_official_year() -> int:
    """The last year the ``holidays`` package has the State Council's notice for (not estimates)."""
    try:
        from holidays.countries.china import ChinaStaticHolidays
    except ImportError:
        return HOLIDAYS_FIRST_OFFICIAL_YEAR - 1  # cannot tell: treat every year as an estimate
    # Each year's notice adds that year's substituted days to this table; later years are rules.
    return max(ChinaStaticHolidays.special_public_holidays)
