"""Batching of a register map's points into as few Modbus read requests as the device allows."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from firmware_bridge.registers import FunctionCode, RegisterMap, RegisterPoint


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read request: a function code, a start address, a count and the points it serves."""

    function: FunctionCode
    address: int
    count: int
    points: tuple[RegisterPoint, ...]

    @property
    def end(self) -> int:
        """First address after the request."""
        return self.address + self.count

    def response_length(self) -> int:
        """Bytes of the RTU response frame: address, function, byte count, data, CRC."""
        data = (self.count + 7) // 8 if self.function.is_bits else 2 * self.count
        return 5 + data


@lru_cache(maxsize=256)
def plan_reads(register_map: RegisterMap) -> tuple[ReadRequest, ...]:
    """Group the map's points into read requests.

    Points of one function code are sorted by address and merged into one request while the
    hole between them is at most `max_gap` and the request stays within `max_read_registers`
    (or `max_read_bits` for coils and discrete inputs). A point is never split over two
    requests: a value's registers must come from one response to be consistent.

    Returns:
        The requests, ordered by function code and address.
    """
    requests: list[ReadRequest] = []
    by_function: dict[FunctionCode, list[RegisterPoint]] = {}
    for point in register_map.read_points():
        by_function.setdefault(point.function, []).append(point)
    for function in sorted(by_function):
        limit = register_map.max_read_bits if function.is_bits else register_map.max_read_registers
        start = end = -1
        batch: list[RegisterPoint] = []
        for point in sorted(by_function[function], key=lambda p: p.address):
            fits = (
                batch and point.address - end <= register_map.max_gap and point.end - start <= limit
            )
            if fits:
                batch.append(point)
                end = max(end, point.end)
                continue
            if batch:
                requests.append(ReadRequest(function, start, end - start, tuple(batch)))
            batch, start, end = [point], point.address, point.end
        if batch:
            requests.append(ReadRequest(function, start, end - start, tuple(batch)))
    return tuple(requests)
