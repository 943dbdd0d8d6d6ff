"""Rules across the points of one register map, each problem reported at its own location."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic_core import InitErrorDetails, PydanticCustomError

from firmware_bridge.const import CanonicalKey

if TYPE_CHECKING:
    from firmware_bridge.registers import RegisterMap

Loc = tuple[str | int, ...]


class _Problems(list[InitErrorDetails]):
    def add(self, loc: Loc, kind: str, msg: str, value: object) -> None:
        self.append(InitErrorDetails(type=PydanticCustomError(kind, msg), loc=loc, input=value))


def map_problems(register_map: RegisterMap) -> list[InitErrorDetails]:
    """Return every cross-point problem of the map (empty if it is sound)."""
    problems = _Problems()
    if not register_map.points and not register_map.relays:
        problems.add(("points",), "empty_map", "a map needs at least one point or relay", [])
    _check_points(register_map, problems)
    relay_ports = _check_relays(register_map, problems)
    _check_duplicates(register_map, relay_ports, problems)
    _check_overlaps(register_map, problems)
    return list(problems)


def _check_points(register_map: RegisterMap, problems: _Problems) -> None:
    for i, point in enumerate(register_map.points):
        last_port = None if point.port is None else point.port + point.count - 1
        if last_port is not None and last_port > register_map.ports:
            problems.add(
                ("points", i, "port"),
                "port_range",
                f"port {last_port} is above ports: {register_map.ports}",
                point.port,
            )
        limit = (
            register_map.max_read_bits
            if point.function.is_bits
            else register_map.max_read_registers
        )
        if point.span > limit:
            problems.add(
                ("points", i, "count"),
                "too_long",
                f"the point covers {point.span} addresses, more than one read may fetch ({limit})",
                point.count,
            )


def _check_relays(register_map: RegisterMap, problems: _Problems) -> dict[int, int]:
    relay_ports: dict[int, int] = {}
    for i, block in enumerate(register_map.relays):
        if block.count > register_map.max_read_bits:
            problems.add(
                ("relays", i, "count"),
                "too_long",
                f"{block.count} coils are more than one read may fetch "
                f"({register_map.max_read_bits})",
                block.count,
            )
        for port in block.ports:
            if port > register_map.ports:
                problems.add(
                    ("relays", i, "port"),
                    "port_range",
                    f"port {port} is above ports: {register_map.ports}",
                    block.port,
                )
            if port in relay_ports:
                problems.add(
                    ("relays", i, "port"),
                    "duplicate_relay",
                    f"port {port} already has a relay in relays[{relay_ports[port]}]",
                    block.port,
                )
            relay_ports.setdefault(port, i)
    return relay_ports


def _check_duplicates(
    register_map: RegisterMap, relay_ports: dict[int, int], problems: _Problems
) -> None:
    seen: dict[tuple[CanonicalKey, int | None], int] = {}
    for i, point in enumerate(register_map.points):
        for v in range(point.count):
            port = point.port_of(v)
            if point.key is CanonicalKey.ON and port in relay_ports:
                problems.add(
                    ("points", i, "key"),
                    "duplicate_key",
                    f"port {port} state is already read from its relay coil",
                    point.key.value,
                )
            if (point.key, port) in seen:
                where = "the post" if port is None else f"port {port}"
                problems.add(
                    ("points", i, "key"),
                    "duplicate_key",
                    f"{point.key} of {where} is already read by points[{seen[(point.key, port)]}]",
                    point.key.value,
                )
            seen.setdefault((point.key, port), i)


def _check_overlaps(register_map: RegisterMap, problems: _Problems) -> None:
    # Relay coils are read with function 1 too, so they share the coil address space.
    spans: list[tuple[int, int, int, Loc]] = [
        (int(p.function), p.address, p.end, ("points", i, "address"))
        for i, p in enumerate(register_map.points)
    ]
    spans += [
        (1, r.address, r.address + r.count, ("relays", i, "address"))
        for i, r in enumerate(register_map.relays)
    ]
    for a, (fc, start, end, loc) in enumerate(spans):
        for other_fc, other_start, other_end, other_loc in spans[:a]:
            if fc == other_fc and start < other_end and other_start < end:
                problems.add(
                    loc,
                    "overlap",
                    f"addresses {start}..{end - 1} (function {fc}) overlap "
                    f"{other_loc[0]}[{other_loc[1]}]",
                    start,
                )
