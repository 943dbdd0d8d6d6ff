"""Who is on duty now: workers, their grid areas, shifts (site time, across midnight, Chinese
working days with adjusted weekends) and the escalation chain of each severity."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.config import GridedgeConfig
from edge.config.alerts import Day, EscalationConfig, Role, ShiftConfig, WorkerConfig
from edge.config.base import closest

__all__ = ["Roster", "shift_covers", "shift_starts_on"]

logger = logging.getLogger(__name__)

_WEEKDAYS = (Day.MON, Day.TUE, Day.WED, Day.THU, Day.FRI, Day.SAT, Day.SUN)
_ROLES = {r.value for r in Role}


def shift_covers(shift: ShiftConfig, local: datetime, is_workday: Callable[[date], bool]) -> bool:
    """True when ``shift`` covers the site-local time ``local``.

    A shift belongs to the day it starts on: "sat 20:00–08:00" covers Sunday 03:00.
    """
    now, today = local.time(), local.date()
    across = shift.end <= shift.start
    if shift_starts_on(shift, today, is_workday) and (
            now >= shift.start if across else shift.start <= now < shift.end):
        return True
    yesterday = today - timedelta(days=1)
    return across and now < shift.end and shift_starts_on(shift, yesterday, is_workday)


def shift_starts_on(shift: ShiftConfig, day: date, is_workday: Callable[[date], bool]) -> bool:
    """True when ``shift`` starts on ``day`` (its day rules, Chinese working days included)."""
    for rule in shift.days:
        if rule is Day.DAILY or rule is _WEEKDAYS[day.weekday()]:
            return True
        if rule in (Day.WORKDAYS, Day.RESTDAYS) and is_workday(day) == (rule is Day.WORKDAYS):
            return True
    return False


class Roster:
    """The roster of config.yaml, asked about one moment at a time.

    Args:
        config: the site config (workers, areas, escalation).
        is_workday: the Chinese calendar (``ChinaCalendar().is_workday``).
    """

    def __init__(self, config: GridedgeConfig, is_workday: Callable[[date], bool]) -> None:
        self.config = config
        self.workers: dict[str, WorkerConfig] = dict(config.alerts.workers)
        self._is_workday = is_workday
        self._tz: ZoneInfo = config.site.tz
        self._post_area = {p: name for name, a in config.areas.items() for p in a.posts}
        self._speaker_area = {s: name for name, a in config.areas.items() for s in a.speakers}
        self._calendar_warned = False

    # -- names -------------------------------------------------------------------------------

    def find(self, name: str) -> str | None:
        """The worker id for an id or a person's name, or None."""
        if name in self.workers:
            return name
        by_name = [wid for wid, w in self.workers.items() if w.name == name]
        return by_name[0] if len(by_name) == 1 else None

    def suggest(self, name: str) -> str | None:
        """The worker id or name that looks most like ``name`` (a typo), or None."""
        return closest(name, [*self.workers, *(w.name for w in self.workers.values())])

    def area_of(self, post: str = "", speaker: str = "") -> str:
        """The grid area a post or speaker belongs to ("" = none / site-wide)."""
        if post:
            return self._post_area.get(post, "")
        return self._speaker_area.get(speaker, "")

    def chain(self, severity: str) -> EscalationConfig:
        """The escalation chain of a severity."""
        return self.config.alerts.escalation[severity]

    # -- duty --------------------------------------------------------------------------------

    def on_duty(self, worker_id: str, ts: float) -> bool:
        """True when the worker is on shift at epoch ``ts`` (no shifts = always reachable)."""
        worker = self.workers[worker_id]
        if not worker.shifts:
            return True
        local = datetime.fromtimestamp(ts, self._tz)
        return any(shift_covers(s, local, self._workday) for s in worker.shifts)

    def targets(self, names: list[str], area: str, ts: float, *, ignore_shifts: bool = False,
                ) -> list[str]:
        """Worker ids a step's ``notify`` list reaches now, for an alert in ``area``."""
        found: list[str] = []
        for name in names:
            if name in _ROLES:
                candidates = [wid for wid, w in self.workers.items() if w.role.value == name
                              and (name != Role.GRID_WORKER or not area or not w.areas
                                   or area in w.areas)]
            else:
                candidates = [name] if name in self.workers else []
            for wid in candidates:
                reachable = bool(self.workers[wid].channels)
                if reachable and wid not in found and (ignore_shifts or self.on_duty(wid, ts)):
                    found.append(wid)
        return found

    def _workday(self, day: date) -> bool:
        try:
            return self._is_workday(day)
        except Exception:  # noqa: BLE001 - a calendar gap must not stop paging
            if not self._calendar_warned:
                logger.warning("the working-day calendar has no data for %s; treating Monday to"
                               " Friday as working days (add the year to the holiday file)", day)
                self._calendar_warned = True
            return day.weekday() < 5  # noqa: PLR2004 - Saturday is weekday 5
