"""Benchmark: one full poll cycle of 10 posts on a 9600-baud RS-485 line vs the wire-time bound.

Run: .venv/bin/python bench/bridge.py [--baud 9600] [--posts 10] [--cycles 5]

The line is a pty pair joined by a relay thread that models the wire: half duplex (one frame on
the line at a time) and each frame delivered only after its bytes' time on the wire
(bytes x 10 bits / baud, 8N1). pymodbus's own RTU server holds 10 posts (map ebike-post-10,
slaves 1..10). Measured:
  * library cycle: `ModbusBus.poll` of each post in turn (firmware_bridge alone);
  * bridge cycle: the `gridedge bridge` line task (`ModbusWorker`: schedule, worker threads,
    readings handed over) polling each post once.
Lower bound: the bytes of every request and reply of one cycle (planned by the library) on the
wire, without gaps or turnaround. Prints both cycle times (median) and their ratio to the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import statistics
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.bridge import ModbusWorker, PostAvailability
from firmware_bridge import (
    DeviceReading,
    ModbusBus,
    ModbusDevice,
    load_register_map,
    plan_reads,
)
from tests.firmware_bridge.fb_peers import ModbusPeer

READ_REQUEST_BYTES = 8  # slave, function, address (2), count (2), CRC (2)
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


def _pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


class ModelledWire:
    """Client pty <-> server pty; each chunk waits its wire time, one direction at a time."""

    def __init__(self, baud: int, folder: Path) -> None:
        self.byte_s = BITS_PER_BYTE / baud
        self._client_master, self._client_slave = _pty()
        self._server_master, self._server_slave = _pty()
        self.server_name = os.ttyname(self._server_slave)
        self.path = folder / "ttyRS485"
        self.path.symlink_to(os.ttyname(self._client_slave))
        self.wire_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pairs = {self._client_master: self._server_master,
                 self._server_master: self._client_master}
        while not self._stop.is_set():
            readable, _, _ = select.select(list(pairs), [], [], 0.05)
            for fd in readable:
                data = os.read(fd, 4096)
                # A frame takes its bytes' time to cross; the medium carries one frame at a time.
                time.sleep(len(data) * self.byte_s)
                self.wire_bytes += len(data)
                os.write(pairs[fd], data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Sink:
    def __init__(self) -> None:
        self.readings: list[DeviceReading] = []
        self.done = asyncio.Event()
        self.expected = 0

    def reading(self, reading: DeviceReading, *, confirm: bool) -> None:
        self.readings.append(reading)
        if len(self.readings) >= self.expected:
            self.done.set()

    def availability(self, post: str, online: bool) -> None:
        pass


async def _bridge_cycle(bus: ModbusBus, devices: list[ModbusDevice]) -> float:
    sink = _Sink()
    sink.expected = len(devices)
    availability = PostAvailability({d.post: [d.name] for d in devices}, 3)
    worker = ModbusWorker("bench", bus, devices, [3600.0] * len(devices), sink, availability)
    start = time.perf_counter()
    task = asyncio.create_task(worker.run())
    await sink.done.wait()
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if worker.failed_polls:
        print(f"  warning: {worker.failed_polls} failed polls in this cycle")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--posts", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()

    post_map = load_register_map(REPO / "device_profiles/serial/ebike-post-10.yaml")
    requests = plan_reads(post_map)
    cycle_bytes = args.posts * sum(READ_REQUEST_BYTES + r.response_length() for r in requests)
    bound_s = cycle_bytes * BITS_PER_BYTE / args.baud

    with tempfile.TemporaryDirectory() as tmp:
        wire = ModelledWire(args.baud, Path(tmp))
        slaves = list(range(1, args.posts + 1))
        peer = ModbusPeer(wire, slaves=slaves)  # type: ignore[arg-type]
        for slave in slaves:
            peer.set_registers(slave, 3, 0x0000, [2204, 315])
            peer.set_registers(slave, 3, 0x0010, [100 + slave] * 10)
            peer.set_coils(slave, 0, [True] * 10)
        devices = [ModbusDevice(name=f"post-{s}", post=f"P{s:02d}", slave=s, register_map=post_map)
                   for s in slaves]
        bus = ModbusBus(str(wire.path), baudrate=args.baud, timeout_s=1.0)
        try:
            bus.open()
            for device in devices:  # warm-up: open the port, plan, first frames
                bus.poll(device)
            library, bridge = [], []
            for _ in range(args.cycles):
                before = wire.wire_bytes
                start = time.perf_counter()
                for device in devices:
                    bus.poll(device)
                library.append(time.perf_counter() - start)
                measured_bytes = wire.wire_bytes - before
                bridge.append(asyncio.run(_bridge_cycle(bus, devices)))
        finally:
            bus.close()
            peer.stop()
            wire.close()

    lib_s, bridge_s = statistics.median(library), statistics.median(bridge)
    print(f"{args.posts} posts x {len(requests)} requests (map ebike-post-10) at {args.baud} baud")
    print(f"bytes on the wire per cycle: {cycle_bytes} planned, {measured_bytes} relayed")
    print(f"wire-time lower bound:  {bound_s * 1000:8.1f} ms")
    print(f"library cycle (median): {lib_s * 1000:8.1f} ms   ratio {lib_s / bound_s:.3f}")
    print(f"bridge cycle (median):  {bridge_s * 1000:8.1f} ms   ratio {bridge_s / bound_s:.3f}")
    print(f"per-request overhead beyond the wire: "
          f"{(bridge_s - bound_s) / (args.posts * len(requests)) * 1000:.1f} ms "
          f"(3.5-char gap = {3.5 * BITS_PER_BYTE / args.baud * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
