"""The Shelly Gen2 dialect: ``status/switch:<n>``, NotifyStatus deltas, ``online``, JSON-RPC.

Sources: shelly-api-docs gen2 (Mqtt, Notifications, RPCChannels, Switch) and captures in shared
reference device-protocols.md §2. Switches are numbered from 0 (``switch:0`` is port 1).
``aenergy.total`` is Wh. A Shelly trips on its own ``current_limit``/``power_limit``: the relay
opens and ``errors`` lists the reason until the next ``Switch.Set`` on.
"""

from __future__ import annotations

import json
import math
from typing import Any

from edge.sim.device import Dialect, Outgoing, PortReport, PostReport, Relays, dumps
from edge.sim.errors import SimCommandError

__all__ = ["ShellyGen2"]

# Limits of a Plus 1PM / Pro 4PM channel (16 A relays); SetConfig could lower them.
CURRENT_LIMIT_A = 16.0
POWER_LIMIT_W = 3500.0
# JSON-RPC error codes Shelly answers with.
INVALID_ARGUMENT = -103
NO_HANDLER = 404


class ShellyGen2(Dialect):
    """A Shelly Gen2/Gen3 switch with power metering, one switch component per port."""

    profile_id = "shelly-gen2"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device_id = self.device_topic.replace("/", "-")
        self._sources = ["init"] * self.port_count
        self._published: dict[int, dict[str, Any]] = {}

    def availability(self, online: bool) -> Outgoing:
        """``<id>/online`` = true / false, retained."""
        return Outgoing(f"{self.device_topic}/online", b"true" if online else b"false",
                        retain=True)

    def command_filters(self) -> list[str]:
        """``<id>/rpc``, and ``<id>/command`` (``status_update``)."""
        return [f"{self.device_topic}/rpc", f"{self.device_topic}/command"]

    def handle_command(self, topic: str, payload: bytes, relays: Relays) -> list[Outgoing]:
        """JSON-RPC Switch.Set / Switch.Toggle / Switch.GetStatus; reply to ``<src>/rpc``.

        ``<id>/command`` ``status_update`` publishes the full status of every switch, as the
        device does (the daemon asks this before it declares a cut-off failed).
        """
        if topic == f"{self.device_topic}/command":
            if payload.strip() != b"status_update":
                msg = f"unknown command {payload[:40]!r} (known: status_update)"
                raise SimCommandError(msg)
            return self.connected(relays.report())
        try:
            frame: Any = json.loads(payload)
        except ValueError as err:
            msg = f"not JSON: {err}"
            raise SimCommandError(msg) from None
        if not isinstance(frame, dict) or not isinstance(frame.get("method"), str):
            msg = f"not a JSON-RPC frame: {payload[:80]!r}"
            raise SimCommandError(msg)
        src = frame.get("src")
        params: dict[str, Any] = frame["params"] if isinstance(frame.get("params"), dict) else {}
        try:
            result = self._call(frame["method"], params, relays)
        except SimCommandError as err:
            code = err.args[1] if len(err.args) > 1 else INVALID_ARGUMENT
            body: dict[str, Any] = {"error": {"code": code, "message": err.args[0]}}
        else:
            body = {"result": result}
        if not isinstance(src, str) or not src:
            return []  # nobody to answer to
        reply = {"id": frame.get("id"), "src": self.device_id, "dst": src, **body}
        return [Outgoing(f"{src}/rpc", dumps(reply))]

    def _call(self, method: str, params: dict[str, Any], relays: Relays) -> dict[str, Any]:
        if method not in ("Switch.Set", "Switch.Toggle", "Switch.GetStatus"):
            raise SimCommandError(f"No handler for {method}", NO_HANDLER)
        switch = params.get("id")
        if isinstance(switch, bool) or not isinstance(switch, int) \
                or not 0 <= switch < self.port_count:
            raise SimCommandError("id: invalid argument", INVALID_ARGUMENT)
        port = switch + 1
        if method == "Switch.GetStatus":
            return self._status(relays.report(), port)
        if method == "Switch.Toggle":
            return {"was_on": relays.switch(port, None, "MQTT")}
        on = params.get("on")
        if not isinstance(on, bool):
            raise SimCommandError("on: invalid argument", INVALID_ARGUMENT)
        return {"was_on": relays.switch(port, on, "MQTT")}

    def telemetry(self, report: PostReport) -> list[Outgoing]:
        """Per switch: a NotifyStatus with what changed, then the full status."""
        out: list[Outgoing] = []
        for port in report.ports:
            status = self._status(report, port.port)
            before = self._published.get(port.port, {})
            delta = {k: v for k, v in status.items() if before.get(k) != v or k == "id"}
            if "errors" in before and "errors" not in status:
                delta["errors"] = []
            self._published[port.port] = status
            if len(delta) > 1:
                out.append(self._notify(report.ts, port.port, delta))
            out.append(self._full(status, port.port))
        return out

    def switched(self, report: PostReport, port: int, source: str) -> list[Outgoing]:
        """NotifyStatus with output (and errors) at once, then the full status."""
        self._sources[port - 1] = source
        status = self._status(report, port)
        delta = {"id": port - 1, "output": status["output"], "source": source}
        if "errors" in status:
            delta["errors"] = status["errors"]
        self._published[port] = status
        return [self._notify(report.ts, port, delta), self._full(status, port)]

    def garbage_topic(self) -> str:
        """``<id>/status/switch:0``."""
        return f"{self.device_topic}/status/switch:0"

    def connected(self, report: PostReport) -> list[Outgoing]:
        """The full status of every switch (status_ntf on)."""
        return [self._full(self._status(report, p.port), p.port) for p in report.ports]

    def own_protection(self, port: PortReport) -> str | None:
        """``overcurrent`` above current_limit, ``overpower`` above power_limit."""
        if _over(port.current_a, CURRENT_LIMIT_A):
            return "overcurrent"
        if _over(port.power_w, POWER_LIMIT_W):
            return "overpower"
        return None

    def _status(self, report: PostReport, port: int) -> dict[str, Any]:
        p = report.port(port)
        power = p.power_w
        per_minute = round(power * 1000 / 60, 3) if _finite(power) and power > 0 else 0.0
        status: dict[str, Any] = {
            "id": port - 1, "source": self._sources[port - 1], "output": p.on, "apower": power,
            "voltage": p.voltage_v, "current": p.current_a, "pf": round(p.power_factor, 2),
            "aenergy": {"total": round(p.energy_kwh * 1000, 3),
                        "by_minute": [per_minute] * 3, "minute_ts": int(report.ts // 60 * 60)},
            "temperature": {"tC": p.temp_c, "tF": round(p.temp_c * 9 / 5 + 32, 1)},
        }
        if p.device_error:
            status["errors"] = [p.device_error]
        return status

    def _notify(self, ts: float, port: int, delta: dict[str, Any]) -> Outgoing:
        params = {"ts": round(ts, 2), f"switch:{port - 1}": delta}
        frame = {"src": self.device_id, "dst": f"{self.device_topic}/events",
                 "method": "NotifyStatus", "params": params}
        return Outgoing(f"{self.device_topic}/events/rpc", dumps(frame))

    def _full(self, status: dict[str, Any], port: int) -> Outgoing:
        return Outgoing(f"{self.device_topic}/status/switch:{port - 1}", dumps(status))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _over(value: Any, limit: float) -> bool:
    return _finite(value) and value > limit
