"""What a vendor dialect of a virtual post works with: readings, messages out, the relays it drives.

A dialect (one module per vendor: ``vendor_gridedge``, ``vendor_tasmota``, ``vendor_shelly``)
turns a :class:`PostReport` into that vendor's messages and reads that vendor's commands; the
physics (chargers, faults, relays) lives in :mod:`edge.sim.port` and knows no vendor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from edge.mqtt import Topics

__all__ = ["Dialect", "Outgoing", "PortReport", "PostReport", "Relays", "dumps"]


class Outgoing(NamedTuple):
    """One message a virtual device publishes."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class PortReport:
    """What one port's meter and relay say right now (values may be garbage on purpose).

    Attributes:
        port: canonical port number, from 1.
        on: the relay state the device believes (a welded relay conducts anyway).
        status: idle, charging, full, off or fault (the canonical post's status words).
        device_error: a trip of the device's own protection (Shelly ``errors[]``), or None.
        welded: the relay was told to open but still conducts.
        power_factor: of the load (chargers with PFC are close to 1).
    """

    port: int
    current_a: Any
    power_w: Any
    voltage_v: float
    energy_kwh: float
    on: bool
    temp_c: float
    status: str
    device_error: str | None = None
    welded: bool = False
    power_factor: float = 0.0


@dataclass(frozen=True, slots=True)
class PostReport:
    """One post at one moment: ``ts`` is wall-clock epoch seconds."""

    ts: float
    voltage_v: float
    temp_c: float
    ports: tuple[PortReport, ...]
    current_a: float = 0.0  # the post's feed: every port together
    power_w: float = 0.0

    def port(self, number: int) -> PortReport:
        """The report of one port (canonical number)."""
        return self.ports[number - 1]


class Relays(Protocol):
    """The virtual post as a dialect sees it while handling a command."""

    def switch(self, port: int, on: bool | None, source: str) -> bool:
        """Set a relay (None = toggle); returns whether it was on. SimCommandError: no such port."""

    def report(self) -> PostReport:
        """The post's current readings."""


def dumps(data: Any) -> bytes:
    """Compact JSON as devices send it (non-finite numbers written as NaN/Infinity on purpose)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class Dialect:
    """Base of the vendor dialects: the messages and commands of one device of one vendor.

    Args:
        post_id: the post's id in config.yaml.
        device_topic: the device's own topic name (``topic_id`` or the id).
        topics: canonical topics of the site.
        tz: the site's time zone (devices that send local time use it).
        port_count: number of ports.
    """

    profile_id = ""

    def __init__(self, post_id: str, device_topic: str, topics: Topics, tz: ZoneInfo,
                 port_count: int) -> None:
        self.post_id = post_id
        self.device_topic = device_topic
        self.topics = topics
        self.tz = tz
        self.port_count = port_count

    def availability(self, online: bool) -> Outgoing:
        """The retained availability message (the offline one is the MQTT will)."""
        raise NotImplementedError

    def command_filters(self) -> list[str]:
        """Topic filters the device listens on for commands."""
        raise NotImplementedError

    def handle_command(self, topic: str, payload: bytes, relays: Relays) -> list[Outgoing]:
        """Obey one command; returns replies. SimCommandError for a command it cannot read."""
        raise NotImplementedError

    def telemetry(self, report: PostReport) -> list[Outgoing]:
        """The periodic telemetry messages."""
        raise NotImplementedError

    def switched(self, report: PostReport, port: int, source: str) -> list[Outgoing]:
        """What the device publishes right after a relay changed (or was asked about)."""
        raise NotImplementedError

    def garbage_topic(self) -> str:
        """Where payload-level sensor garbage goes (the main telemetry topic)."""
        raise NotImplementedError

    def connected(self, report: PostReport) -> list[Outgoing]:
        """What the device publishes once connected (besides availability); none by default."""
        del report
        return []

    def own_protection(self, port: PortReport) -> str | None:
        """The device's own protection: the error it trips with, or None (most have none)."""
        del port
        return None
