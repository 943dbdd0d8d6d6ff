"""An empty schedule is refused (a pause is written on purpose), and so is an over-long text."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config import ConfigError, load_config
from edge.i18n import set_language
from edge.schedule import ChinaCalendar
from edge.schedule.load import load_schedules
from edge.schedule.preview import render_preview
from edge.schedule.reload import FileWatcher
from edge.schedule.schedule import Schedule
from edge.schedule.scheduler import Scheduler
from tests.schedule.helpers import TODAY, load, site
from tests.schedule.test_scheduler import Clock, RecordingSink

SHANGHAI = ZoneInfo("Asia/Shanghai")
GOOD = "announcements:\n  反诈:\n    text: 反诈提醒\n    speakers: [东门]\n    at: '08:30'\n"
EMPTY_MESSAGE = ("announcements.yaml:1: this schedule file has no announcements, so nothing would "
                 "play; write the announcements below 'announcements:', or write 'paused: true' "
                 "on a line of its own to stop them all on purpose")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path so files are shown as staff name them, messages in English."""
    monkeypatch.chdir(tmp_path)
    set_language("en")


@pytest.mark.parametrize("text", [
    "",
    "# 全部暂时不播\n",
    "announcements:\n",
    "announcements:\n#  反诈:\n#    text: 反诈提醒\n#    at: '08:30'\n",
], ids=["empty", "only-a-comment", "no-entries", "all-commented-out"])
def test_a_schedule_with_no_announcements_is_refused(tmp_path: Path, text: str) -> None:
    """Test that an empty schedule file, or one with every announcement commented out, fails
    the check with one plain message instead of silently stopping every broadcast."""
    with pytest.raises(ConfigError) as info:
        load(site(tmp_path, text))
    assert [str(p) for p in info.value.problems] == [EMPTY_MESSAGE]


def test_a_deliberate_pause_loads_plays_nothing_and_shows_in_the_preview(tmp_path: Path) -> None:
    """Test that 'paused: true' is accepted, nothing of the file plays, and the preview says so."""
    config = site(tmp_path, "paused: true\n" + GOOD)
    schedule = load(config)
    assert schedule.paused == ("announcements.yaml",)
    assert [a.enabled for a in schedule.announcements] == [False]
    text = render_preview(schedule, calendar=ChinaCalendar(None), tz=SHANGHAI,
                          quiet=(time(21, 30), time(7)), first=date(2026, 12, 1), days=1,
                          speakers=["east_gate"], speaker_names={"east_gate": "东门"})
    assert "PAUSED ('paused: true' in announcements.yaml): its 1 announcement(s) do not play." \
        in text
    assert "08:30" not in text
    assert load(site(tmp_path, "paused: true\n")).announcements == ()


def test_a_running_daemon_keeps_the_last_schedule_when_the_file_is_emptied(
        tmp_path: Path) -> None:
    """Test that emptying the file while the daemon runs is rejected (the alert's cause) and the
    last schedule keeps playing."""
    config = site(tmp_path, GOOD)
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
        await scheduler.tick()
        (tmp_path / "announcements.yaml").write_text("announcements:\n#  反诈:\n", "utf-8")
        assert await watcher.check()
        clock.now += 31 * 60
        await scheduler.tick()

    asyncio.run(scenario())
    assert [str(p) for p in rejected[0].problems] == [EMPTY_MESSAGE]
    assert [r.key.split("@")[0] for _t, r in sink.submitted] == ["反诈"]


def test_a_text_too_long_to_speak_is_refused_with_the_estimate(tmp_path: Path) -> None:
    """Test that a 2,000-character text is refused at its line with the spoken estimate, the
    voice's speed taken from the config (kokoro's speed, espeak's rate_wpm) and the limit."""
    text = "announcements:\n  长文:\n    text: " + "请" * 2000 + "\n    at: '08:30'\n"
    with pytest.raises(ConfigError) as info:
        load(site(tmp_path, text))
    assert "about 477 s to speak" in str(info.value.problems[0])  # kokoro at speed 1.0
    config_text = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    config_text = config_text.replace("  engine: kokoro", "  engine: espeak").replace(
        "  voice: zf_xiaobei", "  voice: cmn")
    (tmp_path / "config.yaml").write_text(config_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(load_config(tmp_path / "config.yaml"))
    assert [str(p) for p in info.value.problems] == [
        "announcements.yaml:3: announcements.长文.text: this text takes about 533 s to speak "
        "(2000 characters at the configured voice's speed, said 1 time(s)); the limit is 120 s: "
        "shorten it or split it into several announcements"]
    # Twice the speaking rate and a 300 s limit: about 267 s, accepted.
    config_text = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    config_text = config_text.replace("  voice: cmn", "  voice: cmn\n  rate_wpm: 320").replace(
        "  files: [announcements.yaml]", "  files: [announcements.yaml]\n  max_spoken_s: 300")
    (tmp_path / "config.yaml").write_text(config_text, encoding="utf-8")
    assert len(load(load_config(tmp_path / "config.yaml")).announcements) == 1
