"""Typed readings a device poll or a JSON line turns into, and their canonical telemetry form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAULT_SENSOR_INVALID = "sensor_invalid"


@dataclass(frozen=True, slots=True)
class PortReading:
    """What one post port reported; None means not measured (or dropped as implausible)."""

    port: int
    current_a: float | None = None
    power_w: float | None = None
    energy_kwh: float | None = None
    on: bool | None = None
    temp_c: float | None = None
    status: str | None = None
    fault: str | None = None

    def to_telemetry(self) -> dict[str, Any]:
        """Return the canonical per-port dict, leaving out unknown fields."""
        out: dict[str, Any] = {"port": self.port}
        for name in ("current_a", "power_w", "energy_kwh", "on", "temp_c", "status", "fault"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class DeviceReading:
    """One consistent set of values from one device at one time.

    Post-level `current_a`, `power_w`, `energy_kwh` are set only by a meter that is not
    assigned to a port (it then measures the post's feed). `invalid` lists the values that were
    read but dropped as implausible (NaN, infinite, negative, out of range), e.g.
    ``"port 3 current_a: nan"``; such a port carries ``fault="sensor_invalid"``.
    """

    post: str
    device: str
    ts: float
    voltage_v: float | None = None
    temp_c: float | None = None
    current_a: float | None = None
    power_w: float | None = None
    energy_kwh: float | None = None
    frequency_hz: float | None = None
    power_factor: float | None = None
    ports: tuple[PortReading, ...] = ()
    invalid: tuple[str, ...] = field(default=())

    def port(self, number: int) -> PortReading | None:
        """Return the reading of port `number`, or None if this reading has none for it."""
        for reading in self.ports:
            if reading.port == number:
                return reading
        return None

    def to_telemetry(self) -> dict[str, Any]:
        """Return the canonical telemetry payload (docs/architecture.md); unknown fields left out.

        Besides the canonical `ts`, `voltage_v`, `temp_c` and `ports`, the post-level meter
        fields `current_a`, `power_w`, `energy_kwh`, `frequency_hz` and `power_factor` appear
        when a meter measured them.
        """
        out: dict[str, Any] = {"ts": self.ts}
        for name in (
            "voltage_v",
            "temp_c",
            "current_a",
            "power_w",
            "energy_kwh",
            "frequency_hz",
            "power_factor",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.ports:
            out["ports"] = [p.to_telemetry() for p in self.ports]
        return out
