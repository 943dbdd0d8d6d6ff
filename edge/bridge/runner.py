"""`gridedge bridge`: serial lines polled by firmware_bridge, published as canonical MQTT.

Per post: telemetry on ``posts/<post>/telemetry``, retained availability on
``posts/<post>/availability``, port commands from ``posts/<post>/cmd`` (retained ones ignored).
The bridge's own retained availability (and its LWT) is on ``bridge/availability``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from edge.bridge.availability import PostAvailability
from edge.bridge.const import (
    AVAILABILITY_QOS,
    CLIENT_ID_SUFFIX,
    CONFIRM_QOS,
    OFFLINE,
    ONLINE,
    PYMODBUS_LOG_LEVEL,
    PYMODBUS_LOGGER,
    TELEMETRY_QOS,
)
from edge.bridge.messages import CommandError, parse_command, telemetry_payload
from edge.bridge.worker import JsonLinesWorker, LineWorker, ModbusWorker
from edge.config import GridedgeConfig
from edge.config.bridge import BridgeBusConfig, BridgeConfig, BridgeProtocol
from edge.mqtt import Message, MqttClient, Topics
from firmware_bridge import (
    DeviceReading,
    FaultCounters,
    FaultReason,
    JsonLinesBoard,
    ModbusBus,
    ModbusDevice,
    RegisterMap,
)

__all__ = ["BridgeRunner"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Relay:
    """Who switches a post's port: a line and the index of its device there."""

    worker: LineWorker
    index: int
    ports: frozenset[int] | None  # None = any port (a DIY board checks its own ports)


class BridgeRunner:
    """The bridge process: one task per serial line, one MQTT connection.

    Args:
        config: the site config; its ``bridge:`` section must be set.
        maps: register maps by id, from `edge.bridge.load_bridge`.
    """

    def __init__(self, config: GridedgeConfig, maps: dict[str, RegisterMap]) -> None:
        """Store the config; serial ports and the broker are opened in `start()`."""
        if config.bridge is None:
            msg = "config has no bridge: section"
            raise ValueError(msg)
        self.config = config
        self.bridge: BridgeConfig = config.bridge
        self.maps = maps
        self.topics = Topics(config.mqtt.topic_root, config.site.id)
        self.counters = FaultCounters()
        self.workers: list[LineWorker] = []
        self.mqtt: MqttClient | None = None
        self.post_state: PostAvailability | None = None
        self.stats = {"published": 0, "rejected_readings": 0, "commands": 0,
                      "rejected_commands": 0}
        self._relays: dict[str, list[_Relay]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the lines, subscribe to the posts' command topics, connect, start polling."""
        pymodbus_logger = logging.getLogger(PYMODBUS_LOGGER)
        if pymodbus_logger.level == logging.NOTSET:
            pymodbus_logger.setLevel(PYMODBUS_LOG_LEVEL)
        base_id = self.config.mqtt.client_id or f"gridedge-{self.config.site.id}"
        self.mqtt = MqttClient(self.config.mqtt, self.topics, client_id=base_id + CLIENT_ID_SUFFIX,
                               availability_topic=self.topics.bridge_availability())
        devices_by_post: dict[str, list[str]] = {}
        for bus_name, _bus, name, device in self.bridge.devices():
            devices_by_post.setdefault(device.post, []).append(f"{bus_name}/{name}")
        self.post_state = PostAvailability(devices_by_post, self.bridge.offline_after_polls)
        self.workers = [self._worker(name, bus) for name, bus in self.bridge.buses.items()]
        for post in devices_by_post:
            self.mqtt.subscribe(self.topics.post_cmd(self._topic_id(post)),
                                functools.partial(self._on_command, post), command=True)
        await self.mqtt.start()
        self._tasks = [asyncio.create_task(w.run(), name=f"bridge-line-{w.name}")
                       for w in self.workers]
        logger.info("bridge started: %d lines, %d devices, %d posts", len(self.workers),
                    len(self.bridge.devices()), len(devices_by_post))

    async def stop(self) -> None:
        """Stop polling, close the ports, mark the posts and the bridge offline, disconnect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for worker in self.workers:
            try:
                await worker.close()
            except Exception:
                logger.warning("closing line %s failed", worker.name, exc_info=True)
        if self.mqtt is not None:
            if self.post_state is not None:
                # Nobody watches these posts once the bridge is gone: say so instead of leaving
                # a retained "online" behind.
                for post in self.post_state.posts():
                    if self.post_state.state(post) is not None:
                        self.availability(post, online=False)
            await self.mqtt.stop()
        logger.info("bridge stopped; faults: %s", self.counters.snapshot() or "none")

    async def run(self, stop: asyncio.Event) -> None:
        """Start, wait until `stop` is set, then stop."""
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()

    # --- building --------------------------------------------------------------------------------

    def _topic_id(self, post: str) -> str:
        return self.config.posts.devices[post].topic_id or post

    def _worker(self, bus_name: str, bus: BridgeBusConfig) -> LineWorker:
        assert self.post_state is not None
        if bus.protocol is BridgeProtocol.JSONLINES:
            ((name, settings),) = bus.devices.items()
            board = JsonLinesBoard(bus.port, name=f"{bus_name}/{name}", post=settings.post,
                                   baudrate=bus.baudrate, timeout_s=bus.timeout_s,
                                   counters=self.counters)
            worker: LineWorker = JsonLinesWorker(bus_name, board, settings.poll_interval_s, self,
                                                 self.post_state)
            self._relays.setdefault(settings.post, []).append(_Relay(worker, 0, None))
            return worker
        modbus = ModbusBus(bus.port, baudrate=bus.baudrate, parity=bus.parity.letter,
                           stopbits=bus.stopbits, timeout_s=bus.timeout_s, counters=self.counters)
        devices: list[ModbusDevice] = []
        for name, device in bus.devices.items():
            assert device.profile is not None and device.slave is not None
            devices.append(ModbusDevice(name=f"{bus_name}/{name}", post=device.post,
                                        slave=device.slave, register_map=self.maps[device.profile],
                                        port=device.port))
        worker = ModbusWorker(bus_name, modbus, devices,
                              [d.poll_interval_s for d in bus.devices.values()], self,
                              self.post_state)
        for index, modbus_device in enumerate(devices):
            # A meter assigned to one port reports it but cannot switch it (no shipped meter
            # map has a relay); only devices with the post's own relay coils take commands.
            relays = modbus_device.register_map.relays
            if modbus_device.port is None and relays:
                ports = frozenset(p for block in relays for p in block.ports)
                self._relays.setdefault(modbus_device.post, []).append(
                    _Relay(worker, index, ports))
        return worker

    # --- ReadingSink ----------------------------------------------------------------------------

    def reading(self, reading: DeviceReading, *, confirm: bool) -> None:
        """Publish one reading as canonical telemetry of its post."""
        assert self.mqtt is not None
        try:
            payload = telemetry_payload(reading)
        except ValueError as err:
            self.stats["rejected_readings"] += 1
            self.counters.record(reading.device, FaultReason.INVALID_VALUE,
                                 f"reading not published: {err}")
            return
        if payload is None:
            return
        self.mqtt.publish(self.topics.post_telemetry(self._topic_id(reading.post)), payload,
                          qos=CONFIRM_QOS if confirm else TELEMETRY_QOS)
        self.stats["published"] += 1

    def availability(self, post: str, online: bool) -> None:
        """Publish a post's retained availability."""
        assert self.mqtt is not None
        self.mqtt.publish(self.topics.post_availability(self._topic_id(post)),
                          ONLINE if online else OFFLINE, qos=AVAILABILITY_QOS, retain=True)

    # --- commands -------------------------------------------------------------------------------

    def _on_command(self, post: str, message: Message) -> None:
        source = f"cmd {post}"
        try:
            command = parse_command(post, message.payload)
        except CommandError as err:
            self.stats["rejected_commands"] += 1
            self.counters.record(source, FaultReason.BAD_FIELDS, f"command ignored: {err}")
            return
        relays = self._relays.get(post, [])
        target = next((r for r in relays if r.ports is None or command.port in r.ports), None)
        if target is None:
            self.stats["rejected_commands"] += 1
            self.counters.record(source, FaultReason.NOT_MAPPED,
                                 f"command {command.request_id}: no relay for port "
                                 f"{command.port} on this bridge")
            return
        logger.info("post %s: command %s port %d %s (%s)", post, command.request_id, command.port,
                    "on" if command.on else "off", command.reason or "-")
        self.stats["commands"] += 1
        if not target.worker.submit(target.index, command):
            self.stats["rejected_commands"] += 1
