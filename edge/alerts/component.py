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
from edge.alerts.const import ACK_MAX_BYTES, MQTT_CHANNEL, TICK_S
from edge.alerts.errors import AlertsError
from edge.alerts.manager import AlertManager
from edge.alerts.outbox import Dispatcher
from edge.alerts.roster import Roster
from edge.alerts.speak import AlertSpeech
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
        clock: epoch seconds now; tests pass a clock they move by hand.
    """

    def __init__(self, app: App, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.clock = clock
        self.roster: Roster | None = None
        self.manager: AlertManager | None = None
        self.dispatcher: Dispatcher | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._plugin: Any = None
        self._down_since: float | None = None
        self.phone: Any = None
        self.speech = AlertSpeech(app, lambda: self.manager, clock)

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
        self.dispatcher = Dispatcher(self.app.store, channels, self.clock, self.app.events)
        self.manager = AlertManager(config, self.app.store, self.roster, self.clock,
                                    self.app.events, self.dispatcher.wake)
        self.manager.load()
        self.phone = phone_routes.start(self.app, self)  # before the first page is written
        self.app.events.listen(self.manager.on_event)
        self.app.mqtt.subscribe(self.app.topics.alert_ack("+"), self._on_ack, command=True)
        await self.dispatcher.start()
        await self.speech.start()
        self._down_since = self.clock()
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

    async def _tick_loop(self) -> None:
        while True:
            try:
                self._watch_broker()
                if self.manager is not None:
                    self.manager.tick()
            except Exception:
                logger.exception("alert escalation round failed; next round in %.2f s", TICK_S)
            await asyncio.sleep(TICK_S)

    def _watch_broker(self) -> None:
        assert self.manager is not None and self.dispatcher is not None  # noqa: S101
        now = self.clock()
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
                "reason": f"{mqtt.host}:{mqtt.port}", "since": self._down_since}))

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
