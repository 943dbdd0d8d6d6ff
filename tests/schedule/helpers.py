"""Shared helpers of the schedule tests: a site config in a temporary folder, loading schedules."""

from __future__ import annotations

import re
import textwrap
from datetime import date
from pathlib import Path

from edge.config import GridedgeConfig, load_config
from edge.schedule.calendar import ChinaCalendar
from edge.schedule.load import load_schedules
from edge.schedule.schedule import Schedule
from tests.conftest import REPO

TODAY = date(2026, 11, 28)


def site(tmp_path: Path, schedule_text: str, *, holidays_text: str | None = None,
         name: str = "announcements.yaml") -> GridedgeConfig:
    """The real site's config.yaml in tmp_path, pointed at one schedule file with this text."""
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    schedules = f"schedules:\n  files: [{name}]\n"
    if holidays_text is not None:
        (tmp_path / "holidays.yaml").write_text(textwrap.dedent(holidays_text), encoding="utf-8")
        schedules += "  holidays_file: holidays.yaml\n"
    # Replace the repo's whole `schedules:` block (its line and the indented lines below it).
    text = re.sub(r"^schedules:.*\n(?:[ \t]+.*\n|[ \t]*\n)*", schedules + "\n", text, count=1,
                  flags=re.MULTILINE)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    (tmp_path / name).write_text(textwrap.dedent(schedule_text), encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


def load(config: GridedgeConfig, calendar: ChinaCalendar | None = None) -> Schedule:
    """The schedule of ``config`` as of TODAY."""
    return load_schedules(config, calendar=calendar, today=TODAY)
