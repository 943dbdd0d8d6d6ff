"""`gridedge bridge` with a DIY JSON-lines board on a pty → the bridge → mosquitto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_bridge import FaultReason
from tests.bridge.conftest import NO_SCHEDULES
from tests.bridge.peers import BridgeThread, DiyBoard
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe


def _section(board: DiyBoard) -> dict:
    return {"offline_after_polls": 2, "buses": {"diy": {
        "port": str(board.path), "protocol": "jsonlines", "baudrate": 115200, "timeout_s": 0.2,
        "devices": {"esp32": {"post": "P03", "poll_interval_s": 0.3}}}}}


def _telemetry(probe: Probe, site: str) -> list[dict]:
    topic = f"gridedge/{site}/posts/P03/telemetry"
    return [json.loads(p) for t, p, _ in list(probe.messages) if t == topic]


@pytest.fixture
def bridge(diy: DiyBoard, broker: Broker, write_config: Callable[..., Path],
           start_bridge: Callable[[Path], BridgeThread]) -> BridgeThread:
    return start_bridge(write_config(broker, schedules=NO_SCHEDULES, bridge=_section(diy)))


def test_board_lines_are_published_and_a_cutoff_reaches_the_board(
        bridge: BridgeThread, diy: DiyBoard, probe: Probe, site_id: str) -> None:
    """Test that the board's lines become telemetry of its post and port_off reaches the board,
    whose confirming line is published at once."""
    avail = f"gridedge/{site_id}/posts/P03/availability"
    assert probe.wait_for(lambda _m: probe.last(avail) == "online")
    assert probe.wait_for(lambda _m: any(
        [p["current_a"] for p in t["ports"]] == [1.25, 2.5, 3.75, 5.0]
        for t in _telemetry(probe, site_id)))

    probe.publish(f"gridedge/{site_id}/posts/P03/cmd",
                  json.dumps({"id": "c9", "action": "port_off", "port": 2, "reason": "overpower"}))

    assert probe.wait_for(lambda _m: any(t["ports"][1] == {"port": 2, "current_a": 0.0,
                                                            "on": False}
                                         for t in _telemetry(probe, site_id)))
    assert diy.commands == [{"cmd": "port_off", "port": 2}]
    assert diy.ports[2] is False


def test_garbage_lines_are_dropped_and_a_silent_board_goes_offline_and_back(
        bridge: BridgeThread, diy: DiyBoard, probe: Probe, site_id: str) -> None:
    """Test that noise and cut lines never become readings, and a board that stops printing
    goes offline after N intervals and comes back by itself."""
    avail = f"gridedge/{site_id}/posts/P03/availability"
    assert probe.wait_for(lambda _m: probe.last(avail) == "online")
    for noise in (b"\x00\xff\x13garbage\n", b'{"ts": 1, "voltage_v": 2', b"\n",
                  b'{"ports": [{"port": 1, "current_a": "NaN"}]}\n', b"[1, 2]\n"):
        diy.noise(noise)
        count = len(_telemetry(probe, site_id))
        assert probe.wait_for(lambda _m, n=count: len(_telemetry(probe, site_id)) > n)
    for payload in _telemetry(probe, site_id):
        assert [p["current_a"] for p in payload["ports"]] == [1.25, 2.5, 3.75, 5.0]
        assert payload["voltage_v"] == 221.0
    counters = bridge.runner.counters
    assert counters.get("diy/esp32", FaultReason.BAD_JSON) >= 2
    assert counters.get("diy/esp32", FaultReason.BAD_FIELDS) >= 1

    diy.talking = False
    assert probe.wait_for(lambda _m: probe.last(avail) == "offline")
    diy.talking = True
    assert probe.wait_for(lambda _m: probe.last(avail) == "online")
    assert [p for t, p, _r in probe.messages if t == avail] == ["online", "offline", "online"]
    assert bridge.alive()
