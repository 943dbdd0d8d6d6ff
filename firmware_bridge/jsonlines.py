"""DIY boards (ESP32/Arduino) that print one canonical-telemetry JSON object per line."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Annotated, Any

import serial
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from firmware_bridge._backoff import ReopenBackoff
from firmware_bridge.const import (
    DEFAULT_TIMEOUT_S,
    JSONL_READ_CHUNK,
    MAX_LINE_BYTES,
    MAX_PORTS,
    REOPEN_INITIAL_S,
    REOPEN_MAX_S,
    CanonicalKey,
)
from firmware_bridge.counters import FaultCounters, FaultReason
from firmware_bridge.decode import ReadingBuilder
from firmware_bridge.errors import PortGoneError
from firmware_bridge.readings import DeviceReading

logger = logging.getLogger(__name__)

_Number = Annotated[float, Field(strict=True)]


class _LineModel(BaseModel):
    # Boards may print fields we do not use; only the known ones are typed and checked.
    model_config = ConfigDict(extra="ignore", frozen=True)


class PortLine(_LineModel):
    """One port entry of a board's telemetry line."""

    port: int = Field(strict=True, ge=1, le=MAX_PORTS, description="Port number, 1-based.")
    current_a: _Number | None = Field(default=None, description="Port current in A.")
    power_w: _Number | None = Field(default=None, description="Port active power in W.")
    energy_kwh: _Number | None = Field(default=None, description="Energy of the session in kWh.")
    on: bool | None = Field(default=None, strict=True, description="Relay state.")
    temp_c: _Number | None = Field(default=None, description="Port temperature in °C.")
    status: str | None = Field(default=None, max_length=32, description="Board's port status.")
    fault: str | None = Field(default=None, max_length=64, description="Fault the board reports.")


class TelemetryLine(_LineModel):
    """One line of board output: the canonical telemetry object (partial updates allowed)."""

    ts: _Number | AwareDatetime | None = Field(
        default=None, description="Epoch seconds or ISO 8601 with offset; default: arrival time."
    )
    voltage_v: _Number | None = Field(default=None, description="Post voltage in V.")
    temp_c: _Number | None = Field(default=None, description="Board temperature in °C.")
    ports: tuple[PortLine, ...] = Field(
        default=(), max_length=MAX_PORTS, description="Per-port values."
    )


_PORT_KEYS = (
    CanonicalKey.CURRENT_A,
    CanonicalKey.POWER_W,
    CanonicalKey.ENERGY_KWH,
    CanonicalKey.ON,
    CanonicalKey.TEMP_C,
)


class JsonLinesBoard:
    """A DIY post board on a serial port: reads telemetry lines, sends port commands.

    Commands are single lines: ``{"cmd":"port_off","port":3}`` / ``{"cmd":"port_on","port":3}``.
    Lines that are not JSON, cut short, too long or of the wrong shape are rejected and counted;
    implausible values are left out of the reading and counted. Thread-safe.
    """

    def __init__(  # noqa: PLR0913
        self,
        port: str,
        *,
        name: str,
        post: str,
        baudrate: int = 115_200,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        counters: FaultCounters | None = None,
        reopen_initial_s: float = REOPEN_INITIAL_S,
        reopen_max_s: float = REOPEN_MAX_S,
    ) -> None:
        """Store the settings; the port opens on `open()` or the first call."""
        self._port = port
        self.name = name
        self.post = post
        self._baudrate = baudrate
        self._timeout_s = timeout_s
        self.counters = counters if counters is not None else FaultCounters()
        self._backoff = ReopenBackoff(reopen_initial_s, reopen_max_s)
        self._lock = threading.Lock()
        self._serial: serial.Serial | None = None
        self._down = False
        self._buf = bytearray()
        self._discarding = False
        self._pending: list[DeviceReading] = []
        self.reopen_count = 0

    @property
    def is_open(self) -> bool:
        """True while the serial port is open."""
        return self._serial is not None

    def open(self) -> bool:
        """Open the port now unless it waits for its backoff; return is_open."""
        with self._lock:
            try:
                self._ensure_open()
            except PortGoneError:
                return False
            return True

    def close(self) -> None:
        """Close the port; the next call opens it again without waiting."""
        with self._lock:
            self._close_serial()
            self._down = False
            self._backoff.reset()

    def __enter__(self) -> JsonLinesBoard:
        """Open the port (a missing port is retried on later calls)."""
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the port."""
        self.close()

    def read_readings(self, timeout_s: float | None = None) -> list[DeviceReading]:
        """Return the readings of the lines that arrive within `timeout_s` (at least one if any).

        Raises:
            PortGoneError: the port vanished or cannot be opened (reopen backs off).
        """
        with self._lock:
            if self._pending:
                out, self._pending = self._pending, []
                return out
            return self._read_until(self._deadline(timeout_s), bool)

    def send_command(self, port: int, on: bool) -> None:  # noqa: FBT001
        """Write ``{"cmd":"port_on"|"port_off","port":port}`` as one line.

        Raises:
            PortGoneError: the port vanished or cannot be opened.
        """
        line = json.dumps({"cmd": "port_on" if on else "port_off", "port": port}) + "\n"
        with self._lock:
            ser = self._ensure_open()
            try:
                ser.write(line.encode())
                ser.flush()
            except (OSError, serial.SerialException) as err:
                self._port_gone(err)

    def set_relay(self, port: int, on: bool, timeout_s: float | None = None) -> bool:  # noqa: FBT001
        """Send the command, then wait for telemetry showing the port in that state.

        Readings that arrive meanwhile are kept for the next `read_readings`.

        Returns:
            True if a line confirmed the state within the timeout; False (counted as
            `relay_mismatch`) if not.
        """
        self.send_command(port, on)

        def confirmed(readings: list[DeviceReading]) -> bool:
            return any((p := r.port(port)) is not None and p.on is on for r in readings)

        with self._lock:
            readings = self._read_until(self._deadline(timeout_s), confirmed)
            self._pending.extend(readings)
        if confirmed(readings):
            return True
        self.counters.record(
            self.name,
            FaultReason.RELAY_MISMATCH,
            f"port {port} not confirmed {'on' if on else 'off'}",
        )
        return False

    # --- internals (lock held) -----------------------------------------------------------------

    def _deadline(self, timeout_s: float | None) -> float:
        return time.monotonic() + (self._timeout_s if timeout_s is None else timeout_s)

    def _ensure_open(self) -> serial.Serial:
        if self._serial is not None:
            return self._serial
        if (remaining := self._backoff.remaining_s()) > 0:
            self.counters.record(self.name, FaultReason.PORT_GONE, "port closed, waiting to reopen")
            msg = f"serial {self._port}: {self.name}: closed, next reopen in {remaining:.1f} s"
            raise PortGoneError(msg, device=self.name)
        try:
            self._serial = serial.serial_for_url(
                self._port, baudrate=self._baudrate, timeout=0, exclusive=True
            )
        except (OSError, ValueError) as err:
            self._schedule_reopen(f"cannot open ({err})")
            self.counters.record(self.name, FaultReason.PORT_GONE, f"cannot open: {err}")
            msg = f"serial {self._port}: {self.name}: cannot open: {err}"
            raise PortGoneError(msg, device=self.name) from err
        if self._down:
            self.reopen_count += 1
            logger.info("serial %s: reopened", self._port)
        self._down = False
        self._backoff.reset()
        self._buf.clear()
        self._discarding = False
        return self._serial

    def _close_serial(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except OSError:
                logger.debug("serial %s: error while closing", self._port, exc_info=True)
        self._serial = None

    def _schedule_reopen(self, why: str) -> None:
        self._backoff.failed()
        if not self._down:
            logger.warning("serial %s: %s; reopening with backoff", self._port, why)
            self._down = True

    def _port_gone(self, err: BaseException) -> None:
        self._close_serial()
        self._backoff.reset()
        self._schedule_reopen(f"port gone ({err})")
        self.counters.record(self.name, FaultReason.PORT_GONE, f"port gone ({err})")
        msg = f"serial {self._port}: {self.name}: port gone ({err})"
        raise PortGoneError(msg, device=self.name) from err

    def _read_until(self, deadline: float, done: Any) -> list[DeviceReading]:  # noqa: ANN401
        ser = self._ensure_open()
        readings: list[DeviceReading] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return readings
            try:
                ser.timeout = remaining
                data = ser.read(max(1, min(ser.in_waiting, JSONL_READ_CHUNK)))
            except (OSError, serial.SerialException) as err:
                self._port_gone(err)
            for line in self._feed(data):
                reading = self._parse(line)
                if reading is not None:
                    readings.append(reading)
            if done(readings):
                return readings

    def _feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        *complete, rest = data.split(b"\n")
        for piece in complete:
            if self._discarding:
                self._discarding = False
                self._buf.clear()
                continue
            self._buf += piece
            lines.append(bytes(self._buf))
            self._buf.clear()
        if self._discarding:
            return lines
        self._buf += rest
        if len(self._buf) > MAX_LINE_BYTES:
            self.counters.record(
                self.name, FaultReason.OVERSIZED, f"line longer than {MAX_LINE_BYTES} bytes dropped"
            )
            self._buf.clear()
            self._discarding = True
        return lines

    def _parse(self, raw: bytes) -> DeviceReading | None:  # noqa: PLR0911 - one exit per rejection
        raw = raw.strip()
        if not raw:
            return None
        if len(raw) > MAX_LINE_BYTES:
            self.counters.record(
                self.name, FaultReason.OVERSIZED, f"line of {len(raw)} bytes dropped"
            )
            return None
        try:
            text = raw.decode("utf-8")
            obj = json.loads(text)
        except UnicodeDecodeError:
            self.counters.record(self.name, FaultReason.BAD_JSON, f"not UTF-8: {raw[:40]!r}")
            return None
        except json.JSONDecodeError as err:
            # A line whose JSON stops short (board reset mid-line, lost bytes) is a partial line.
            cut = err.pos >= len(text) - 1 or err.msg.startswith("Unterminated string")
            reason = FaultReason.PARTIAL if text.startswith("{") and cut else FaultReason.BAD_JSON
            self.counters.record(self.name, reason, f"{err.msg}: {text[:60]!r}")
            return None
        if not isinstance(obj, dict):
            self.counters.record(self.name, FaultReason.BAD_JSON, f"not an object: {text[:60]!r}")
            return None
        try:
            line = TelemetryLine.model_validate(obj)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            self.counters.record(self.name, FaultReason.BAD_FIELDS, f"{where}: {first['msg']}")
            return None
        return self._reading(line)

    def _reading(self, line: TelemetryLine) -> DeviceReading:
        if line.ts is None:
            ts = time.time()
        elif not isinstance(line.ts, float | int):
            ts = line.ts.timestamp()
        else:
            ts = line.ts
        builder = ReadingBuilder(post=self.post, device=self.name, ts=ts)
        if line.voltage_v is not None:
            builder.add(CanonicalKey.VOLTAGE_V, None, line.voltage_v)
        if line.temp_c is not None:
            builder.add(CanonicalKey.TEMP_C, None, line.temp_c)
        for entry in line.ports:
            for key in _PORT_KEYS:
                value = getattr(entry, key.value)
                if value is not None:
                    builder.add(key, entry.port, value)
            builder.add_extra(entry.port, "status", entry.status)
            builder.add_extra(entry.port, "fault", entry.fault)
        reading = builder.build()
        for problem in reading.invalid:
            self.counters.record(self.name, FaultReason.INVALID_VALUE, problem)
        return reading
