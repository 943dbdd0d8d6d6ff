"""The scheduler: turns occurrences into PlayRequests — prepared ahead, submitted when due.

Rules:
- Each occurrence has the key ``<announcement id>@<slot ISO time>``; one scheduler never submits a
  key twice (the fleet also dedupes across restarts, so a replay after a crash is harmless).
- A cursor ("everything due up to here is handled") is kept in the store. After a restart, or a
  clock jump forward, occurrences that passed within the grace window are submitted late; older ones
  are reported as ``play.missed``. After a jump backward, slots already handled are not replayed.
- Clips are prepared (rendered) ``render_ahead_s`` before their slot.
- Time comes from an injectable clock (epoch seconds) and sleep, so tests never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from edge.events import Event, Severity
from edge.schedule.const import MAX_LOOKBACK_S, MAX_SLEEP_S, STATE_SCOPE
from edge.schedule.occurrences import Occurrence, expand
from edge.speakers.requests import PlayRequest, PlaySink

if TYPE_CHECKING:
    from datetime import time as wall_time
    from zoneinfo import ZoneInfo

    from edge.events import EventBus
    from edge.schedule.calendar import ChinaCalendar
    from edge.schedule.schedule import Schedule
    from edge.store import Store

__all__ = ["Clock", "Scheduler", "Sleep"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_CURSOR_KEY = "done_up_to"
_EPSILON_S = 0.001  # slots are whole minutes: this only excludes the cursor instant itself


class Scheduler:
    """Submits each occurrence of the schedule to the speaker fleet at its time.

    Args:
        schedule: what to play (``replace()`` swaps it on reload).
        sink: the speaker fleet (``app.service("speakers")``); None records every slot as missed.
        tz: the site's time zone.
        calendar: working days and holidays.
        quiet: quiet hours (start, end).
        grace_s: a slot may be submitted this late; later ones are missed.
        render_ahead_s: clips are prepared this long before their slot.
        events: where ``play.missed`` / ``play.failed`` go.
        store: keeps the cursor across restarts (scope "schedule").
        speaker_names: id → name, for events staff read.
        clock: epoch seconds now.
        sleep: coroutine sleeping the given seconds.
    """

    def __init__(self, schedule: Schedule, sink: PlaySink | None, *,
                 tz: ZoneInfo, calendar: ChinaCalendar, quiet: tuple[wall_time, wall_time],
                 grace_s: float, render_ahead_s: float, events: EventBus | None = None,
                 store: Store | None = None, speaker_names: dict[str, str] | None = None,
                 clock: Clock = time.time, sleep: Sleep = asyncio.sleep) -> None:
        self.schedule = schedule
        self._sink = sink
        self._tz = tz
        self.calendar = calendar
        self._quiet = quiet
        self._grace_s = grace_s
        self._ahead_s = render_ahead_s
        self._events = events
        self._store = store
        self._names = speaker_names or {}
        self._clock = clock
        self._sleep = sleep
        self._cursor: float | None = None
        self._handled: set[str] = set()
        self._prepared: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._ticks = 0
        self.submitted: list[PlayRequest] = []  # this run's submissions, newest last

    def replace(self, schedule: Schedule, calendar: ChinaCalendar | None = None) -> None:
        """Use a new schedule from the next tick on (hot reload); handled keys stay handled."""
        self.schedule = schedule
        if calendar is not None:
            self.calendar = calendar
        if self._wake is not None:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a failing tick is logged and retried, never fatal."""
        self._wake = asyncio.Event()
        while not stop.is_set():
            try:
                delay = await self.tick()
            except Exception:
                logger.exception("the scheduler failed a tick; trying again shortly")
                delay = MAX_SLEEP_S
            await self._wait(delay, stop)
        await self.settle(cancel=True)

    async def settle(self, *, cancel: bool = False) -> None:
        """Wait for (or cancel) the clip preparations still running."""
        tasks = list(self._tasks)
        if cancel:
            for task in tasks:
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def tick(self) -> float:
        """Handle everything due now, prepare what is near; seconds until the next thing to do."""
        now = self._clock()
        first = self._ticks == 0
        self._ticks += 1
        if self._cursor is None:
            self._cursor = self._load_cursor(now)
            self._save_cursor(self._cursor)  # a first start marks where scheduling began
        begin = self._cursor + _EPSILON_S
        upcoming = expand(self.schedule, self._at(begin), self._at(now + self._ahead_s + _EPSILON_S),
                          tz=self._tz, calendar=self.calendar, quiet=self._quiet)
        next_wake = now + MAX_SLEEP_S
        # Of the slots an announcement missed (daemon down, clock jump), only the latest plays
        # late: residents should hear it once, not a backlog of the same clip back to back.
        latest_due: dict[int, float] = {}
        for occ in upcoming:
            if occ.due <= now and occ.key not in self._handled:
                key = id(occ.announcement)
                latest_due[key] = max(latest_due.get(key, occ.due), occ.due)
        for occ in upcoming:
            if occ.key in self._handled:
                continue
            if occ.due <= now:
                self._handled.add(occ.key)
                late = now - occ.due
                if late > self._grace_s:
                    self._missed(occ, late, "not running" if first else "clock jump")
                elif occ.due < latest_due[id(occ.announcement)]:
                    self._missed(occ, late, "superseded by a later slot")
                else:
                    await self._submit(occ)
                continue
            prepare_at = occ.due - self._ahead_s
            if occ.key not in self._prepared and prepare_at <= now:
                self._prepared.add(occ.key)
                self._start_prepare(occ)
            next_wake = min(next_wake, occ.due if occ.key in self._prepared else prepare_at)
        if now > self._cursor:
            self._cursor = now
            self._save_cursor(now)
        # Also wake when the next slot beyond the render-ahead horizon comes into it.
        beyond = expand(self.schedule, self._at(now + self._ahead_s + _EPSILON_S),
                        self._at(now + self._ahead_s + MAX_SLEEP_S), tz=self._tz,
                        calendar=self.calendar, quiet=self._quiet)
        if beyond:
            next_wake = min(next_wake, beyond[0].due - self._ahead_s)
        return max(0.0, next_wake - now)

    def _at(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self._tz)

    def _request(self, occ: Occurrence) -> PlayRequest:
        ann = occ.announcement
        return PlayRequest(key=occ.key, announcement=ann.id, speakers=ann.speakers, due=occ.due,
                           grace_s=self._grace_s, priority=ann.priority, text=ann.text,
                           clip=ann.clip, volume=ann.volume, repeat=ann.repeat, source="schedule")

    def _start_prepare(self, occ: Occurrence) -> None:
        if self._sink is None:
            return
        task = asyncio.get_running_loop().create_task(self._prepare(self._request(occ)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare(self, request: PlayRequest) -> None:
        try:
            await self._sink.prepare(request)  # type: ignore[union-attr]
        except Exception:
            # Not fatal: the fleet renders again at submit time and reports a failure there.
            logger.warning("preparing %s failed; it will be rendered when due", request.key,
                           exc_info=True)

    async def _submit(self, occ: Occurrence) -> None:
        if self._sink is None:
            self._missed(occ, self._clock() - occ.due, "no speaker service")
            return
        request = self._request(occ)
        try:
            await self._sink.submit(request)
        except Exception as err:
            logger.exception("submitting %s failed", request.key)
            self._emit("play.failed", occ, Severity.WARNING, reason=f"submit failed: {err}")
            return
        self.submitted.append(request)
        logger.info("submitted %s to %s", request.key, ",".join(request.speakers))

    def _missed(self, occ: Occurrence, late: float, reason: str) -> None:
        logger.warning("%s missed (%.0f s late, %s)", occ.key, late, reason)
        self._emit("play.missed", occ, Severity.WARNING, reason=reason, late_s=round(late, 1))

    def _emit(self, kind: str, occ: Occurrence, severity: Severity, **detail: object) -> None:
        if self._events is None:
            return
        ann = occ.announcement
        for speaker in ann.speakers:
            self._events.emit(Event(kind, speaker, severity, detail={
                "key": occ.key, "announcement": ann.id, "title": ann.title,
                "speaker_name": self._names.get(speaker, speaker), "due": occ.when.isoformat(),
                "priority": ann.priority.value, "source": "schedule", **detail}))

    async def _wait(self, delay: float, stop: asyncio.Event) -> None:
        assert self._wake is not None
        self._wake.clear()
        waits = [asyncio.ensure_future(self._sleep(delay)), asyncio.ensure_future(stop.wait()),
                 asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def _load_cursor(self, now: float) -> float:
        saved = None
        if self._store is not None:
            try:
                saved = self._store.get_state(STATE_SCOPE).get(_CURSOR_KEY)
            except Exception:
                logger.exception("could not read the scheduler's cursor; starting from now")
        if not isinstance(saved, int | float):
            # First start: nothing was scheduled before, so nothing can have been missed (a
            # slot due this very second still plays).
            return now - 1.0
        return max(float(saved), now - MAX_LOOKBACK_S)

    def _save_cursor(self, now: float) -> None:
        if self._store is None:
            return
        try:
            self._store.put_state(STATE_SCOPE, _CURSOR_KEY, now)
        except Exception:
            logger.exception("could not save the scheduler's cursor")
