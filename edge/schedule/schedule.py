"""The loaded schedule the scheduler and preview work from: typed, resolved, immutable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

from edge.config.errors import Problem
from edge.schedule.model import DayRule
from edge.speakers.requests import Priority

__all__ = ["Announcement", "Schedule"]


@dataclass(frozen=True)
class Announcement:
    """One announcement, resolved: canonical speaker ids, absolute clip path, every slot of a day.

    ``duration_s`` is the clip's measured length, or for text an estimate from its length
    (``estimated`` is then True); it is used to find overlapping slots before anything renders.
    """

    id: str
    title: str
    text: str | None
    clip: Path | None
    speakers: tuple[str, ...]
    times: tuple[time, ...]
    explicit_times: frozenset[time]
    days: tuple[DayRule, ...]
    first: date | None
    last: date | None
    volume: int | None
    repeat: int
    priority: Priority
    enabled: bool
    duration_s: float
    estimated: bool
    file: str
    line: int
    # Lines of each slot (an `at` entry, or `every` for the slots it makes) and of `days:`.
    time_lines: dict[time, int] = field(default_factory=dict, compare=False, hash=False)
    days_line: int = 0


@dataclass(frozen=True)
class Schedule:
    """Every announcement of every schedule file, plus notes (not errors) found while loading.

    ``notes`` say e.g. that a date range reaches a year with no official holiday arrangement.
    ``fingerprint`` identifies the files' content, so a reload of unchanged files is a no-op.
    """

    announcements: tuple[Announcement, ...] = ()
    files: tuple[Path, ...] = ()
    notes: tuple[Problem, ...] = ()
    fingerprint: str = ""
    # Files marked `paused: true`: their announcements are loaded but never play.
    paused: tuple[str, ...] = ()
    by_id: dict[str, Announcement] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id.update({a.id: a for a in self.announcements})
