"""Can somebody be paged? Every grid area and escalation target, every hour, every kind of day.

The roster reads each phone from an environment variable (``${GRIDEDGE_ALERT_X:-}``); an unset
one silently drops that channel. This module walks the coming year day by day (working days,
rest days, public holidays, adjusted working weekends: from the site's calendar) and finds the
hours in which an area has no grid worker on duty with a notification address, or an escalation
step reaches a role or person nobody of whom can be paged. ``gridedge check`` refuses such a
config (exit 2, each gap at the worker's line, naming the empty variable); the running daemon
raises the same as one critical alert (``alerts.nobody_reachable``) and logs every gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from edge.alerts.roster import shift_starts_on
from edge.config.alerts import Role, WorkerConfig
from edge.config.errors import ConfigError, Problem
from edge.events import Event, Severity
from edge.i18n import N_, _

if TYPE_CHECKING:
    from edge.app import App
    from edge.config import GridedgeConfig
    from edge.schedule.calendar import ChinaCalendar

__all__ = ["EVENT_KIND", "Gap", "ReachabilityComponent", "create", "find_gaps",
           "reachability_problems"]

logger = logging.getLogger(__name__)

EVENT_KIND = "alerts.nobody_reachable"
HORIZON_DAYS = 366
_DAY_MINUTES = 24 * 60

# Kinds of day, in the order staff think of them.
WORKDAY, RESTDAY, HOLIDAY, ADJUSTED = "workday", "restday", "holiday", "adjusted"
DAY_KIND_TEXT = {
    WORKDAY: N_("working days"),
    RESTDAY: N_("rest days"),
    HOLIDAY: N_("public holidays"),
    ADJUSTED: N_("adjusted working weekends"),
}
_ROLE_TEXT = {
    Role.GRID_WORKER.value: N_("the grid workers"),
    Role.DUTY_OFFICER.value: N_("the duty officers"),
    Role.CADRE.value: N_("the cadres"),
}
_SEVERITY_TEXT = {"critical": N_("urgent alerts"), "warning": N_("warnings"),
                  "info": N_("notices")}


@dataclass(frozen=True)
class DayCase:
    """The days of one kind a gap occurs on: the first of them and how many in the horizon.

    ``count`` 0 means the calendar has no such day in the horizon yet (e.g. the adjusted working
    weekends of a year whose arrangement is not published): ``first`` was checked as if it were.
    """

    kind: str
    first: date
    count: int


@dataclass(frozen=True)
class Gap:
    """Hours in which nobody of a group can be paged, on the kinds of day listed.

    Attributes:
        subject: "area" (a grid area's grid workers) or "target" (an escalation target).
        name: the area name, the role, or the worker id.
        spans: the uncovered minutes of the day, [start, end) pairs.
        cases: the kinds of day with this gap.
        silent: ids of the workers on duty then whose channels are all empty.
        severities: for a target, the severities whose chains reach it.
        step_path: for a target, where the first step naming it is written.
    """

    subject: str
    name: str
    spans: tuple[tuple[int, int], ...]
    cases: tuple[DayCase, ...]
    silent: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    step_path: tuple[str | int, ...] = field(default=())


def day_kind(calendar: ChinaCalendar, day: date) -> str:
    """The kind of ``day``: a public holiday, an adjusted working weekend, a working or rest day."""
    info = calendar.day(day)
    if info.holiday is not None:
        return HOLIDAY
    if info.adjusted_workday:
        return ADJUSTED
    return WORKDAY if info.workday else RESTDAY


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def on_duty_spans(worker: WorkerConfig, day: date,
                  is_workday: Callable[[date], bool]) -> list[tuple[int, int]]:
    """The minutes of ``day`` the worker is on shift (no shifts = the whole day)."""
    if not worker.shifts:
        return [(0, _DAY_MINUTES)]
    out = []
    yesterday = day - timedelta(days=1)
    for shift in worker.shifts:
        start, end = _minutes(shift.start), _minutes(shift.end)
        across = end <= start
        if shift_starts_on(shift, day, is_workday):
            out.append((start, _DAY_MINUTES if across else end))
        if across and end > 0 and shift_starts_on(shift, yesterday, is_workday):
            out.append((0, end))
    return out


def _uncovered(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    gaps, reached = [], 0
    for start, end in sorted(spans):
        if start > reached:
            gaps.append((reached, start))
        reached = max(reached, end)
    if reached < _DAY_MINUTES:
        gaps.append((reached, _DAY_MINUTES))
    return gaps


def _overlaps(spans: list[tuple[int, int]], gaps: list[tuple[int, int]]) -> bool:
    return any(s < ge and gs < e for s, e in spans for gs, ge in gaps)


def _groups(config: GridedgeConfig) -> list[tuple[str, str, list[str], tuple[str, ...],
                                                 tuple[str | int, ...]]]:
    """(subject, name, candidate worker ids, severities, step path) of every group to check."""
    workers = config.alerts.workers
    groups: list[tuple[str, str, list[str], tuple[str, ...], tuple[str | int, ...]]] = []
    # An alert of a post outside every area goes to any grid worker: the site-wide group.
    areas = list(config.areas) or [""]
    for area in areas:
        candidates = [wid for wid, w in workers.items() if w.role is Role.GRID_WORKER
                      and (not area or not w.areas or area in w.areas)]
        groups.append(("area", area, candidates, (), ()))
    targets: dict[str, tuple[list[str], tuple[str | int, ...]]] = {}
    for severity, chain in config.alerts.escalation.items():
        for s, step in enumerate(chain.steps):
            for t, target in enumerate(step.notify):
                if target == Role.GRID_WORKER.value:
                    continue  # checked per area above
                entry = targets.setdefault(target, ([], ("alerts", "escalation", severity,
                                                         "steps", s, "notify", t)))
                if severity not in entry[0]:
                    entry[0].append(severity)
    for target, (severities, path) in targets.items():
        if target in workers:
            candidates = [target]
        else:
            candidates = [wid for wid, w in workers.items() if w.role.value == target]
        groups.append(("target", target, candidates, tuple(severities), path))
    return groups


def _days(calendar: ChinaCalendar, today: date, days: int,
          ) -> list[tuple[date, str, Callable[[date], bool], bool]]:
    """(day, kind, is_workday, synthetic) for the horizon, plus one stand-in for each kind of
    day the calendar does not show in it yet (a year whose arrangement is unpublished has no
    adjusted working weekends, but it will have some)."""
    out: list[tuple[date, str, Callable[[date], bool], bool]] = []
    for i in range(days):
        day = today + timedelta(days=i)
        out.append((day, day_kind(calendar, day), calendar.is_workday, False))
    seen = {kind for _d, kind, _w, _s in out}
    saturday = today + timedelta(days=(5 - today.weekday()) % 7)
    wednesday = today + timedelta(days=(2 - today.weekday()) % 7)
    for kind, day, worked in ((ADJUSTED, saturday, True), (HOLIDAY, wednesday, False),
                              (RESTDAY, saturday, False), (WORKDAY, wednesday, True)):
        if kind not in seen:
            out.append((day, kind, _as_if(calendar.is_workday, day, worked=worked), True))
    return out


def _as_if(is_workday: Callable[[date], bool], day: date, *, worked: bool,
           ) -> Callable[[date], bool]:
    return lambda d: worked if d == day else is_workday(d)


def find_gaps(config: GridedgeConfig, calendar: ChinaCalendar, today: date,
              days: int = HORIZON_DAYS) -> list[Gap]:
    """Every stretch of the coming ``days`` in which a group has nobody who can be paged."""
    if not config.alerts.enabled:
        return []  # "log alerts only, notify nobody" was chosen on purpose
    workers = config.alerts.workers
    horizon = _days(calendar, today, days)
    gaps_out: list[Gap] = []
    for subject, name, candidates, severities, path in _groups(config):
        reachable = [wid for wid in candidates if workers[wid].channels]
        silent = [wid for wid in candidates if not workers[wid].channels]
        # (uncovered spans, silent workers on duty then) → kind → [first day, count]
        found: dict[tuple[tuple[tuple[int, int], ...], tuple[str, ...]],
                    dict[str, list[object]]] = {}
        for day, kind, is_workday, synthetic in horizon:
            gaps = _uncovered([s for wid in reachable
                               for s in on_duty_spans(workers[wid], day, is_workday)])
            if not gaps:
                continue
            on_duty = tuple(wid for wid in silent
                            if _overlaps(on_duty_spans(workers[wid], day, is_workday), gaps))
            case = found.setdefault((tuple(gaps), on_duty), {}).setdefault(kind, [day, 0])
            if not synthetic:
                case[1] += 1  # type: ignore[operator]
        for (spans, on_duty), cases in found.items():
            ordered = tuple(DayCase(kind, *cases[kind])  # type: ignore[arg-type]
                            for kind in DAY_KIND_TEXT if kind in cases)
            gaps_out.append(Gap(subject, name, spans, ordered, on_duty, severities, path))
    return gaps_out


def _hours(spans: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}–{e // 60:02d}:{e % 60:02d}" for s, e in spans)


def _why(config: GridedgeConfig, gap: Gap) -> tuple[str, dict[str, object]]:
    workers = config.alerts.workers
    if gap.silent:
        names = "、".join(workers[w].name for w in gap.silent)
        variables = [v for w in gap.silent for v in config.empty_env(
            ("alerts", "workers", w, "channels"))]
        if variables:
            return (N_("{names} on duty then have no notification address: the environment "
                       "variable(s) {variables} are empty or not set; set them in the service's "
                       "environment file"),
                    {"names": names, "variables": ", ".join(dict.fromkeys(variables))})
        return (N_("{names} on duty then have no notification address under 'channels'; add "
                   "one"), {"names": names})
    if gap.subject == "target" and not _candidates(config, gap):
        return N_("nobody on the roster has this role; add a person with it"), {}
    return N_("no shift of a person with a notification address covers these hours; add a "
              "person or extend a shift"), {}


def _candidates(config: GridedgeConfig, gap: Gap) -> list[str]:
    workers = config.alerts.workers
    if gap.name in workers:
        return [gap.name]
    return [wid for wid, w in workers.items() if w.role.value == gap.name]


def _where(config: GridedgeConfig, gap: Gap) -> tuple[str, int, str]:
    if gap.silent:
        path: tuple[str | int, ...] = ("alerts", "workers", gap.silent[0], "channels")
    elif gap.subject == "area" and gap.name:
        path = ("areas", gap.name)
    elif gap.subject == "target":
        path = gap.step_path
    else:
        path = ("alerts", "workers")
    mark = config.mark(path)
    if mark is None:
        return "config.yaml", 0, ".".join(str(p) for p in path)
    return mark.file, mark.line, mark.path


def gap_problem(config: GridedgeConfig, gap: Gap) -> Problem:
    """The gap as a staff message at the line to fix."""
    file, line, path = _where(config, gap)
    why, why_args = _why(config, gap)
    args: dict[str, object] = {"when": _LazyCases(gap.cases), "hours": _hours(gap.spans),
                               "why": _Lazy(why, why_args)}
    if gap.subject == "area":
        args["area"] = gap.name or _Lazy(N_("the whole site"))
        return Problem(file, line, path, "grid area {area}: on {when}, at {hours}, no grid "
                       "worker on duty can be paged: {why}", args)
    workers = config.alerts.workers
    args["target"] = workers[gap.name].name if gap.name in workers else _Lazy(
        _ROLE_TEXT.get(gap.name, gap.name))
    args["severities"] = _LazyList([_SEVERITY_TEXT.get(s, s) for s in gap.severities])
    return Problem(file, line, path, "escalation of {severities} to {target}: on {when}, "
                   "at {hours}, nobody can be paged: {why}", args)


class _Lazy:
    """A catalogue message as a placeholder value, translated when the problem is shown."""

    def __init__(self, msgid: str, args: dict[str, object] | None = None) -> None:
        self.msgid, self.args = msgid, args or {}

    def __format__(self, spec: str) -> str:
        return format(_(self.msgid).format(**self.args), spec)

    def __repr__(self) -> str:
        return repr((self.msgid, self.args))


class _LazyCases:
    def __init__(self, cases: tuple[DayCase, ...]) -> None:
        self.cases = cases

    def __format__(self, spec: str) -> str:
        parts = []
        for case in self.cases:
            kind = _(DAY_KIND_TEXT[case.kind])
            if case.count:
                parts.append(_("{kind} (e.g. {example}, {count} in the coming year)").format(
                    kind=kind, example=case.first.isoformat(), count=case.count))
            else:
                parts.append(_("{kind} (none in the calendar yet; checked as if {example} were "
                               "one)").format(kind=kind, example=case.first.isoformat()))
        return format("、".join(parts), spec)

    def __repr__(self) -> str:
        return repr(self.cases)


class _LazyList:
    def __init__(self, msgids: list[str]) -> None:
        self.msgids = msgids

    def __format__(self, spec: str) -> str:
        return format("、".join(_(m) for m in self.msgids), spec)

    def __repr__(self) -> str:
        return repr(self.msgids)


def reachability_problems(config: GridedgeConfig, calendar: ChinaCalendar | None = None,
                          today: date | None = None) -> list[Problem]:
    """Every gap in who can be paged, as problems for ``gridedge check``."""
    if calendar is None:
        calendar = _calendar(config)
    if today is None:
        today = datetime.now(config.site.tz).date()
    return [gap_problem(config, gap) for gap in find_gaps(config, calendar, today)]


def _calendar(config: GridedgeConfig) -> ChinaCalendar:
    from edge.schedule.calendar import ChinaCalendar  # noqa: PLC0415 - schedule imports config
    from edge.schedule.load import calendar_for  # noqa: PLC0415

    try:
        return calendar_for(config)
    except ConfigError:
        # The holiday file's own problems are reported by the schedule check.
        return ChinaCalendar(None)


def create(app: App) -> ReachabilityComponent:
    """The component for ``edge.app``: checks once at start who can be paged (service "roster")."""
    component = ReachabilityComponent(app)
    app.provide("roster", component)
    return component


class ReachabilityComponent:
    """At start, raises ``alerts.nobody_reachable`` (critical) when anyone is unreachable."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.problems: list[Problem] = []

    async def start(self) -> None:
        """Walk the coming year once (off the loop: a year of calendar lookups)."""
        config = self.app.config
        self.problems = await asyncio.to_thread(reachability_problems, config)
        if not self.problems:
            return
        texts = [str(p) for p in self.problems]
        for text in texts:
            logger.error("nobody can be paged: %s", text)
        self.app.events.emit(Event(EVENT_KIND, config.site.id, Severity.CRITICAL, detail={
            "problems": texts, "count": len(texts), "reason": "；".join(texts)}))

    async def stop(self) -> None:
        """Nothing runs after start."""
