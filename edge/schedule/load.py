"""Loading schedule files: YAML with line numbers → typed models → checks across announcements.

Every problem of every file is collected and raised once as ``ConfigError`` (file:line, the fix,
did-you-mean), exactly like config.yaml. Problems that do not stop playing (a date range reaching a
year without an official holiday arrangement) come back as the schedule's ``notes``.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
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
from edge.schedule.speech import SpeechEstimate
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
        today=today, holidays_file=str(config.schedules.holidays_file or ""),
        speech=SpeechEstimate.for_config(config))


def load_schedule_files(paths: list[Path], *, context: dict[str, Any],
                        speaker_names: dict[str, str], quiet: tuple[Any, Any],
                        calendar: ChinaCalendar, today: date,
                        holidays_file: str = "", speech: SpeechEstimate | None = None,
                        ) -> Schedule:
    """Load and check schedule files (see :func:`load_schedules`).

    Raises:
        ConfigError: every problem found, each with file and line.
    """
    # A large file makes hundreds of thousands of small objects (nodes, marks, models) and no
    # cycles worth collecting: the cyclic collector, run again and again as they pile up, took
    # half the time of a 20,000-announcement check. Reference counting still frees everything.
    with _collector_paused():
        return _load_schedule_files(paths, context=context, speaker_names=speaker_names,
                                    quiet=quiet, calendar=calendar, today=today,
                                    holidays_file=holidays_file, speech=speech)


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_schedule_files(paths: list[Path], *, context: dict[str, Any],
                         speaker_names: dict[str, str], quiet: tuple[Any, Any],
                         calendar: ChinaCalendar, today: date, holidays_file: str,
                         speech: SpeechEstimate | None) -> Schedule:
    speech = speech or SpeechEstimate()
    problems: list[Problem] = []
    announcements: list[Announcement] = []
    digest = hashlib.sha256()
    seen: dict[str, Announcement] = {}
    paused_files: list[str] = []
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
        before = len(problems)
        found, paused = _load_file(path, located, context, problems, speech)
        if paused:
            paused_files.append(shown)
        elif not found and len(problems) == before:
            # An empty file silently stopping every broadcast is never what staff meant.
            problems.append(Problem(shown, 1, "", "this schedule file has no announcements, so "
                                    "nothing would play; write the announcements below "
                                    "'announcements:', or write 'paused: true' on a line of its "
                                    "own to stop them all on purpose"))
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
    schedule = Schedule(tuple(announcements), tuple(paths), (), digest.hexdigest(),
                        paused=tuple(paused_files))
    errors, notes = check_schedule(schedule, speaker_names=speaker_names, quiet=quiet,
                                   calendar=calendar, today=today, holidays_file=holidays_file)
    problems += errors
    if problems:
        raise ConfigError(problems)
    return Schedule(schedule.announcements, schedule.files, tuple(notes), schedule.fingerprint,
                    paused=schedule.paused)


def _load_file(path: Path, located: Located, context: dict[str, Any],
               problems: list[Problem], speech: SpeechEstimate,
               ) -> tuple[list[Announcement], bool]:
    """(announcements, paused) of one file; its problems are added to ``problems``."""
    if located.data in (None, {}):
        return [], False
    if not isinstance(located.data, dict):
        mark = located.mark(())
        problems.append(Problem(mark.file, mark.line, "", "a schedule file starts with "
                                "'announcements:' and lists the announcements below it"))
        return [], False
    paused = located.data.get("paused") is True
    if "announcements" in located.data and located.data["announcements"] is None:
        # Every announcement commented out: the same as none at all (reported by the caller).
        located.data["announcements"] = {}
    elif "announcements" not in located.data:
        located.data["announcements"] = {}
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
    parts = _split(located, names)
    items: dict[str, AnnouncementConfig] = {}
    for name in names:
        if name in bad_names:
            continue
        item, item_found = validate(AnnouncementConfig, parts[name], context)
        problems += item_found
        if item is not None:
            items[name] = item
    out = []
    for name, item in items.items():
        part = parts[name]
        mark = part.mark(())
        duration, estimated = _duration(path, item, part, problems, speech)
        out.append(Announcement(
            id=name, title=item.title or name, text=item.text.strip() if item.text else None,
            clip=(path.parent / item.clip).resolve() if item.clip else None,
            speakers=tuple(dict.fromkeys(item.speakers)), times=tuple(item.times()),
            explicit_times=frozenset(item.at), days=item.days, first=item.from_,
            last=item.until, volume=item.volume, repeat=item.repeat, priority=item.priority,
            enabled=item.enabled and not paused, duration_s=duration, estimated=estimated,
            file=mark.file, line=mark.line, time_lines=_time_lines(item, part),
            days_line=part.mark(("days",)).line))
    return out, paused


def _split(located: Located, names: list[str]) -> dict[str, Located]:
    """Each announcement's part of the file, marks included, in one pass over the marks.

    ``Located.sub`` per announcement would scan every mark of the file once per announcement:
    quadratic, and most of a large file's check time.
    """
    wanted = set(names)
    marks: dict[str, dict[Any, Any]] = {n: {} for n in names}
    raws: dict[str, dict[Any, Any]] = {n: {} for n in names}
    for store, into in ((located.marks, marks), (located.raw, raws)):
        for key, value in store.items():
            if len(key) >= 2 and key[0] == "announcements" and key[1] in wanted:  # noqa: PLR2004
                into[key[1]][key[2:]] = value
    data = located.data["announcements"]
    return {n: Located(data[n], marks[n], raws[n]) for n in names}


def _time_lines(item: AnnouncementConfig, part: Located) -> dict[Any, int]:
    every_line = part.mark(("every",)).line
    lines = {t: every_line for t in item.times()}
    for i, t in enumerate(item.at):
        lines[t] = part.mark(("at", i)).line
    return lines


def _duration(path: Path, item: AnnouncementConfig, part: Located, problems: list[Problem],
              speech: SpeechEstimate) -> tuple[float, bool]:
    if item.clip is None:
        text = item.text or ""
        spoken = speech.seconds(text, item.repeat)
        if spoken > speech.limit_s:
            mark = part.mark(("text",))
            problems.append(Problem(mark.file, mark.line, mark.path, "this text takes about "
                                    "{seconds} s to speak ({chars} characters at the configured "
                                    "voice's speed, said {repeat} time(s)); the limit is {limit} "
                                    "s: shorten it or split it into several announcements",
                                    {"seconds": round(spoken), "chars": speech.chars(text),
                                     "repeat": item.repeat, "limit": round(speech.limit_s)}))
        return speech.overlap_seconds(text, item.repeat), True
    mark = part.mark(("clip",))
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
