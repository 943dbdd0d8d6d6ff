"""Fixtures of the serial bridge tests: the pty line, pymodbus's server, the shipped maps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fb_peers import ModbusPeer, PtyLine

from firmware_bridge import RegisterMap, load_register_map

PROFILES = Path(__file__).resolve().parents[2] / "device_profiles" / "serial"


@pytest.fixture
def line(tmp_path: Path) -> Iterator[PtyLine]:
    wire = PtyLine(tmp_path)
    yield wire
    wire.close()


@pytest.fixture
def peer(line: PtyLine) -> Iterator[ModbusPeer]:
    server = ModbusPeer(line, slaves=[1, 2])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def post_map() -> RegisterMap:
    return load_register_map(PROFILES / "ebike-post-10.yaml")


@pytest.fixture(scope="session")
def pzem_map() -> RegisterMap:
    return load_register_map(PROFILES / "pzem-004t-v3.yaml")


@pytest.fixture(scope="session")
def sdm_map() -> RegisterMap:
    return load_register_map(PROFILES / "eastron-sdm120.yaml")
