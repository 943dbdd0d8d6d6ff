"""``gridedge schedule preview`` and the schedule part of ``gridedge check``."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.cli import print_problems
from edge.config import ConfigError, load_config
from edge.config.base import closest
from edge.i18n import _
from edge.schedule.load import calendar_for, load_schedules, speaker_context
from edge.schedule.preview import render_preview

if TYPE_CHECKING:
    from edge.config import GridedgeConfig

__all__ = ["add_parser", "check_schedules"]

EXIT_OK = 0
EXIT_INVALID = 2


def add_parser(sub: Any) -> None:
    """Register ``gridedge schedule preview``."""
    schedule = sub.add_parser("schedule", help="announcement schedules")
    inner = schedule.add_subparsers(metavar="ACTION")
    preview = inner.add_parser("preview", help="what plays where and when, for a day or a week")
    preview.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    when = preview.add_mutually_exclusive_group()
    when.add_argument("--date", type=date.fromisoformat, help="day to show, YYYY-MM-DD "
                      "(default: today)")
    when.add_argument("--week", action="store_true", help="seven days from today")
    preview.add_argument("--from", dest="start", type=date.fromisoformat,
                         help="first day of --week (default: today)")
    preview.add_argument("--speaker", help="only this speaker (name or id)")
    preview.set_defaults(func=cmd_preview)
    schedule.set_defaults(func=lambda _args: (schedule.print_help(), EXIT_INVALID)[1])


def check_schedules(config: GridedgeConfig) -> None:
    """The schedule part of ``gridedge check``: prints notes and a summary.

    Raises:
        ConfigError: every problem of the schedule and holiday files.
    """
    schedule = load_schedules(config)
    for note in schedule.notes:
        print(_("note (the schedule still loads): {text}").format(text=note), file=sys.stderr)
    print(_("{files} schedule file(s) are valid: {count} announcements.").format(
        files=len(schedule.files), count=len(schedule.announcements)))


def cmd_preview(args: argparse.Namespace) -> int:
    """Print the timetable; exit 2 when config or schedules are invalid."""
    try:
        config = load_config(args.config)
        calendar = calendar_for(config)
        schedule = load_schedules(config, calendar=calendar)
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    speakers = list(config.speakers.devices)
    if args.speaker:
        names = speaker_context(config)["speakers"]
        if args.speaker not in names:
            hint = closest(args.speaker, names)
            message = _("there is no speaker '{name}'").format(name=args.speaker)
            if hint:
                message = _("{msg}; did you mean '{hint}'?").format(msg=message, hint=hint)
            print(message, file=sys.stderr)
            return EXIT_INVALID
        speakers = [names[args.speaker]]
    today = datetime.now(config.site.tz).date()
    first = args.date or args.start or today
    days = 7 if args.week else 1
    print(render_preview(schedule, calendar=calendar, tz=config.site.tz,
                         quiet=(config.site.quiet_hours.start, config.site.quiet_hours.end),
                         first=first, days=days, speakers=speakers,
                         speaker_names={sid: s.name or sid
                                        for sid, s in config.speakers.devices.items()}))
    return EXIT_OK


