"""JSON-lines DIY boards: a simulated ESP32 board thread on a pty prints telemetry, takes commands."""

from __future__ import annotations

import json
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge import FaultReason, JsonLinesBoard, PortGoneError

TIMEOUT_S = 0.3


class SimBoard:
    """A 4-port DIY board: prints one JSON object per line, obeys port_on/port_off lines."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "ttyESP32"
        self.ports = {n: True for n in range(1, 5)}
        self.commands: list[dict[str, object]] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self.plug()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        tmp = self.path.with_suffix(".tmp")
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.path)

    def unplug(self) -> None:
        master, slave, self._master, self._slave = self._master, self._slave, None, None
        self.path.unlink()
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)

    def emit(self, data: bytes) -> None:
        if self._master is not None:
            os.write(self._master, data)

    def telemetry(self, **post: object) -> None:
        ports = [{"port": n, "current_a": 1.5 * n, "on": on} for n, on in self.ports.items()]
        self.emit(
            json.dumps({"ts": 1795855200.5, "voltage_v": 221.0, "ports": ports} | post).encode()
            + b"\n"
        )

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            master = self._master
            if master is None:
                time.sleep(0.01)
                continue
            try:
                readable, _, _ = select.select([master], [], [], 0.02)
                data = os.read(master, 1024) if readable else b""
            except OSError:
                continue
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = json.loads(line)
                self.commands.append(cmd)
                self.ports[cmd["port"]] = cmd["cmd"] == "port_on"
                self.telemetry()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._master is not None:
            self.unplug()


@pytest.fixture
def board(tmp_path: Path) -> Iterator[SimBoard]:
    sim = SimBoard(tmp_path)
    yield sim
    sim.close()


@pytest.fixture
def reader(board: SimBoard) -> Iterator[JsonLinesBoard]:
    with JsonLinesBoard(
        str(board.path),
        name="diy-1",
        post="p9",
        timeout_s=TIMEOUT_S,
        reopen_initial_s=0.05,
        reopen_max_s=0.2,
    ) as jl:
        yield jl


def test_telemetry_line_becomes_a_typed_reading(board: SimBoard, reader: JsonLinesBoard) -> None:
    """Test that one JSON line gives the post voltage and each port's current and relay state."""
    board.telemetry()
    (reading,) = reader.read_readings()
    assert reading.post == "p9"
    assert reading.ts == 1795855200.5
    assert reading.voltage_v == pytest.approx(221.0)
    assert [(p.port, p.current_a, p.on) for p in reading.ports] == [
        (1, 1.5, True),
        (2, 3.0, True),
        (3, 4.5, True),
        (4, 6.0, True),
    ]


def test_bad_lines_are_rejected_and_counted_and_good_lines_still_flow(
    board: SimBoard, reader: JsonLinesBoard
) -> None:
    """Test that garbage, a cut line, a wrong type and an oversized line are each counted, and the
    good line after them is read."""
    board.emit(b"\xff\xfe boot garbage\n")
    board.emit(b'{"ts": 1795855200, "ports": [{"port": 1, "curr\n')
    board.emit(b'{"voltage_v": "high"}\n')
    board.emit(b'{"pad": "' + b"x" * 5000 + b'"}\n')
    board.emit(b"[1, 2]\n")
    board.telemetry()
    readings: list = []
    for _ in range(10):
        readings += reader.read_readings()
        if readings:
            break
    assert len(readings) == 1
    assert readings[0].voltage_v == pytest.approx(221.0)
    counts = reader.counters.snapshot()["diy-1"]
    assert counts == {"bad_json": 2, "partial": 1, "bad_fields": 1, "oversized": 1}


def test_nan_and_negative_values_are_dropped(board: SimBoard, reader: JsonLinesBoard) -> None:
    """Test that NaN voltage and a negative port current are left out and flagged, never 0 A."""
    board.emit(b'{"voltage_v": NaN, "ports": [{"port": 2, "current_a": -3.0, "on": true}]}\n')
    (reading,) = reader.read_readings()
    assert reading.voltage_v is None
    port = reading.port(2)
    assert port is not None
    assert port.current_a is None
    assert port.on is True
    assert port.fault == "sensor_invalid"
    assert reader.counters.get("diy-1", FaultReason.INVALID_VALUE) == 2


def test_port_off_is_sent_and_confirmed_by_telemetry(
    board: SimBoard, reader: JsonLinesBoard
) -> None:
    """Test that set_relay sends {"cmd":"port_off","port":3} and returns True once the board shows it off."""
    assert reader.set_relay(3, on=False) is True
    assert board.commands == [{"cmd": "port_off", "port": 3}]
    assert board.ports[3] is False
    (kept,) = reader.read_readings()
    port3 = kept.port(3)
    assert port3 is not None
    assert port3.on is False


def test_unplugged_board_is_reopened(board: SimBoard, reader: JsonLinesBoard) -> None:
    """Test that a board whose USB port vanishes raises PortGoneError and is read again once back."""
    board.telemetry()
    assert len(reader.read_readings()) == 1
    board.unplug()
    with pytest.raises(PortGoneError):
        reader.read_readings()
    board.plug()
    readings: list = []
    for _ in range(100):
        try:
            board.telemetry()
            readings = reader.read_readings(timeout_s=0.05)
        except PortGoneError:
            time.sleep(0.02)
            continue
        if readings:
            break
    assert readings
    assert readings[0].voltage_v == pytest.approx(221.0)
    assert reader.reopen_count == 1
