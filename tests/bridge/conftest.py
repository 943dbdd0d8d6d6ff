"""Fixtures of the bridge tests: a pty line with pymodbus's server on it, a DIY board, a bridge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.peers import BridgeThread, DiyBoard, MutableLine
from tests.broker.harness import Broker
from tests.edge.mqtt_probe import Probe
from tests.firmware_bridge.fb_peers import ModbusPeer

# The bridge does not read schedules; the site file's schedule paths would not resolve in tmp.
NO_SCHEDULES = {"files": []}
POLL_S = 0.1
OFFLINE_AFTER = 2


@pytest.fixture
def line(tmp_path: Path) -> Iterator[MutableLine]:
    wire = MutableLine(tmp_path)
    yield wire
    wire.close()


@pytest.fixture
def peer(line: MutableLine) -> Iterator[ModbusPeer]:
    server = ModbusPeer(line, slaves=[1, 2])
    yield server
    server.stop()


@pytest.fixture
def diy(tmp_path: Path) -> Iterator[DiyBoard]:
    board = DiyBoard(tmp_path)
    yield board
    board.close()


def modbus_section(port: Path | str, **overrides: Any) -> dict[str, Any]:
    """A bridge: section with posts P01 (slave 1) and P02 (slave 2, by its Chinese name)."""
    section: dict[str, Any] = {
        "offline_after_polls": OFFLINE_AFTER,
        "buses": {"rs485": {
            "port": str(port), "baudrate": 19200, "timeout_s": 0.2,
            "devices": {
                "p01_board": {"post": "P01", "profile": "ebike-post-10", "slave": 1,
                              "poll_interval_s": POLL_S},
                "p02_board": {"post": "2号充电桩", "profile": "ebike-post-10", "slave": 2,
                              "poll_interval_s": POLL_S},
            }}},
    }
    section.update(overrides)
    return section


@pytest.fixture
def probe(broker: Broker, site_id: str) -> Iterator[Probe]:
    watcher = Probe(broker, f"gridedge/{site_id}/#")
    yield watcher
    watcher.close()


@pytest.fixture
def start_bridge() -> Iterator[Callable[[Path], BridgeThread]]:
    started: list[BridgeThread] = []

    def start(config: Path) -> BridgeThread:
        bridge = BridgeThread(config)
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.close()
