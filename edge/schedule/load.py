"""Loading schedule files: YAML with line numbers → typed models → checks across announcements.

Every problem of every file is collected and raised once as ``ConfigError`` (file:line, the fix,
did-you-mean), exactly like config.yaml. Problems that do not stop playing (a date range reaching a
year without an official holiday arrangement) come back as the schedule's ``notes``.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config.errors import ConfigError, Problem
from edge.config.load import display_path
from edge.config.source import Located, read_yaml
from edge.config.validation import validate
from edge.schedule._located import listify
from edge.schedule.calendar import ChinaCalendar
from edge.schedule.checks import check_schedule
from edge.schedule.clips import ClipCheckError, clip_duration
from edge.schedule.const import TEXT_CHARS_PER_S
from edge.schedule.model import NAME_RULE, SEPARATORS, AnnouncementConfig, ScheduleFileConfig
from edge.schedule.schedule import Announcement, Schedule

if TYPE_CHECKING:
    from edge.config import GridedgeConfig

__all__ = ["calendar_for", "load_schedule_files", "load_schedules", "speaker_context"]


def speaker_context(config: GridedgeConfig) -> dict[str, Any]:
    """Validation context: every spelling of a speaker (id, name) → id, and the enabled ids."""
    names: dict[str, str] = {}
    for speaker_id, speaker in config.speakers.devices.items():
        names[speaker_id] = speaker_id
        if speaker.name:
            names.setdefault(speaker.name, speaker_id)
    enabled = [sid for sid, s in config.speakers.devices.items() if s.enabled]
    return {"speakers": names, "speakers_all": enabled}


def calendar_for(config: GridedgeConfig) -> ChinaCalendar:
    """The calendar with the site's holiday file (if any) as override.

    Raises:
        ConfigError: the holiday file is invalid.
    """
    path = config.schedules.holidays_file
    if path is None:
        return ChinaCalendar(None)
    resolved = config.resolve(path)
    return ChinaCalendar(resolved, shown_as=display_path(resolved))


def load_schedules(config: GridedgeConfig, *, calendar: ChinaCalendar | None = None,
                   today: date | None = None) -> Schedule:
    """Load and check every file of ``config.schedules.files``.

    Args:
        config: the site configuration (speakers, quiet hours, time zone).
        calendar: working days; built from ``schedules.holidays_file`` when None.
        today: the first day checks look at (overlaps, calendar gaps); the site's today when None.

    Raises:
        ConfigError: every problem of every file (and of the holiday file), with file and line.
    """
    from datetime import datetime

    if calendar is None:
        calendar = calendar_for(config)
    if today is None:
        today = datetime.now(config.site.tz).date()
    return load_schedule_files(
        [config.resolve(f) for f in config.schedules.files], context=speaker_context(config),
        speaker_names={sid: s.name or sid for sid, s in config.speakers.devices.items()},
        quiet=(config.site.quiet_hours.start, config.site.quiet_hours.end), calendar=calendar,
        today=today, holidays_file=str(config.schedules.holidays_file or ""))


def load_schedule_files(paths: list[Path], *, context: dict[str, Any],
                        speaker_names: dict[str, str], quiet: tuple[Any, Any],
                        calendar: ChinaCalendar, today: date,
                        holidays_file: str = "") -> Schedule:
    """Load and check schedule files (see :func:`load_schedules`).

    Raises:
        ConfigError: every problem found, each with file and line.
    """
    problems: list[Problem] = []
    announcements: list[Announcement] = []
    digest = hashlib.sha256()
    seen: dict[str, Announcement] = {}
    for path in paths:
        shown = display_path(path)
        try:
            digest.update(path.read_bytes())
            located = read_yaml(path, shown)
        except OSError as err:
            problems.append(Problem(shown, 0, "", "cannot read the schedule file ({err})",
                                    {"err": err.strerror or str(err)}))
            continue
        except ConfigError as err:
            problems += err.problems
            continue
        found = _load_file(path, located, context, problems)
        for ann in found:
            if ann.id in seen:
                other = seen[ann.id]
                problems.append(Problem(ann.file, ann.line, f"announcements.{ann.id}",
                                        "'{name}' is also the name of an announcement at "
                                        "{where}; give each announcement its own name",
                                        {"name": ann.id, "where": f"{other.file}:{other.line}"}))
                continue
            seen[ann.id] = ann
            announcements.append(ann)
    schedule = Schedule(tuple(announcements), tuple(paths), (), digest.hexdigest())
    errors, notes = check_schedule(schedule, speaker_names=speaker_names, quiet=quiet,
                                   calendar=calendar, today=today, holidays_file=holidays_file)
    problems += errors
    if problems:
        raise ConfigError(problems)
    return Schedule(schedule.announcements, schedule.files, tuple(notes), schedule.fingerprint)


def _load_file(path: Path, located: Located, context: dict[str, Any],
               problems: list[Problem]) -> list[Announcement]:
    if located.data in (None, {}):
        return []
    if not isinstance(located.data, dict):
        mark = located.mark(())
        problems.append(Problem(mark.file, mark.line, "", "a schedule file starts with "
                                "'announcements:' and lists the announcements below it"))
        return []
    for name, item in (located.data.get("announcements") or {}).items() \
            if isinstance(located.data.get("announcements"), dict) else ():
        if isinstance(item, dict):
            for key in ("at", "days"):
                listify(located, ("announcements", name, key))
            listify(located, ("announcements", name, "speakers"), SEPARATORS)
    # The file's shape first, then each announcement on its own: one broken announcement must
    # not hide the problems (overlaps, quiet hours) of the others.
    _shell, found = validate(ScheduleFileConfig, located, context)
    raw = located.data.get("announcements")
    names = [str(n) for n in raw] if isinstance(raw, dict) else []
    # Per-announcement problems come from validating each one below (duplicates merge anyway).
    problems += [p for p in found if not any(p.path.startswith(f"announcements.{n}.")
                                             for n in names)]
    bad_names = {n for n in names if any(p.path == f"announcements.{n}" and p.message == NAME_RULE
                                         for p in found)}
    items: dict[str, AnnouncementConfig] = {}
    for name in names:
        if name in bad_names:
            continue
        item, item_found = validate(AnnouncementConfig, located.sub(("announcements", name)),
                                    context)
        problems += item_found
        if item is not None:
            items[name] = item
    out = []
    for name, item in items.items():
        mark = located.mark(("announcements", name))
        duration, estimated = _duration(path, name, item, located, problems)
        out.append(Announcement(
            id=name, title=item.title or name, text=item.text.strip() if item.text else None,
            clip=(path.parent / item.clip).resolve() if item.clip else None,
            speakers=tuple(dict.fromkeys(item.speakers)), times=tuple(item.times()),
            explicit_times=frozenset(item.at), days=item.days, first=item.from_,
            last=item.until, volume=item.volume, repeat=item.repeat, priority=item.priority,
            enabled=item.enabled, duration_s=duration, estimated=estimated, file=mark.file,
            line=mark.line, time_lines=_time_lines(name, item, located),
            days_line=located.mark(("announcements", name, "days")).line))
    return out


def _time_lines(name: str, item: AnnouncementConfig, located: Located) -> dict[Any, int]:
    base = ("announcements", name)
    every_line = located.mark((*base, "every")).line
    lines = {t: every_line for t in item.times()}
    for i, t in enumerate(item.at):
        lines[t] = located.mark((*base, "at", i)).line
    return lines


def _duration(path: Path, name: str, item: AnnouncementConfig, located: Located,
              problems: list[Problem]) -> tuple[float, bool]:
    if item.clip is None:
        chars = sum(1 for ch in (item.text or "") if not ch.isspace())
        return chars / TEXT_CHARS_PER_S * item.repeat, True
    mark = located.mark(("announcements", name, "clip"))
    clip = path.parent / item.clip
    try:
        return clip_duration(clip) * item.repeat, False
    except ClipCheckError as err:
        if not clip.is_file():
            problems.append(Problem(mark.file, mark.line, mark.path, "clip file not found: {path} "
                                    "(paths are taken from the folder of this schedule file)",
                                    {"path": str(item.clip)}))
        else:
            problems.append(Problem(mark.file, mark.line, mark.path, "the clip cannot be decoded "
                                    "as audio ({reason}); export it again as MP3 or WAV",
                                    {"reason": err.reason}))
        return 0.0, False
