"""The alerts component of the daemon: wires roster, manager, outbox and channels to the app.

Test hook (documented, test-only): when ``GRIDEDGE_ALERTS_TEST_PLUGIN`` names an importable
module, its ``create(app)`` component is started after this one. Tests use it to feed events
into a real ``gridedge run`` through the real EventBus (tests/alerts/spool_plugin.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from edge.alerts import phone_routes
from edge.alerts.channels import AppriseChannel, Channel, MqttChannel
from edge.alerts.clock import SteadyClock
from edge.alerts.const import (ACK_MAX_BYTES, MQTT_CHANNEL, PRUNE_EVERY_S, SILENCES_EVERY_S,
                               TICK_S)
from edge.alerts.errors import AlertsError
from edge.alerts.manager import AlertManager
from edge.alerts.outbox import Dispatcher
from edge.alerts.roster import Roster
from edge.alerts.speak import AlertSpeech
from edge.alerts.working import WorkingSet
from edge.i18n import _
from edge.events import Event, Severity
from edge.mqtt import Message

if TYPE_CHECKING:
    from edge.app import App

__all__ = ["TEST_PLUGIN_ENV", "AlertsComponent", "create", "workday_calendar"]

logger = logging.getLogger(__name__)

TEST_PLUGIN_ENV = "GRIDEDGE_ALERTS_TEST_PLUGIN"


def workday_calendar(app_config: Any) -> Callable[[date], bool]:
    """``is_workday`` of the shared Chinese calendar (with the staff's holiday file, if any)."""
    from edge.schedule.calendar import ChinaCalendar  # noqa: PLC0415 - optional capability

    holidays = app_config.schedules.holidays_file
    return ChinaCalendar(app_config.resolve(holidays) if holidays else None).is_workday


class AlertsComponent:
    """Alerting in the daemon.

    Args:
        app: the daemon.
        clock: the wall clock, epoch seconds (shifts, silences, what people read).
        monotonic: the monotonic clock (every duration: escalation, repeats, retries, the broker
            watch). Tests pass clocks they move by hand, and may step the wall clock alone.
    """

    def __init__(self, app: App, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self.monotonic = monotonic
        self.steady = SteadyClock(clock, monotonic)
        self.roster: Roster | None = None
        self.working: WorkingSet | None = None
        self.manager: AlertManager | None = None
        self.dispatcher: Dispatcher | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._plugin: Any = None
        self._down_since: float | None = None
        self.phone: Any = None
        self.speech = AlertSpeech(app, lambda: self.manager, self.steady, clock)
        self._store_alert = ""

    @property
    def duplicates(self) -> int:
        """Notifications sent again whose earlier attempt may have arrived (for /metrics)."""
        return 0 if self.dispatcher is None else self.dispatcher.stats["duplicates"]

    async def start(self) -> None:
        """Load the roster, pick up open alerts and the outbox, listen to events and acks."""
        config = self.app.config
        # Apprise logs every successful send at INFO; our outbox already records each one.
        logging.getLogger("apprise").setLevel(max(logging.WARNING,
                                                  logging.getLogger("apprise").level))
        self.roster = Roster(config, workday_calendar(config))
        channels: dict[str, Channel] = {MQTT_CHANNEL: MqttChannel(self.app.mqtt)}
        for wid, worker in config.alerts.workers.items():
            for i, url in enumerate(worker.channels):
                channels[f"{wid}:{i}"] = AppriseChannel(f"{wid}:{i}", url)
        self.working = WorkingSet(self.app.store, on_durable=self._durable)
        self.working.open()
        self.dispatcher = Dispatcher(self.working, channels, self.steady, self.clock,
                                     self.app.events, link_up=lambda: self.app.mqtt.connected)
        self.manager = AlertManager(config, self.working, self.roster, self.steady, self.clock,
                                    self.app.events, self.dispatcher.wake, disk=self.app.store)
        self.manager.link_probe = lambda: (self.app.mqtt.connected,
                                           int(self.app.mqtt.stats.get("connects", 0)))
        self.manager.load()
        self.phone = phone_routes.start(self.app, self)  # before the first page is written
        self.app.events.listen(self.manager.on_event)
        self.app.mqtt.subscribe(self.app.topics.alert_ack("+"), self._on_ack, command=True)
        await self.dispatcher.start()
        await self.speech.start()
        self._down_since = self.monotonic()
        self._ticker = asyncio.create_task(self._tick_loop(), name="alerts-tick")
        logger.info("alerting started: %d worker(s), %d channel(s)", len(config.alerts.workers),
                    len(channels))
        plugin = os.environ.get(TEST_PLUGIN_ENV)
        if plugin:
            self._plugin = importlib.import_module(plugin).create(self.app)
            await self._plugin.start()

    async def stop(self) -> None:
        """Stop ticking and delivering; whatever is unsent stays in the outbox."""
        if self._plugin is not None:
            await self._plugin.stop()
        phone_routes.stop()
        await self.speech.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            for channel in self.dispatcher.channels.values():
                await channel.close()

    def _durable(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def _tick_loop(self) -> None:
        assert self.manager is not None and self.working is not None  # noqa: S101
        silences_at = prune_at = self.monotonic()
        while True:
            try:
                self._watch_broker()
                self._watch_store()
                if self.monotonic() >= silences_at:
                    silences_at = self.monotonic() + SILENCES_EVERY_S
                    # the CLI writes silences to disk: read them off the loop
                    self.manager.set_silences(await asyncio.to_thread(self.manager.read_silences))
                self.manager.tick()
                if self.monotonic() >= prune_at:
                    prune_at = self.monotonic() + PRUNE_EVERY_S
                    self.working.prune(self.clock())
            except Exception:
                logger.exception("alert escalation round failed; next round in %.2f s", TICK_S)
            await asyncio.sleep(TICK_S)

    def _watch_store(self) -> None:
        """The store's own trouble is an alert like any other, sent though nothing is recorded."""
        assert self.manager is not None  # noqa: S101
        health = self.app.store.health
        if not health.ok and not self._store_alert:
            self._store_alert = health.kind or "io_error"
            free = "?" if health.free_bytes is None else f"{health.free_bytes / 1024:.0f} KiB"
            what = _("disk full") if health.kind == "disk_full" else _("disk cannot be written")
            reason = _("{what}: {path}, {free} free; protection goes on, records wait in "
                       "memory").format(what=what, path=health.path, free=free)
            self.app.events.emit(Event("store.degraded", "", Severity.CRITICAL, {
                "reason": reason, "path": health.path, "free_bytes": health.free_bytes,
                "problem": health.problem, "mode": health.mode}))
        elif health.ok and self._store_alert:
            self._store_alert = ""
            self.app.events.emit(Event("store.recovered", "", Severity.INFO,
                                       {"path": health.path}))

    def _watch_broker(self) -> None:
        assert self.manager is not None and self.dispatcher is not None  # noqa: S101
        now = self.monotonic()
        open_alert = "broker_unreachable" in self.manager.open_keys
        if self.app.mqtt.connected:
            if self._down_since is not None:
                self._down_since = None
                self.dispatcher.retry_now(MQTT_CHANNEL)
                if open_alert:
                    self.manager.on_event(Event("alerts.broker_reachable", "", Severity.INFO))
            return
        if self._down_since is None:
            self._down_since = now
        after = self.app.config.alerts.broker_unreachable_after_s
        if not open_alert and now - self._down_since >= after:
            mqtt = self.app.config.mqtt
            self.manager.on_event(Event("alerts.broker_unreachable", "", Severity.CRITICAL, {
                "reason": f"{mqtt.host}:{mqtt.port}",
                "since": self.clock() - (now - self._down_since)}))

    def _on_ack(self, message: Message) -> None:
        assert self.manager is not None  # noqa: S101
        parts = message.topic.split("/")
        alert_id = parts[-2] if len(parts) >= 2 else ""  # noqa: PLR2004
        try:
            if len(message.payload) > ACK_MAX_BYTES:
                msg = "acknowledgement too long"
                raise AlertsError(msg)
            try:
                data = json.loads(message.payload)
            except (ValueError, UnicodeDecodeError):
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("by"), str):
                msg = 'an acknowledgement is JSON {"by": "<worker id>", "note": "..."}'
                raise AlertsError(msg)
            if not alert_id.isdigit():
                msg = f"'{alert_id}' is not an alert id"
                raise AlertsError(msg)
            self.manager.acknowledge(int(alert_id), data["by"], str(data.get("note") or ""))
        except AlertsError as err:
            logger.warning("acknowledgement on %s refused: %s", message.topic, err)
            self.app.events.emit(Event("alerts.ack_refused", alert_id, Severity.WARNING,
                                       {"reason": str(err), "payload": message.payload[:200]
                                        .decode("utf-8", "replace")}))


def create(app: App) -> AlertsComponent:
    """The alerts component of ``app`` (also offered to later components as "alerts")."""
    component = AlertsComponent(app)
    app.provide("alerts", component)
    phone_routes.register(app, component)
    return component
