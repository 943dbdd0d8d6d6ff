"""The Tasmota energy-monitor dialect: ``tele/<t>/SENSOR`` with ENERGY arrays, LWT, POWER<n>.

Sources: tasmota/docs docs/MQTT.md, docs/Commands.md, docs/devices/Sonoff-Pow-R2.md (shared
reference device-protocols.md §1.1–1.2). One supply feeds every channel, so ``Voltage`` is one
number while the other ENERGY values are arrays with one entry per channel.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from edge.sim.device import Dialect, Outgoing, PortReport, PostReport, Relays, dumps
from edge.sim.errors import SimCommandError

__all__ = ["TasmotaEnergy"]

# docs/Commands.md: Power 0/off/false, 1/on/true, 2/toggle; empty or "?" asks for the state.
_POWER_VALUES: dict[str, bool | None] = {"0": False, "off": False, "false": False, "1": True,
                                         "on": True, "true": True, "2": None, "toggle": None}
_POWER_TOPIC = re.compile(r"^POWER(\d*)$", re.IGNORECASE)


class TasmotaEnergy(Dialect):
    """A Tasmota multi-channel energy monitor with one relay per channel."""

    profile_id = "tasmota-energy"
    # Tasmota's JSON "Time" has whole seconds; faster test intervals need milliseconds to keep
    # samples distinct (as with the ``Time 4`` option, [INFERENCE]: not checked on a device).
    milliseconds = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._started = datetime.now(self.tz)
        self._yesterday = [round(1.1 + 0.17 * n, 3) for n in range(self.port_count)]
        self._start_totals: list[float] | None = None
        self._last_totals: list[float] | None = None

    def availability(self, online: bool) -> Outgoing:
        """``tele/<t>/LWT`` = Online / Offline, retained."""
        return Outgoing(f"tele/{self.device_topic}/LWT", b"Online" if online else b"Offline",
                        retain=True)

    def command_filters(self) -> list[str]:
        """``cmnd/<t>/#``."""
        return [f"cmnd/{self.device_topic}/#"]

    def handle_command(self, topic: str, payload: bytes, relays: Relays) -> list[Outgoing]:
        """``cmnd/<t>/POWER<n>`` with ON/OFF/TOGGLE (or empty: report the state)."""
        command = topic.rsplit("/", 1)[-1]
        found = _POWER_TOPIC.match(command)
        if found is None:
            return [self._stat("RESULT", dumps({"Command": "Unknown"}))]
        port = int(found[1] or 1)
        value = payload.decode("utf-8", "replace").strip().lower()
        if value in ("", "?"):
            return self.switched(relays.report(), port, "query")
        if value not in _POWER_VALUES:
            msg = f"POWER{port} {value[:20]!r} is not one of {sorted(_POWER_VALUES)}"
            raise SimCommandError(msg)
        relays.switch(port, _POWER_VALUES[value], "cmnd")
        return []

    def connected(self, report: PostReport) -> list[Outgoing]:
        """Each relay's state, as Tasmota reports it after a restart."""
        out: list[Outgoing] = []
        for port in report.ports:
            out += self.switched(report, port.port, "init")
        return out

    def switched(self, report: PostReport, port: int, source: str) -> list[Outgoing]:
        """``stat/<t>/RESULT`` ``{"POWER<n>":"OFF"}`` and ``stat/<t>/POWER<n>`` ``OFF``."""
        del source
        state = "ON" if report.port(port).on else "OFF"
        return [self._stat("RESULT", dumps({f"POWER{port}": state})),
                self._stat(f"POWER{port}", state.encode())]

    def telemetry(self, report: PostReport) -> list[Outgoing]:
        """``tele/<t>/STATE`` (relays) and ``tele/<t>/SENSOR`` (ENERGY, one entry per channel)."""
        ports = report.ports
        totals = [p.energy_kwh for p in ports]
        start = self._start_totals = self._start_totals or totals
        last = self._last_totals or totals
        self._last_totals = totals
        energy: dict[str, Any] = {
            "TotalStartTime": self._started.strftime("%Y-%m-%dT%H:%M:%S"),
            "Total": totals,
            "Yesterday": self._yesterday,
            "Today": [round(t - s, 3) for t, s in zip(totals, start, strict=True)],
            "Period": [round((t - s) * 1000) for t, s in zip(totals, last, strict=True)],
            "Power": [_whole(p.power_w) for p in ports],
            "ApparentPower": [_apparent(p) for p in ports],
            "ReactivePower": [_reactive(p) for p in ports],
            "Factor": [round(p.power_factor, 2) for p in ports],
            "Voltage": round(report.voltage_v),
            "Current": [p.current_a for p in ports],
        }
        time = self._time(report.ts)
        state = {"Time": time, **{f"POWER{p.port}": "ON" if p.on else "OFF" for p in ports}}
        sensor = dumps({"Time": time, "ENERGY": energy})
        # Tasmota prints a failed reading as a bare nan, which is not JSON.
        sensor = sensor.replace(b"NaN", b"nan")
        return [Outgoing(f"tele/{self.device_topic}/STATE", dumps(state)),
                Outgoing(f"tele/{self.device_topic}/SENSOR", sensor)]

    def garbage_topic(self) -> str:
        """``tele/<t>/SENSOR``."""
        return f"tele/{self.device_topic}/SENSOR"

    def _stat(self, name: str, payload: bytes) -> Outgoing:
        return Outgoing(f"stat/{self.device_topic}/{name}", payload)

    def _time(self, ts: float) -> str:
        moment = datetime.fromtimestamp(ts, self.tz)
        if self.milliseconds:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> Any:
    return round(value) if _finite(value) else value


def _apparent(p: PortReport) -> Any:
    if not (_finite(p.current_a) and p.current_a > 0):
        return 0
    return round(p.voltage_v * p.current_a)


def _reactive(p: PortReport) -> Any:
    apparent, power = _apparent(p), p.power_w
    if not (_finite(power) and power > 0):
        return 0
    return round(math.sqrt(max(0.0, apparent**2 - power**2)))
