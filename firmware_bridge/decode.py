"""Register words to typed, scaled, plausibility-checked values, assembled into a DeviceReading."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pymodbus.client import ModbusSerialClient

from firmware_bridge.const import CIRCUIT_KEYS, PLAUSIBLE_RANGES, CanonicalKey
from firmware_bridge.planner import ReadRequest
from firmware_bridge.readings import FAULT_SENSOR_INVALID, DeviceReading, PortReading
from firmware_bridge.registers import Order, RegisterPoint, RegisterType

_DATATYPE = ModbusSerialClient.DATATYPE
_PYMODBUS_TYPES = {
    RegisterType.U16: _DATATYPE.UINT16,
    RegisterType.S16: _DATATYPE.INT16,
    RegisterType.U32: _DATATYPE.UINT32,
    RegisterType.S32: _DATATYPE.INT32,
    RegisterType.F32: _DATATYPE.FLOAT32,
}


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def decode_point(point: RegisterPoint, raw: Sequence[int] | Sequence[bool]) -> list[float | bool]:
    """Decode the point's values from the raw words (or bits) that start at its address.

    Registers go through pymodbus's `convert_from_registers` (word order included); a device
    with swapped bytes inside each register gets them swapped back first. Scale is applied;
    plausibility is checked separately (`check_value`).
    """
    if point.type is None:
        return [bool(bit) for bit in raw[: point.count]]
    words = [int(w) for w in raw[: point.span]]
    if point.byte_order is Order.LITTLE:
        words = [_swap_bytes(w) for w in words]
    values: list[float | bool] = []
    for i in range(point.count):
        chunk = words[i * point.width : (i + 1) * point.width]
        number = ModbusSerialClient.convert_from_registers(
            chunk, _PYMODBUS_TYPES[point.type], word_order=point.word_order.value
        )
        if not isinstance(number, int | float):  # pragma: no cover - pymodbus contract
            msg = f"pymodbus returned {number!r} for one {point.type} value"
            raise TypeError(msg)
        if point.key is CanonicalKey.ON:
            values.append(number != 0)
        else:
            values.append(number * point.scale)
    return values


def check_value(
    key: CanonicalKey,
    value: float | bool,  # noqa: FBT001
    low: float | None = None,
    high: float | None = None,
) -> str | None:
    """Return why `value` is implausible for `key`, or None if it may be published."""
    if isinstance(value, bool):
        return None
    if not math.isfinite(value):
        return str(value)
    default_low, default_high = PLAUSIBLE_RANGES[key]
    low = default_low if low is None else low
    high = default_high if high is None else high
    if value < low or value > high:
        return f"{value:g} outside {low:g}..{high:g}"
    return None


class ReadingBuilder:
    """Collects checked values for one device and builds a `DeviceReading`.

    A value that fails `check_value` is left out and listed in `invalid`; its port is marked
    with the `sensor_invalid` fault so that nobody reads the missing value as 0 A.
    """

    def __init__(self, *, post: str, device: str, ts: float, meter_port: int | None = None) -> None:
        """Start an empty reading; `meter_port` assigns a single-circuit meter to a port."""
        self._post = post
        self._device = device
        self._ts = ts
        self._meter_port = meter_port
        self._post_values: dict[str, Any] = {}
        self._ports: dict[int, dict[str, Any]] = {}
        self._invalid: list[str] = []

    def add(
        self,
        key: CanonicalKey,
        port: int | None,
        value: float | bool,  # noqa: FBT001
        low: float | None = None,
        high: float | None = None,
    ) -> bool:
        """Check and store one value; return False if it was dropped as implausible."""
        if port is None and self._meter_port is not None and key in CIRCUIT_KEYS:
            port = self._meter_port
        problem = check_value(key, value, low, high)
        if problem is not None:
            where = "post" if port is None else f"port {port}"
            self._invalid.append(f"{where} {key}: {problem}")
            if port is not None:
                self._ports.setdefault(port, {})["fault"] = FAULT_SENSOR_INVALID
            return False
        target = self._post_values if port is None else self._ports.setdefault(port, {})
        target[key.value] = value if isinstance(value, bool) else float(value)
        return True

    def add_extra(self, port: int, name: str, value: str | None) -> None:
        """Store a per-port text field (`status`, `fault`) reported by the device itself."""
        if value is not None:
            self._ports.setdefault(port, {}).setdefault(name, value)

    def add_request(self, request: ReadRequest, raw: Sequence[int] | Sequence[bool]) -> None:
        """Decode every point of one answered read request."""
        for point in request.points:
            offset = point.address - request.address
            values = decode_point(point, raw[offset : offset + point.span])
            for i, value in enumerate(values):
                self.add(point.key, point.port_of(i), value, point.min, point.max)

    @property
    def invalid(self) -> tuple[str, ...]:
        """Descriptions of the values dropped so far."""
        return tuple(self._invalid)

    def build(self) -> DeviceReading:
        """Return the reading."""
        ports = tuple(PortReading(port=n, **self._ports[n]) for n in sorted(self._ports))
        return DeviceReading(
            post=self._post,
            device=self._device,
            ts=self._ts,
            ports=ports,
            invalid=tuple(self._invalid),
            **self._post_values,
        )
