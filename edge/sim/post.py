"""One virtual charging post: its ports, its vendor dialect, its own MQTT session and its faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass

from edge.config import MqttConfig
from edge.i18n import N_
from edge.sim.device import Dialect, Outgoing, PostReport
from edge.sim.errors import FaultSpecError, SimCommandError
from edge.sim.faults import PAYLOAD_GARBAGE, Fault, FaultKind, GarbageKind
from edge.sim.link import DeviceLink
from edge.sim.port import VirtualPort

__all__ = ["PostSettings", "VirtualPost"]

logger = logging.getLogger(__name__)

# --- Supply (220 V ± 3 %, sagging a little under load) ---
NOMINAL_V = 220.0
SUPPLY_SPREAD = 0.03
SUPPLY_WALK_V = 0.4        # random walk per √second
SAG_V_PER_A = 0.15
POST_HEATING_C_PER_A = 0.5
OVERSIZED_BYTES = 70 * 1024  # above the decoder's 64 KiB limit


@dataclass(frozen=True, slots=True)
class PostSettings:
    """How one virtual post runs.

    Attributes:
        interval_s: real seconds between telemetry messages.
        speed: simulated seconds per real second for charging curves and residents.
        seed: base of every random choice (with the post id and port number).
        client_id: MQTT client id of the post.
    """

    interval_s: float
    speed: float
    seed: int
    client_id: str


class VirtualPost:
    """A post that publishes what its profile's real device publishes and obeys its commands.

    Args:
        post_id: id in config.yaml.
        ports: number of ports.
        dialect: the vendor's messages and commands for this device.
        mqtt: broker settings.
        settings: interval, time compression, seed, client id.
    """

    def __init__(self, post_id: str, ports: int, dialect: Dialect, mqtt: MqttConfig,
                 settings: PostSettings) -> None:
        self.post_id = post_id
        self.dialect = dialect
        self.settings = settings
        self.rng = random.Random(f"{settings.seed}:{post_id}")
        self.ambient_c = round(self.rng.uniform(18.0, 30.0), 1)
        self.ports = [VirtualPort(n, random.Random(f"{settings.seed}:{post_id}:{n}"),
                                  ambient_c=self.ambient_c) for n in range(1, ports + 1)]
        self.supply_v = NOMINAL_V * (1 + self.rng.uniform(-0.01, 0.01))
        self.silent = False
        self.garbage: Fault | None = None
        self.stats = {"telemetry": 0, "garbage": 0, "bad_commands": 0, "ignored_commands": 0}
        self._garbage_turn = 0
        self._pending: list[tuple[float, Fault]] = []
        self._last = time.time()
        self._task: asyncio.Task[None] | None = None
        self.link = DeviceLink(mqtt, settings.client_id, online=dialect.availability(True),
                               offline=dialect.availability(False),
                               command_filters=dialect.command_filters(),
                               on_command=self._on_command, on_connected=self._on_connected)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and start publishing."""
        self._last = time.time()
        await self.link.start()
        self._task = asyncio.create_task(self._run(), name=f"sim-post-{self.post_id}")

    async def stop(self, *, goodbye: bool = True) -> None:
        """Stop publishing and disconnect (``goodbye``: say offline first, as on a clean reboot)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.link.stop(goodbye=goodbye)

    async def _run(self) -> None:
        await self.link.wait_connected()
        # Spread the posts over the interval, as real ones are never in step.
        await asyncio.sleep(self.rng.uniform(0.0, self.settings.interval_s))
        while True:
            try:
                self.tick()
            except Exception:  # one bad tick must not end the post
                logger.exception("virtual post %s failed to publish", self.post_id)
            await asyncio.sleep(self.settings.interval_s)

    # -- faults ------------------------------------------------------------------------------------

    def inject(self, fault: Fault, *, at: float | None = None) -> None:
        """Give the post a fault now (or at epoch time ``at``); FaultSpecError for a wrong port."""
        if fault.port is not None and fault.port > len(self.ports):
            raise FaultSpecError(N_("post {post} has no port {port} (it has {count})"),
                                 post=self.post_id, port=fault.port, count=len(self.ports))
        if at is not None and at > time.time():
            self._pending.append((at, fault))
            return
        logger.info("virtual post %s: fault %s on %s", self.post_id, fault.kind.value,
                    f"port {fault.port}" if fault.port else "the whole post")
        now = time.time()
        if fault.port is not None:
            self.ports[fault.port - 1].apply(fault, now)
            return
        if fault.kind is FaultKind.SILENCE:
            self.silent = True
        elif fault.kind is FaultKind.GARBAGE:
            self.garbage, self._garbage_turn = fault, 0
        elif fault.kind is FaultKind.CLEAR:
            self.silent, self.garbage, self._pending = False, None, []
        for port in self.ports:
            if fault.kind in (FaultKind.STUCK_RELAY, FaultKind.CLEAR):
                port.apply(fault, now)

    def _start_due_faults(self, now: float) -> None:
        due = [f for at, f in self._pending if at <= now]
        self._pending = [(at, f) for at, f in self._pending if at > now]
        for fault in due:
            self.inject(fault)

    # -- readings --------------------------------------------------------------------------------

    def report(self, garbage: GarbageKind | None = None, *, honest: bool = False) -> PostReport:
        """What the post's meters say now.

        Args:
            garbage: this value garbage in every port.
            honest: no garbage at all (what the device's own protection measures).
        """
        total = sum(p.current_a for p in self.ports)
        voltage = self.supply_v - SAG_V_PER_A * total
        ports = tuple(p.report(voltage, garbage, honest=honest) for p in self.ports)
        power = sum(voltage * p.current_a * p.power_factor for p in self.ports)
        return PostReport(ts=time.time(), voltage_v=round(voltage, 1),
                          temp_c=round(self.ambient_c + POST_HEATING_C_PER_A * total, 1),
                          ports=ports, current_a=round(total, 3), power_w=round(power, 1))

    def tick(self) -> None:
        """Move the post on to now and publish its telemetry (unless silent)."""
        now = time.time()
        real_dt = max(0.0, now - self._last)
        self._last = now
        self._start_due_faults(now)
        spread = NOMINAL_V * SUPPLY_SPREAD
        self.supply_v += self.rng.gauss(0.0, SUPPLY_WALK_V * math.sqrt(real_dt))
        self.supply_v = min(NOMINAL_V + spread, max(NOMINAL_V - spread, self.supply_v))
        voltage = self.supply_v - SAG_V_PER_A * sum(p.current_a for p in self.ports)
        for port in self.ports:
            port.advance(real_dt * self.settings.speed, real_dt, now, voltage)
        self._own_protection()
        if self.silent:
            return
        kind = self._next_garbage()
        messages = self.dialect.telemetry(self.report(None if kind in PAYLOAD_GARBAGE else kind))
        if kind in PAYLOAD_GARBAGE:
            messages = [self._garbage_message(kind, messages)]
        if kind is not None:
            self.stats["garbage"] += 1
        self.stats["telemetry"] += 1
        self._publish(messages)

    def _own_protection(self) -> None:
        report = None
        for port in self.ports:
            if not port.relay_on:
                continue
            report = report or self.report(honest=True)
            error = self.dialect.own_protection(report.port(port.number))
            if error is not None:
                logger.info("virtual post %s port %d: own protection trips (%s)", self.post_id,
                            port.number, error)
                port.trip(error)
                port.advance(0.0, 0.0, time.time(), report.voltage_v)
                if not self.silent:
                    self._publish(self.dialect.switched(self.report(), port.number, "limit"))
                report = None

    def _next_garbage(self) -> GarbageKind | None:
        if self.garbage is None:
            return None
        kinds = self.garbage.garbage_kinds()
        kind = kinds[self._garbage_turn % len(kinds)]
        self._garbage_turn += 1
        return kind

    def _garbage_message(self, kind: GarbageKind, real: list[Outgoing]) -> Outgoing:
        topic = self.dialect.garbage_topic()
        payload = next((m.payload for m in real if m.topic == topic), real[-1].payload)
        if kind is GarbageKind.NOT_JSON:
            payload = payload[: max(1, len(payload) * 2 // 3)]  # cut off mid-message
        elif kind is GarbageKind.NOT_UTF8:
            payload = b"\xff\xfe" + payload[:40] + b"\xc3\x28"
        else:
            payload = b'{"pad":"' + b"x" * OVERSIZED_BYTES + b'"}'
        return Outgoing(topic, payload)

    # -- relays and commands ---------------------------------------------------------------------

    def switch(self, port: int, on: bool | None, source: str) -> bool:
        """Set a relay as a command says (None = toggle); returns whether it was on."""
        if not 1 <= port <= len(self.ports):
            msg = f"post {self.post_id} has no port {port}"
            raise SimCommandError(msg)
        target = self.ports[port - 1]
        was_on = target.switch(on)
        target.advance(0.0, 0.0, time.time(), self.supply_v)
        logger.info("virtual post %s port %d: relay %s by %s%s", self.post_id, port,
                    "on" if target.relay_on else "off", source,
                    " (welded: current keeps flowing)" if target.stuck and not target.relay_on
                    else "")
        if not self.silent:
            self._publish(self.dialect.switched(self.report(), port, source))
        return was_on

    def _on_command(self, topic: str, payload: bytes) -> None:
        if self.silent:
            # A hung device: connected (so no will), but deaf and mute.
            self.stats["ignored_commands"] += 1
            return
        try:
            replies = self.dialect.handle_command(topic, payload, self)
        except SimCommandError as err:
            self.stats["bad_commands"] += 1
            logger.warning("virtual post %s ignored a command on %s: %s", self.post_id, topic, err)
            return
        self._publish(replies)

    def _on_connected(self) -> None:
        if not self.silent:
            self._publish(self.dialect.connected(self.report()))

    def _publish(self, messages: list[Outgoing]) -> None:
        for message in messages:
            self.link.publish(message)
