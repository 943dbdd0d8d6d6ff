"""The canonical gridedge-post dialect: JSON telemetry with ``ts``, ``posts/<id>/cmd`` commands."""

from __future__ import annotations

import json
from typing import Any

from edge.sim.device import Dialect, Outgoing, PortReport, PostReport, Relays, dumps
from edge.sim.errors import SimCommandError

__all__ = ["GridedgePost"]

_ACTIONS = {"port_off": False, "port_on": True}


class GridedgePost(Dialect):
    """A post that speaks gridedge's own protocol (firmware bridge, DIY boards).

    Its topics and payloads are described in docs/architecture.md.
    """

    profile_id = "gridedge-post"

    def availability(self, online: bool) -> Outgoing:
        """``posts/<id>/availability`` = online / offline, retained."""
        return Outgoing(self.topics.post_availability(self.device_topic),
                        b"online" if online else b"offline", retain=True)

    def command_filters(self) -> list[str]:
        """``posts/<id>/cmd``."""
        return [self.topics.post_cmd(self.device_topic)]

    def handle_command(self, topic: str, payload: bytes, relays: Relays) -> list[Outgoing]:
        """``{"id", "action": "port_off"/"port_on", "port", "reason"}``; telemetry is the reply."""
        del topic
        try:
            data: Any = json.loads(payload)
        except ValueError as err:
            msg = f"not JSON: {err}"
            raise SimCommandError(msg) from None
        if not isinstance(data, dict) or data.get("action") not in _ACTIONS:
            msg = f"needs an action of {sorted(_ACTIONS)}: {payload[:80]!r}"
            raise SimCommandError(msg)
        port = data.get("port")
        if isinstance(port, bool) or not isinstance(port, int):
            msg = f"needs a whole-number port: {payload[:80]!r}"
            raise SimCommandError(msg)
        relays.switch(port, _ACTIONS[data["action"]], "cmd")
        return []

    def telemetry(self, report: PostReport) -> list[Outgoing]:
        """Every port with the post's voltage and temperature, on ``posts/<id>/telemetry``."""
        return [self._message(report, report.ports)]

    def switched(self, report: PostReport, port: int, source: str) -> list[Outgoing]:
        """A partial update carrying only the port that changed."""
        del source
        return [self._message(report, (report.port(port),))]

    def garbage_topic(self) -> str:
        """``posts/<id>/telemetry``."""
        return self.topics.post_telemetry(self.device_topic)

    def _message(self, report: PostReport, ports: tuple[PortReport, ...]) -> Outgoing:
        body = {"ts": round(report.ts, 3), "voltage_v": report.voltage_v,
                "temp_c": report.temp_c, "current_a": report.current_a,
                "power_w": report.power_w, "ports": [_port(p) for p in ports]}
        return Outgoing(self.topics.post_telemetry(self.device_topic), dumps(body))


def _port(p: PortReport) -> dict[str, Any]:
    # A smart post notices a welded relay (JUY heartbeat status 0x03, device-protocols.md §4.1).
    fault = p.device_error or ("relay_welded" if p.welded else None)
    return {"port": p.port, "current_a": p.current_a, "power_w": p.power_w,
            "energy_kwh": p.energy_kwh, "on": p.on, "temp_c": p.temp_c,
            "status": "fault" if fault else p.status, "fault": fault}
