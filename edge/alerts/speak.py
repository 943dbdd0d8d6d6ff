"""Spoken alerts: an escalation step with ``speak:`` says the alert on named speakers.

The last resort when nobody answers the phone: the gate nearest the post, or the duty room,
says "3号充电桩4号口充电过载…" out loud. A step's speech is due ``after_min`` after the alert was
raised, on the same steady clock as escalation (an NTP step moves it neither way), and is spoken only if the alert is then still firing
and not held (silenced or inhibited). Outside quiet hours it plays as an important
announcement; in quiet hours only a critical alert is spoken (as an emergency, which plays
through them), any other is skipped, logged and recorded as an ``alert.speak_skipped`` event.

The play goes through the speaker fleet (``app.service("speakers")``) like any announcement:
one clip at a time per speaker, priorities, proof of play in the play log under the key
``alert:<id>:step<n>``, which the fleet never plays twice, so a restart cannot repeat a speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from edge.alerts.const import SPEAK_GRACE_S, TICK_S
from edge.alerts.message import KIND_TITLE, where
from edge.events import Event, Severity
from edge.i18n import N_, _
from edge.schedule.occurrences import in_quiet_hours
from edge.speakers.requests import PlayRequest, Priority

if TYPE_CHECKING:
    from edge.alerts.manager import AlertManager
    from edge.app import App
    from edge.config.alerts import SpeakConfig

__all__ = ["DEFAULT_TEXT", "AlertSpeech", "speech_text"]

logger = logging.getLogger(__name__)

DEFAULT_TEXT = N_("Attention: {what} at {where}. Staff on duty, please go there now.")


def speech_text(template: str, fields: dict[str, str]) -> str:
    """The words of a spoken alert (a config-checked template, or the standard sentence)."""
    return (template or _(DEFAULT_TEXT)).format(**fields)


class AlertSpeech:
    """Speaks the ``speak:`` steps of open alerts when they fall due.

    Args:
        app: the daemon (config, events, the "speakers" service).
        manager: the alert manager, once alerting has started.
        steady: the escalation clock (epoch-like, advancing with the monotonic clock).
        wall: the wall clock, for quiet hours (a calendar decision) and an earlier run's alerts.
    """

    def __init__(self, app: App, manager: Callable[[], AlertManager | None],
                 steady: Callable[[], float], wall: Callable[[], float]) -> None:
        self._app = app
        self._manager = manager
        self._clock = steady
        self._wall = wall
        self._due: dict[tuple[int, int], float] = {}   # (alert id, step) → due on the clock
        self._task: asyncio.Task[None] | None = None
        self._plays: set[asyncio.Task[None]] = set()
        self.stats = {"spoken": 0, "skipped": 0}

    def has_steps(self) -> bool:
        """True when any chain speaks (otherwise nothing here needs to run)."""
        return any(step.speak for chain in self._app.config.alerts.escalation.values()
                   for step in chain.steps)

    async def start(self) -> None:
        """Pick up the open alerts' steps still to come, follow new ones, tick."""
        if not self.has_steps():
            return
        manager = self._manager()
        assert manager is not None  # noqa: S101 - started after the manager
        now, wall = self._clock(), self._wall()
        for alert_id in list(manager.open_keys.values()):
            row = manager.row(alert_id)
            if row is not None:
                # Raised by an earlier run: its age is all a restart can know, on the wall clock.
                self._plan(alert_id, row["severity"], now - max(0.0, wall - row["first_ts"]))
        self._app.events.listen(self._on_event, "alert.")
        self._task = asyncio.create_task(self._loop(), name="alerts-speech")

    async def stop(self) -> None:
        """Stop ticking; plays already handed to the fleet are the fleet's."""
        for task in (self._task, *self._plays):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _on_event(self, event: Event) -> None:
        if event.kind == "alert.raised" and event.subject.isdigit():
            manager = self._manager()
            row = manager.row(int(event.subject)) if manager is not None else None
            if row is not None:
                self._plan(row["id"], row["severity"], self._clock())
        elif event.kind in ("alert.acknowledged", "alert.resolved") and event.subject.isdigit():
            for key in [k for k in self._due if k[0] == int(event.subject)]:
                del self._due[key]

    def _plan(self, alert_id: int, severity: str, raised: float) -> None:
        chain = self._app.config.alerts.escalation.get(severity)
        for i, step in enumerate(chain.steps if chain is not None else []):
            if step.speak is not None:
                self._due[(alert_id, i)] = raised + step.after_min * 60

    async def _loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                logger.exception("spoken alerts round failed; next round in %.2f s", TICK_S)
            await asyncio.sleep(TICK_S)

    def tick(self) -> None:
        """Speak every step that is due now (tests call it after moving their clock)."""
        now = self._clock()
        for key in sorted(k for k, due in self._due.items() if due <= now):
            del self._due[key]
            self._speak(*key, self._wall())

    def _speak(self, alert_id: int, step_index: int, wall: float) -> None:
        manager = self._manager()
        row = manager.row(alert_id) if manager is not None else None
        if row is None or row["state"] != "firing" or row["held"]:
            return
        step = self._app.config.alerts.escalation[row["severity"]].steps[step_index]
        speak: SpeakConfig = step.speak  # type: ignore[assignment]
        critical = row["severity"] == Severity.CRITICAL.value
        quiet = self._app.config.site.quiet_hours
        moment = datetime.fromtimestamp(wall, self._app.config.site.tz).time()
        if not critical and in_quiet_hours(moment, quiet.start, quiet.end):
            self._skipped(alert_id, step_index, "quiet_hours")
            return
        fleet: Any = self._app.service("speakers")
        if fleet is None:
            self._skipped(alert_id, step_index, "no_speakers")
            return
        text = speech_text(speak.text, self._fields(manager, alert_id))
        request = PlayRequest(
            key=f"alert:{alert_id}:step{step_index + 1}", announcement=f"alert #{alert_id}",
            # Due now on the fleet's own clock: it judges lateness against the real wall time.
            speakers=tuple(speak.speakers), due=time.time(), grace_s=SPEAK_GRACE_S,
            priority=Priority.EMERGENCY if critical else Priority.IMPORTANT, text=text,
            volume=speak.volume, repeat=speak.repeat, source="alert")
        logger.warning("alert #%d: speaking on %s: %s", alert_id, ", ".join(speak.speakers), text)
        self.stats["spoken"] += 1
        self._app.events.emit(Event("alert.spoken", str(alert_id), Severity.INFO, {
            "step": step_index + 1, "speakers": list(speak.speakers), "text": text,
            "key": request.key}))
        task = asyncio.create_task(self._submit(fleet, request))
        self._plays.add(task)
        task.add_done_callback(self._plays.discard)

    def _fields(self, manager: AlertManager, alert_id: int) -> dict[str, str]:
        alert = manager.view(alert_id)
        site = self._app.config.site.name
        short, _full = where(alert, site)
        post = str(alert.detail.get("post_name") or alert.post or alert.speaker or "")
        return {"what": _(KIND_TITLE.get(alert.kind, alert.kind)), "where": short,
                "post": post, "port": "" if alert.port is None else str(alert.port),
                "location": str(alert.detail.get("location") or ""), "site": site}

    def _skipped(self, alert_id: int, step_index: int, reason: str) -> None:
        self.stats["skipped"] += 1
        logger.warning("alert #%d: step %d not spoken: %s", alert_id, step_index + 1, reason)
        self._app.events.emit(Event("alert.speak_skipped", str(alert_id), Severity.WARNING, {
            "step": step_index + 1, "reason": reason}))

    @staticmethod
    async def _submit(fleet: Any, request: PlayRequest) -> None:
        try:
            await fleet.submit(request)
        except Exception:
            logger.exception("spoken alert %s could not be queued", request.key)
