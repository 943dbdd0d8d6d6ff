"""The staff's holiday file: the State Council's arrangement for a year, when packages lag behind.

Format (one list per year; a year written here is taken as complete and wins over the packages)::

    2027:
      - name: 元旦
        off: 2027-01-01 ~ 2027-01-03      # 放假 (one date, a range, or a list of them)
        work: [2027-01-04]                # 调休上班的周末
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, RootModel

from edge.config.base import StrictModel
from edge.config.errors import ConfigError, Problem
from edge.config.source import Located, read_yaml
from edge.config.validation import validate
from edge.i18n import N_
from edge.schedule._located import listify
from edge.schedule.dates import DateSpan, StaffDate

__all__ = ["HolidayArrangement", "HolidayPeriod", "YearArrangement", "load_holiday_file"]

_WEEKDAY_ZH = "一二三四五六日"


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class HolidayPeriod(StrictModel):
    """One holiday of the official notice: its days off and the weekend days worked for it."""

    name: str = Field(min_length=1, description="holiday name as in the notice, e.g. 春节")
    off: Annotated[list[DateSpan], BeforeValidator(_as_list)] = Field(
        min_length=1, description="days off: a date, 'first ~ last', or a list of them")
    work: Annotated[list[StaffDate], BeforeValidator(_as_list)] = Field(
        default_factory=list, description="weekend days that are working days (调休上班)")


class HolidayFile(RootModel[dict[int, list[HolidayPeriod]]]):
    """The whole file: year → its holidays."""


@dataclass
class YearArrangement:
    """One year's official arrangement: days off with their holiday name, and worked weekend days."""

    year: int
    days_off: dict[date, str] = field(default_factory=dict)
    working_days: dict[date, str] = field(default_factory=dict)


@dataclass
class HolidayArrangement:
    """Every year the staff file covers."""

    years: dict[int, YearArrangement] = field(default_factory=dict)
    file: str = ""


def load_holiday_file(path: Path, shown_as: str | None = None) -> HolidayArrangement:
    """Read and check a holiday file.

    Raises:
        ConfigError: with every problem, each naming file and line.
    """
    located = read_yaml(path, shown_as)
    if located.data is None or located.data == {}:
        return HolidayArrangement(file=shown_as or str(path))
    if not isinstance(located.data, dict):
        mark = located.mark(())
        raise ConfigError([Problem(mark.file, mark.line, "", "the holiday file lists years, e.g. "
                                   "'2027:', each with its holidays below")])
    problems: list[Problem] = []
    years: dict[int, list[HolidayPeriod]] = {}
    for key, periods in located.data.items():
        mark = located.mark((key,))
        if not (str(key).isdigit() and 2000 <= int(key) <= 2100):
            problems.append(Problem(mark.file, mark.line, str(key), "a year is written with four "
                                    "digits, e.g. '2027:'", got=str(key)))
            continue
        if not isinstance(periods, list):
            problems.append(Problem(mark.file, mark.line, str(key), "list the holidays of the "
                                    "year below it, each starting with '- name:'"))
            continue
        valid = []
        for i in range(len(periods)):
            for field_name in ("off", "work"):
                listify(located, (key, i, field_name))
            period, found = validate(HolidayPeriod, located.sub((key, i)))
            problems += found
            if period is not None:
                valid.append(period)
        years[int(key)] = valid
    if problems:
        raise ConfigError(problems)
    arrangement, problems = _arrange(HolidayFile(years), located)
    if problems:
        raise ConfigError(problems)
    arrangement.file = shown_as or str(path)
    return arrangement


def _arrange(model: HolidayFile, located: Located) -> tuple[HolidayArrangement, list[Problem]]:
    problems: list[Problem] = []
    out = HolidayArrangement()
    raw_keys = {int(k): k for k in located.data}

    def problem(at: tuple[str | int, ...], message: str, **args: Any) -> None:
        mark = located.mark(at)
        problems.append(Problem(mark.file, mark.line, mark.path, message, args))

    for year, periods in model.root.items():
        key = raw_keys[year]
        arrangement = out.years.setdefault(year, YearArrangement(year))
        for i, period in enumerate(periods):
            for j, (first, last) in enumerate(period.off):
                at = (key, i, "off", j)
                day = first
                while day <= last:
                    if day.year != year:
                        problem(at, N_("{day} is not in {year}; put it under '{other}:'"),
                                day=day.isoformat(), year=year, other=day.year)
                        break
                    if day in arrangement.days_off:
                        problem(at, N_("{day} is already a day off for {name}"),
                                day=day.isoformat(), name=arrangement.days_off[day])
                        break
                    arrangement.days_off[day] = period.name
                    day += timedelta(days=1)
            for j, day in enumerate(period.work):
                at = (key, i, "work", j)
                if day.year != year:
                    problem(at, N_("{day} is not in {year}; put it under '{other}:'"),
                            day=day.isoformat(), year=year, other=day.year)
                elif day.weekday() < 5:
                    problem(at, N_("{day} is a weekday (周{weekday}), a working day anyway; list "
                               "only the weekend days worked in exchange (调休上班)"),
                            day=day.isoformat(), weekday=_WEEKDAY_ZH[day.weekday()])
                else:
                    arrangement.working_days[day] = period.name
        for day, name in arrangement.working_days.items():
            if day in arrangement.days_off:
                problem((key,), N_("{day} is both a day off and a working day ({name}); keep one"),
                        day=day.isoformat(), name=name)
    return out, problems
