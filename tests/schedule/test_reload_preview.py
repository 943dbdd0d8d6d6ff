"""Hot reload (good edit replaces, bad edit rejected whole) and the preview staff read."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config import ConfigError
from edge.i18n import set_language
from edge.schedule import ChinaCalendar
from edge.schedule.cli import add_parser
from edge.schedule.load import load_schedules
from edge.schedule.preview import render_preview
from edge.schedule.reload import FileWatcher
from edge.schedule.schedule import Schedule
from edge.schedule.scheduler import Scheduler
from tests.schedule.helpers import TODAY, load, site
from tests.schedule.test_scheduler import Clock, RecordingSink

SHANGHAI = ZoneInfo("Asia/Shanghai")
V1 = "announcements:\n  反诈:\n    text: 反诈提醒\n    speakers: [东门]\n    at: '08:30'\n"
V2 = V1.replace("08:30", "09:00")
BAD = V1.replace("'08:30'", "'25:00'")


def test_good_edit_takes_effect_and_bad_edit_is_rejected(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that a valid edit replaces the schedule and an invalid one keeps the old one running."""
    monkeypatch.chdir(tmp_path)
    set_language("en")
    config = site(tmp_path, V1)
    clock = Clock(datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI).timestamp())
    sink = RecordingSink()
    sink.clock = clock
    scheduler = Scheduler(load(config), sink, tz=SHANGHAI, calendar=ChinaCalendar(None),
                          quiet=(time(21, 30), time(7)), grace_s=600, render_ahead_s=60,
                          clock=clock, sleep=clock.sleep)
    rejected: list[ConfigError] = []

    def loaded(schedule: object) -> None:
        assert isinstance(schedule, Schedule)
        scheduler.replace(schedule)

    watcher = FileWatcher([tmp_path / "announcements.yaml"],
                          lambda: load_schedules(config, today=TODAY), loaded, rejected.append)
    watcher.mark_current()

    async def scenario() -> None:
        await scheduler.tick()  # running since 08:00
        assert not await watcher.check()  # nothing changed yet
        (tmp_path / "announcements.yaml").write_text(BAD, encoding="utf-8")
        assert await watcher.check()
        clock.now += 31 * 60  # 08:31: the old 08:30 slot still plays
        await scheduler.tick()
        (tmp_path / "announcements.yaml").write_text(V2, encoding="utf-8")
        assert await watcher.check()
        clock.now += 30 * 60  # 09:01
        await scheduler.tick()

    asyncio.run(scenario())
    assert [str(p) for p in rejected[0].problems] == [
        ("announcements.yaml:5: announcements.反诈.at: hours go from 00 to 23 (midnight is 00:00) "
        "(got 25:00)")]
    assert [r.key for _, r in sink.submitted] == ["反诈@2026-12-01T08:30:00+08:00",
                                                  "反诈@2026-12-01T09:00:00+08:00"]


PREVIEW = """\
announcements:
  养老金:
    text: 养老金认证
    speakers: [东门]
    at: "10:00"
    days: 工作日
  反诈:
    text: 反诈
    speakers: [东门, 南门]
    every: 1h
    window: "20:00 ~ 22:00"
"""


def test_preview_marks_holiday_and_quiet_hour_drops(tmp_path: Path) -> None:
    """Test that the Chinese preview shows each speaker's slots, drops and the calendar source."""
    config = site(tmp_path, PREVIEW)
    text = render_preview(load(config), calendar=ChinaCalendar(None), tz=SHANGHAI,
                          quiet=(time(21, 30), time(7)), first=date(2026, 10, 1), days=1,
                          speakers=["east_gate", "west_gate"],
                          speaker_names={"east_gate": "东门", "west_gate": "西门"})
    assert text.splitlines() == [
        "静音时段 21:30–07:00：只播紧急广播。",
        "",
        "2026-10-01 周四  节假日：国庆节  [日历来源：官方日历]",
        "  东门 (east_gate):",
        "    10:00  养老金  (普通, 约 1 秒)  不播：国庆节",
        "    20:00  反诈  (普通, 约 0 秒)",
        "    21:00  反诈  (普通, 约 0 秒)",
        "    22:00  反诈  (普通, 约 0 秒)  不播：静音时段",
        "  西门 (west_gate): 没有安排"]


def run_cli(*argv: str) -> int:
    """Run `gridedge schedule …` through this package's own argparse registration."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_preview_command_names_the_fallback_for_2027(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Test that `schedule preview --date` in English says which fallback a 2027 day uses."""
    set_language("en")
    site(tmp_path, PREVIEW)
    assert run_cli("schedule", "preview", "-c", str(tmp_path / "config.yaml"),
                   "--date", "2027-03-01", "--speaker", "东门") == 0
    out = capsys.readouterr().out
    assert "2027-03-01 Mon  working day  [calendar: an estimate by rule, no official data]" in out
    assert "    10:00  养老金  (routine, about 1 s)" in out
    assert "working days there follow an estimate by rule" in out


def test_preview_command_unknown_speaker(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Test that a misspelt speaker exits 2 with a did-you-mean."""
    set_language("en")
    site(tmp_path, PREVIEW)
    assert run_cli("schedule", "preview", "-c", str(tmp_path / "config.yaml"), "--week",
                   "--speaker", "东们") == 2
    assert capsys.readouterr().err.strip() == "there is no speaker '东们'; did you mean '东门'?"
