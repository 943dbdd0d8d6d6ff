"""The MQTT connection of one virtual device, with the device's own will (LWT) payload.

Every real post holds its own connection with its own will, so each virtual post does too: the
daemon's :class:`edge.mqtt.MqttClient` carries one fixed ``online``/``offline`` will, while a
Tasmota says ``Offline`` on ``tele/<t>/LWT`` and a Shelly ``false`` on ``<id>/online``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from edge.config import MqttConfig
from edge.mqtt import paho_client
from edge.sim.device import Outgoing

__all__ = ["DeviceLink"]

logger = logging.getLogger(__name__)

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
STOP_FLUSH_S = 1.0

CommandHandler = Callable[[str, bytes], None]  # payloads arrive as bytes (paho may hand bytearray)


class DeviceLink:
    """One device's MQTT session: will = offline, online on connect, commands to the asyncio loop.

    Args:
        config: broker settings.
        client_id: MQTT client id of the device.
        online: the retained availability message sent on connect.
        offline: the same topic's offline message: the will, and sent on a clean stop.
        command_filters: topics the device obeys.
        on_command: called on the asyncio loop with (topic, payload) of each command.
        on_connected: called on the asyncio loop after each (re)connect.
    """

    def __init__(self, config: MqttConfig, client_id: str, *, online: Outgoing, offline: Outgoing,
                 command_filters: list[str], on_command: CommandHandler,
                 on_connected: Callable[[], None]) -> None:
        self.config = config
        self.client_id = client_id
        self.online = online
        self.offline = offline
        self.command_filters = command_filters
        self.on_command = on_command
        self.on_connected = on_connected
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self.stats = {"published": 0, "commands": 0, "ignored_retained": 0}

    async def start(self) -> None:
        """Connect in the background (reconnects by itself until :meth:`stop`)."""
        self._loop = asyncio.get_running_loop()
        # Each virtual device has its own connection (and will), as a real device does.
        client = paho_client(self.config, self.client_id)
        client.will_set(self.offline.topic, self.offline.payload, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        client.connect_async(self.config.host, self.config.port,
                             keepalive=self.config.keepalive_s)
        client.loop_start()

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected; False when ``timeout`` passes first."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def publish(self, message: Outgoing) -> None:
        """Publish one message at QoS 1 (queued while disconnected)."""
        if self._client is None:
            return
        self._client.publish(message.topic, message.payload, qos=1, retain=message.retain)
        self.stats["published"] += 1

    async def stop(self, *, goodbye: bool = True) -> None:
        """Disconnect; with ``goodbye`` publish the offline message first (a clean shutdown)."""
        client, self._client = self._client, None
        if client is None:
            return
        if goodbye and self._connected.is_set():
            info = client.publish(self.offline.topic, self.offline.payload, qos=1, retain=True)
            deadline = time.monotonic() + STOP_FLUSH_S
            while not info.is_published() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._connected.clear()

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            logger.warning("%s: the broker refused the connection: %s", self.client_id,
                           reason.getName())
            return
        client.publish(self.online.topic, self.online.payload, qos=1, retain=True)
        if self.command_filters:
            client.subscribe([(f, 1) for f in self.command_filters])
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.set)
            self._loop.call_soon_threadsafe(self.on_connected)

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, _reason: Any,
                       _props: Any) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._connected.clear)
            except RuntimeError:  # the loop closed while stopping
                pass

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        if msg.retain:
            # Command topics are never retained: a retained one is stale (docs/architecture.md).
            self.stats["ignored_retained"] += 1
            return
        self.stats["commands"] += 1
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self.on_command, msg.topic, bytes(msg.payload))
            except RuntimeError:
                pass
