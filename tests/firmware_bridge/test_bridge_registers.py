"""Register-map validation, read planning and decoding (pure, no serial line)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from pymodbus.client import ModbusSerialClient

from firmware_bridge import (
    CanonicalKey,
    RegisterMap,
    RegisterPoint,
    decode_point,
    plan_reads,
)

DT = ModbusSerialClient.DATATYPE


def _map(points: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:  # noqa: ANN401
    return {
        "id": "t",
        "vendor": "v",
        "model": "m",
        "version": 1,
        "ports": 4,
        "points": points,
    } | extra


def _point(**fields: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"key": "current_a", "function": 3, "address": 0, "type": "u16"} | fields


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as err:
        RegisterMap.model_validate(data)
    return [(e["loc"], e["msg"]) for e in err.value.errors()]


def test_unknown_key_in_a_point_is_rejected_with_its_path() -> None:
    """Test that a typo such as 'scal' is reported at points[0].scal."""
    assert _errors(_map([_point(scal=0.1)])) == [
        (("points", 0, "scal"), "Extra inputs are not permitted")
    ]


def test_wrong_unit_names_the_canonical_one() -> None:
    """Test that current in mA is refused with the unit it must have."""
    assert _errors(_map([_point(unit="mA")])) == [
        (("points", 0), "Value error, unit of current_a must be 'A' (got 'mA')")
    ]


def test_register_point_needs_a_type() -> None:
    """Test that a holding-register point without a type says which types exist."""
    msgs = _errors(_map([_point(type=None)]))
    assert msgs == [
        (
            ("points", 0),
            "Value error, function codes 3 and 4 need a type (u16, s16, u32, s32 or f32)",
        )
    ]


def test_overlapping_points_are_reported_at_the_later_point() -> None:
    """Test that two points sharing a register are caught, naming both."""
    data = _map([_point(type="u32"), _point(key="power_w", address=1)])
    assert _errors(data) == [
        (("points", 1, "address"), "addresses 1..1 (function 3) overlap points[0]")
    ]


def test_port_above_the_post_port_count_is_rejected() -> None:
    """Test that ten per-port values on a 4-port map are refused at their port field."""
    assert _errors(_map([_point(count=10, port=1)])) == [
        (("points", 0, "port"), "port 10 is above ports: 4")
    ]


def test_relay_state_read_twice_is_rejected() -> None:
    """Test that an explicit 'on' point for a port that has a relay coil is a duplicate."""
    data = _map(
        [_point(key="on", function=1, type=None, port=2)],
        relays=[{"port": 1, "address": 0, "count": 4}],
    )
    assert _errors(data) == [
        (("points", 0, "key"), "port 2 state is already read from its relay coil"),
        (("relays", 0, "address"), "addresses 0..3 (function 1) overlap points[0]"),
    ]


def test_point_longer_than_one_read_is_rejected() -> None:
    """Test that a point no single request can fetch is refused."""
    data = _map([_point(type="u32", count=4, port=1)], max_read_registers=6)
    assert _errors(data) == [
        (("points", 0, "count"), "the point covers 8 addresses, more than one read may fetch (6)")
    ]


def test_planner_merges_within_gap_and_limit() -> None:
    """Test that points are merged across small gaps, split at the limit, and kept per function."""
    register_map = RegisterMap.model_validate(
        _map(
            [
                _point(address=0, key="voltage_v"),
                _point(address=3, key="current_a", count=4, port=1),  # gap of 2
                _point(address=20, key="power_w", count=4, port=1),  # gap of 13: new request
                _point(address=0, function=4, key="temp_c"),
            ],
            max_gap=2,
            max_read_registers=10,
            relays=[{"port": 1, "address": 8, "count": 4}],
        )
    )
    plan = [(int(r.function), r.address, r.count, len(r.points)) for r in plan_reads(register_map)]
    assert plan == [(1, 8, 4, 1), (3, 0, 7, 2), (3, 20, 4, 1), (4, 0, 1, 1)]


def test_planner_splits_at_max_registers() -> None:
    """Test that contiguous points beyond the device's per-request limit go in two requests."""
    register_map = RegisterMap.model_validate(
        _map(
            [_point(address=0, count=4, port=1), _point(address=4, key="power_w", count=4, port=1)],
            max_read_registers=5,
        )
    )
    assert [(r.address, r.count) for r in plan_reads(register_map)] == [(0, 4), (4, 4)]


@pytest.mark.parametrize(
    ("kind", "word_order", "byte_order", "value"),
    [
        ("u32", "little", "big", 3456.0),
        ("s32", "big", "big", -123456.0),
        ("f32", "big", "big", 230.25),
        ("f32", "little", "little", 49.5),
        ("s16", "big", "little", -300.0),
    ],
)
def test_decode_handles_word_and_byte_order(
    kind: str, word_order: str, byte_order: str, value: float
) -> None:
    """Test that values encoded by pymodbus in any word/byte order decode back, scaled."""
    types = {"u32": DT.UINT32, "s32": DT.INT32, "f32": DT.FLOAT32, "s16": DT.INT16}
    raw = value if kind == "f32" else int(value)
    words = ModbusSerialClient.convert_to_registers(raw, types[kind], word_order=word_order)  # type: ignore[arg-type]
    if byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    point = RegisterPoint.model_validate(
        _point(type=kind, word_order=word_order, byte_order=byte_order, scale=0.5)
        if kind != "s16"
        else _point(type=kind, byte_order=byte_order, scale=0.5)
    )
    assert decode_point(point, words) == [pytest.approx(value * 0.5)]
    assert point.key is CanonicalKey.CURRENT_A


def test_shipped_profiles_validate(
    post_map: RegisterMap, pzem_map: RegisterMap, sdm_map: RegisterMap
) -> None:
    """Test that the three shipped serial profiles load and plan as documented."""
    assert len(plan_reads(post_map)) == 2
    assert len(plan_reads(pzem_map)) == 1
    assert len(plan_reads(sdm_map)) == 6
    assert post_map.relay_address(10) == 9
    assert pzem_map.relay_address(1) is None
