"""The daemon's schedule component: loads the schedule, runs the scheduler and the file watcher.

A schedule that is invalid at start does not stop the daemon (post protection must keep running):
the problems are logged and published as ``schedule.rejected``, nothing is announced, and the
watcher loads the files as soon as staff fix them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from edge.config.errors import ConfigError
from edge.config.load import display_path
from edge.events import Event, Severity
from edge.schedule.calendar import ChinaCalendar
from edge.schedule.load import calendar_for, load_schedules
from edge.schedule.reload import FileWatcher
from edge.schedule.schedule import Schedule
from edge.schedule.scheduler import Scheduler

if TYPE_CHECKING:
    from edge.app import App
    from edge.speakers.requests import PlaySink

__all__ = ["ScheduleComponent", "create"]

logger = logging.getLogger(__name__)


def create(app: App) -> ScheduleComponent:
    """The component for ``edge.app`` (offers itself as service "schedule")."""
    component = ScheduleComponent(app)
    app.provide("schedule", component)
    return component


class ScheduleComponent:
    """Scheduler + hot reload for one daemon."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.scheduler: Scheduler | None = None
        self.watcher: FileWatcher | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _load(self) -> tuple[Schedule, ChinaCalendar]:
        calendar = calendar_for(self.app.config)
        return load_schedules(self.app.config, calendar=calendar), calendar

    async def start(self) -> None:
        """Begin loading the schedule in the background and return at once.

        Loading decodes every clip and checks a year of slots for overlaps: seconds on a busy
        schedule, and post protection must not wait for it.
        """
        self._tasks = [asyncio.get_running_loop().create_task(self._begin(),
                                                              name="schedule-load")]

    async def _begin(self) -> None:
        """Load the schedule (in a thread: clips are decoded) and start ticking and watching."""
        config = self.app.config
        schedule, calendar = Schedule(), ChinaCalendar(None)
        try:
            schedule, calendar = await asyncio.to_thread(self._load)
            self._loaded_event(schedule, first=True)
        except ConfigError as err:
            self._rejected(err)
        sink: PlaySink | None = self.app.service("speakers")  # type: ignore[assignment]
        if sink is None:
            logger.warning("no speaker service: scheduled announcements will be recorded as missed")
        self.scheduler = Scheduler(
            schedule, sink, tz=config.site.tz, calendar=calendar,
            quiet=(config.site.quiet_hours.start, config.site.quiet_hours.end),
            grace_s=config.schedules.grace_s, render_ahead_s=config.schedules.render_ahead_s,
            events=self.app.events, store=self.app.store,
            speaker_names={sid: s.name or sid for sid, s in config.speakers.devices.items()})
        paths = [config.resolve(p) for p in config.schedules.files]
        if config.schedules.holidays_file is not None:
            paths.append(config.resolve(config.schedules.holidays_file))
        self.watcher = FileWatcher(paths, self._load, self._on_loaded, self._rejected)
        self.watcher.mark_current()
        if self._stop.is_set():
            return
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(self.scheduler.run(self._stop), name="scheduler"),
                        loop.create_task(self.watcher.run(self._stop), name="schedule-watcher")]
        logger.info("scheduler started: %d announcements", len(schedule.announcements))

    async def stop(self) -> None:
        """Stop ticking and watching."""
        self._stop.set()
        for task in list(self._tasks):
            try:
                await asyncio.wait_for(task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._tasks.clear()

    def _on_loaded(self, result: object) -> None:
        assert isinstance(result, tuple)
        schedule: Schedule = result[0]
        calendar: ChinaCalendar = result[1]
        if self.scheduler is not None:
            self.scheduler.replace(schedule, calendar)
        self._loaded_event(schedule, first=False)

    def _loaded_event(self, schedule: Schedule, *, first: bool) -> None:
        for note in schedule.notes:
            # Not an error, but staff must know (e.g. a year without the official calendar).
            logger.warning("%s", note)
        files = [display_path(p) for p in schedule.files]
        self.app.events.emit(Event("schedule.reloaded", ",".join(files), Severity.INFO, detail={
            "files": files, "initial": first, "announcements": len(schedule.announcements),
            "notes": [str(n) for n in schedule.notes]}))

    def _rejected(self, err: ConfigError) -> None:
        problems = [str(p) for p in err.problems]
        for text in problems:
            logger.error("schedule rejected: %s", text)
        files = sorted({p.file for p in err.problems})
        self.app.events.emit(Event("schedule.rejected", ",".join(files), Severity.WARNING, detail={
            "files": files, "problems": problems,
            "kept": "the last good schedule keeps running"}))
