"""The Chinese calendar: staff override first, then the packages, and plain words about gaps."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from edge.config import ConfigError
from edge.i18n import set_language
from edge.schedule import ChinaCalendar
from tests.conftest import REPO

OVERRIDE_2027 = """\
2027:
  - name: 春节
    off: 2027-02-06 ~ 2027-02-12
    work: [2027-02-13]
"""


def test_override_wins_and_makes_a_year_official(tmp_path: Path) -> None:
    """Test that the staff file decides its year, including an adjusted working Saturday."""
    path = tmp_path / "holidays.yaml"
    path.write_text(OVERRIDE_2027, encoding="utf-8")
    calendar = ChinaCalendar(path)
    saturday = calendar.day(date(2027, 2, 13))
    assert (saturday.workday, saturday.adjusted_workday, saturday.source) == (True, True, "override")
    assert calendar.day(date(2027, 2, 10)).holiday == "春节"
    assert calendar.gaps(date(2027, 1, 1), date(2027, 12, 31)) == []


def test_adjusted_saturday_2026_is_a_workday_per_holidays() -> None:
    """Test that the holidays package alone knows 2026-02-14 (a Saturday) is a working day."""
    calendar = ChinaCalendar(None, sources=("holidays",))
    day = calendar.day(date(2026, 2, 14))
    assert (day.workday, day.adjusted_workday, day.source) == (True, True, "holidays")
    assert not calendar.is_workday(date(2026, 2, 20))


def test_chinese_calendar_is_asked_first() -> None:
    """Test that 2026 comes from chinese-calendar, with the Chinese holiday name."""
    day = ChinaCalendar(None).day(date(2026, 10, 1))
    assert (day.workday, day.holiday, day.source) == (False, "国庆节", "chinese-calendar")


def test_2027_says_which_fallback_it_used() -> None:
    """Test that 2027 without an override is an estimate or a weekday rule, and is listed as a gap."""
    assert ChinaCalendar(None).day(date(2027, 3, 1)).source == "holidays-estimate"
    only_chinese_calendar = ChinaCalendar(None, sources=("chinese-calendar",))
    assert only_chinese_calendar.day(date(2027, 3, 1)).source == "weekday-fallback"
    gaps = ChinaCalendar(None).gaps(date(2026, 12, 30), date(2027, 1, 2))
    assert gaps == [date(2027, 1, 1), date(2027, 1, 2)]


def test_shipped_holiday_file_agrees_with_the_packages() -> None:
    """Test that schedules/holidays.yaml's 2026 matches chinese-calendar day by day."""
    shipped = ChinaCalendar(REPO / "schedules" / "holidays.yaml")
    package = ChinaCalendar(None)
    day = date(2026, 1, 1)
    while day.year == 2026:
        a, b = shipped.day(day), package.day(day)
        assert (a.workday, a.adjusted_workday, a.holiday is None) == \
               (b.workday, b.adjusted_workday, b.holiday is None), day
        day += timedelta(days=1)


@pytest.mark.parametrize(("text", "expected"), [
    ("2027:\n  - name: 春节\n    off: 2027-02-06\n    work: [2027-02-09]\n",
     ("holidays.yaml:4: 2027[0].work[0]: 2027-02-09 is a weekday (周二), a working day anyway; "
     "list only the weekend days worked in exchange (调休上班)")),
    ("2027:\n  - name: 元旦\n    off: 2026-12-31 ~ 2027-01-01\n",
     "holidays.yaml:3: 2027[0].off: 2026-12-31 is not in 2027; put it under '2026:'"),
    ("2027:\n  - name: 元旦\n    off: 2027-01-03 ~ 2027-01-01\n",
     ("holidays.yaml:3: 2027[0].off: the range ends (2027-01-01) before it starts "
     "(2027-01-03); write the earlier date first (got 2027-01-03 ~ 2027-01-01)")),
])
def test_holiday_file_mistakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                               expected: str) -> None:
    """Test that mistakes in the holiday file are reported with file and line."""
    set_language("en")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "holidays.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ChinaCalendar(Path("holidays.yaml"))
    assert [str(p) for p in info.value.problems] == [expected]


def test_holiday_file_typo_in_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a misspelt setting gets a did-you-mean and the missing one is named."""
    set_language("en")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "holidays.yaml").write_text("2027:\n  - name: 元旦\n    of: 2027-01-01\n",
                                            encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ChinaCalendar(Path("holidays.yaml"))
    assert [str(p) for p in info.value.problems] == [
        "holidays.yaml:2: 2027[0].off: this setting is required; add 'off:'",
        "holidays.yaml:3: 2027[0].of: unknown setting 'of'; did you mean 'off'?"]
