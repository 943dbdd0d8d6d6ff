"""The MQTT channel: the retained alert record on ``<root>/<site>/alerts/<id>``, PUBACK-confirmed.

QoS 1 publishes in flight are bounded (paho overwrites unacknowledged messages past 65,535, and
an outbox replay after an outage could otherwise queue thousands). Nothing is handed to paho
while the broker is away: paho would keep it in memory and resend it itself, outside the outbox.
"""

from __future__ import annotations

import asyncio
import time

from edge.alerts.channels.base import Notification
from edge.alerts.const import MQTT_CHANNEL, MQTT_MAX_IN_FLIGHT, MQTT_PUBACK_TIMEOUT_S
from edge.alerts.errors import ChannelError
from edge.mqtt import MqttClient

__all__ = ["MqttChannel"]

_POLL_MIN_S = 0.002
_POLL_MAX_S = 0.05


class MqttChannel:
    """Publishes alert records through the daemon's one MQTT client."""

    name = MQTT_CHANNEL

    def __init__(self, mqtt: MqttClient, max_in_flight: int = MQTT_MAX_IN_FLIGHT) -> None:
        self._mqtt = mqtt
        self._slots = asyncio.Semaphore(max_in_flight)
        self.in_flight = 0
        self.peak_in_flight = 0

    async def send(self, notification: Notification) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        async with self._slots:
            if not self._mqtt.connected:
                msg = "MQTT broker not connected"
                raise ChannelError(msg)
            topic = self._mqtt.topics.alert(str(notification.alert_id))
            info = self._mqtt.publish(topic, notification.body.encode("utf-8"), qos=1,
                                      retain=notification.retain)
            if info is None:
                msg = "MQTT client not started"
                raise ChannelError(msg)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                await self._puback(info)
            finally:
                self.in_flight -= 1

    async def _puback(self, info: object) -> None:
        deadline = time.monotonic() + MQTT_PUBACK_TIMEOUT_S
        delay = _POLL_MIN_S
        while not info.is_published():  # type: ignore[attr-defined]
            if time.monotonic() > deadline or not self._mqtt.connected:
                # paho may still deliver it after a reconnect: then the receiver sees the same
                # alert id and seq twice, which is the documented duplicate.
                msg = "no PUBACK from the MQTT broker"
                raise ChannelError(msg)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)

    async def close(self) -> None:
        """Nothing to release: the MQTT client belongs to the app."""
