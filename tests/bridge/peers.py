"""Far ends for the bridge tests: a Modbus line that can mute one slave, a DIY JSON-lines board,
and the bridge itself running in a thread of the test process."""

from __future__ import annotations

import asyncio
import json
import os
import select
import threading
import time
import tty
from pathlib import Path

from edge.bridge import BridgeRunner, load_bridge
from tests.firmware_bridge.fb_peers import PtyLine

__all__ = ["BridgeThread", "DiyBoard", "MutableLine", "fill_post"]


class MutableLine(PtyLine):
    """The pty line of firmware_bridge's tests, plus muting: a muted slave's answers are lost.

    pymodbus's server writes each answer frame in one write, so the first byte of what the
    relay reads is the answering slave's address.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.muted: set[int] = set()
        super().__init__(tmp_path)

    def _to_client(self, data: bytes) -> None:
        if data and data[0] in self.muted:
            return
        super()._to_client(data)


def fill_post(peer: object, slave: int, currents: list[float], *, on: bool = True) -> None:
    """Give a simulated 10-port post (map ebike-post-10) its voltage, currents and relays."""
    peer.set_registers(slave, 3, 0x0000, [2204, 315])  # type: ignore[attr-defined]  # 220.4 V, 31.5 °C
    peer.set_registers(slave, 3, 0x0010, [round(c * 100) for c in currents])  # type: ignore[attr-defined]
    peer.set_registers(slave, 3, 0x0020, [round(c * 220) for c in currents])  # type: ignore[attr-defined]
    peer.set_coils(slave, 0, [on] * 10)  # type: ignore[attr-defined]


class DiyBoard:
    """A 4-port ESP32-like board on a pty: prints a telemetry line every `period_s` while
    talking, switches ports on ``{"cmd": ...}`` lines and answers each with a line at once."""

    def __init__(self, tmp_path: Path, period_s: float = 0.1) -> None:
        self.path = tmp_path / "ttyACM-diy"
        self.period_s = period_s
        self.currents = {n: 1.25 * n for n in range(1, 5)}
        self.ports = dict.fromkeys(range(1, 5), True)
        self.commands: list[dict[str, object]] = []
        self.talking = True
        self._lock = threading.Lock()
        self._noise: list[bytes] = []
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self.path.symlink_to(os.ttyname(slave))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="diy-board", daemon=True)
        self._thread.start()

    def noise(self, data: bytes) -> None:
        """Send these bytes before the next telemetry line."""
        with self._lock:
            self._noise.append(data)

    def _line(self) -> bytes:
        with self._lock:
            ports = [{"port": n, "current_a": self.currents[n] if self.ports[n] else 0.0,
                      "on": self.ports[n]} for n in self.ports]
            noise, self._noise = b"".join(self._noise), []
        return noise + json.dumps({"ts": time.time(), "voltage_v": 221.0,
                                   "ports": ports}).encode() + b"\n"

    def _run(self) -> None:
        buf = b""
        next_at = time.monotonic()
        while not self._stop.is_set():
            readable, _, _ = select.select([self._master], [], [], 0.01)
            if readable:
                buf += os.read(self._master, 1024)
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                cmd = json.loads(raw)
                self.commands.append(cmd)
                with self._lock:
                    self.ports[int(cmd["port"])] = cmd["cmd"] == "port_on"
                os.write(self._master, self._line())
            if self.talking and time.monotonic() >= next_at:
                os.write(self._master, self._line())
                next_at = time.monotonic() + self.period_s

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._master)
        os.close(self._slave)


class BridgeThread:
    """`BridgeRunner` on its own event loop in a thread, as `gridedge bridge` runs it."""

    def __init__(self, config_path: Path) -> None:
        config, maps = load_bridge(config_path)
        self.runner = BridgeRunner(config, maps)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="bridge", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            msg = "the bridge did not start"
            raise RuntimeError(msg)

    def _main(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._started.set()
            await self.runner.run(self._stop)

        try:
            self._loop.run_until_complete(main())
        except BaseException as err:  # noqa: BLE001 - reported by alive()/close()
            self.error = err
        finally:
            self._loop.close()

    def alive(self) -> bool:
        """True while the runner runs and every line's task is still going."""
        return self._thread.is_alive() and all(not t.done() for t in self.runner._tasks)

    def close(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
