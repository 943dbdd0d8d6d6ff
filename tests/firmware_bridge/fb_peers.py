"""Real peers for the serial bridge tests: a pty "RS-485 line" and pymodbus's own RTU server."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty
from pathlib import Path

from pymodbus.client import ModbusSerialClient
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

BLOCK = 0x200  # registers/bits each simulated device holds; addresses above answer "illegal"


def _pty() -> tuple[int, int]:
    master, slave = os.openpty()
    # Raw before anyone opens the slave: a cooked pty would echo and translate bytes.
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave


class PtyLine:
    """The wire: the server end and the client end are two ptys, joined by a relay thread.

    The client opens `path`, a symlink like a udev by-id name, so the "adapter" can vanish
    (`unplug`) and come back at the same path on a new pty (`replug`). Faults are injected on
    the way from the server to the client.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "ttyUSB-rs485"
        self._server_master, self._server_slave = _pty()
        self.server_name = os.ttyname(self._server_slave)
        self._client_master: int | None = None
        self._client_slave: int | None = None
        self._lock = threading.Lock()
        self._truncate: int | None = None
        self._corrupt = False
        self._delay_s: float | None = None
        self.delayed_delivered = threading.Event()
        self._stop_r, self._stop_w = os.pipe()
        self.replug()
        self._thread = threading.Thread(target=self._run, name="pty-line", daemon=True)
        self._thread.start()

    def replug(self) -> None:
        master, slave = _pty()
        with self._lock:
            self._client_master, self._client_slave = master, slave
        tmp = self.path.with_suffix(".tmp")
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.path)

    def unplug(self) -> None:
        with self._lock:
            master, slave = self._client_master, self._client_slave
            self._client_master = self._client_slave = None
        self.path.unlink()
        if master is not None:
            os.close(master)
        if slave is not None:
            os.close(slave)

    def inject(self, data: bytes) -> None:
        """Write bytes onto the line towards the client (noise, a stray frame)."""
        with self._lock:
            if self._client_master is not None:
                os.write(self._client_master, data)

    def wait_readable(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` bytes wait at the client end (the kernel hands pty bytes on
        asynchronously: a write is not readable at once on a loaded machine)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                slave = self._client_slave
                waiting = (struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0" * 4))[0]
                           if slave is not None else 0)
            if waiting >= count:
                return True
            time.sleep(0.005)
        return False

    def truncate_next(self, keep: int) -> None:
        self._truncate = keep

    def corrupt_next(self) -> None:
        self._corrupt = True

    def delay_next(self, seconds: float) -> None:
        self.delayed_delivered.clear()
        self._delay_s = seconds

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._server_master, self._server_slave, self._stop_r, self._stop_w):
            os.close(fd)
        with contextlib.suppress(OSError):
            self.unplug()

    def _to_client(self, data: bytes) -> None:
        if self._truncate is not None:
            data, self._truncate = data[: self._truncate], None
        if self._corrupt:
            data, self._corrupt = data[:3] + bytes([data[3] ^ 0x55]) + data[4:], False
        if self._delay_s is not None:
            delay, self._delay_s = self._delay_s, None

            def late() -> None:
                time.sleep(delay)
                self.inject(data)
                self.delayed_delivered.set()

            threading.Thread(target=late, daemon=True).start()
            return
        self.inject(data)

    def _run(self) -> None:
        while True:
            with self._lock:
                client = self._client_master
            fds = [self._stop_r, self._server_master] + ([client] if client is not None else [])
            readable, _, _ = select.select(fds, [], [], 0.05)
            if self._stop_r in readable:
                return
            for fd in readable:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue  # the client end was unplugged or nobody holds it open
                if fd == self._server_master:
                    self._to_client(data)
                else:
                    os.write(self._server_master, data)


class ModbusPeer:
    """pymodbus's own RTU server on the line's server end, one simulated device per slave."""

    def __init__(self, line: PtyLine, slaves: list[int]) -> None:
        self.requests: list[tuple[int, int]] = []  # (slave, function code) seen by the server
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: ModbusSerialServer | None = None
        devices = [
            SimDevice(
                id=slave,
                simdata=(
                    [SimData(0, values=[False] * BLOCK, datatype=DataType.BITS)],
                    [SimData(0, values=[False] * BLOCK, datatype=DataType.BITS)],
                    [SimData(0, values=[0] * BLOCK, datatype=DataType.REGISTERS)],
                    [SimData(0, values=[0] * BLOCK, datatype=DataType.REGISTERS)],
                ),
            )
            for slave in slaves
        ]
        self._thread = threading.Thread(
            target=self._run, args=(line.server_name, devices), name="modbus-peer", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            msg = "pymodbus server did not start"
            raise RuntimeError(msg)

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:  # noqa: FBT001
        if not sending:
            self.requests.append((pdu.dev_id, pdu.function_code))
        return pdu

    def _run(self, port: str, devices: list[SimDevice]) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._server = ModbusSerialServer(
                devices, port=port, baudrate=19200, trace_pdu=self._trace_pdu
            )
            await self._server.serve_forever(background=True)
            self._ready.set()
            await self._server.serving

        self._loop.run_until_complete(main())

    def _call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)  # type: ignore[arg-type]

    def set_registers(self, slave: int, function: int, address: int, values: list[int]) -> None:
        fc = 16 if function == 3 else function  # input registers are written through fc 4's block
        self._call(self._server.async_setValues(slave, fc, address, values))  # type: ignore[union-attr]

    def set_value(
        self,
        slave: int,
        function: int,
        address: int,
        value: float,
        kind: str,
        word_order: str = "big",
    ) -> None:  # noqa: PLR0913
        data_type = getattr(ModbusSerialClient.DATATYPE, kind)
        words = ModbusSerialClient.convert_to_registers(value, data_type, word_order=word_order)  # type: ignore[arg-type]
        self.set_registers(slave, function, address, words)

    def set_coils(self, slave: int, address: int, values: list[bool]) -> None:
        self._call(self._server.async_setValues(slave, 5, address, values))  # type: ignore[union-attr]

    def coils(self, slave: int, address: int, count: int) -> list[bool]:
        return list(self._call(self._server.async_getValues(slave, 1, address, count)))  # type: ignore[union-attr, arg-type]

    def stop(self) -> None:
        if self._server is not None:
            self._call(self._server.shutdown())
        self._thread.join(timeout=5)
        self._loop.close()
