"""One RS-485 line: a pymodbus serial client shared by many slaves, one request at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from firmware_bridge._backoff import ReopenBackoff
from firmware_bridge.const import (
    DEFAULT_TIMEOUT_S,
    FIXED_GAP_ABOVE_BAUD,
    FIXED_INTER_FRAME_GAP_S,
    INTER_FRAME_CHARS,
    REOPEN_INITIAL_S,
    REOPEN_MAX_S,
)
from firmware_bridge.counters import FaultCounters, FaultReason
from firmware_bridge.decode import ReadingBuilder
from firmware_bridge.errors import (
    BridgeError,
    CrcError,
    FrameError,
    ModbusExceptionError,
    NoResponseError,
    PartialFrameError,
    PortGoneError,
    RelayNotMappedError,
)
from firmware_bridge.planner import ReadRequest, plan_reads
from firmware_bridge.registers import FunctionCode, RegisterMap

if TYPE_CHECKING:
    from pymodbus.pdu import ModbusPDU

    from firmware_bridge.readings import DeviceReading

logger = logging.getLogger(__name__)

_WRITE_COIL_RESPONSE_LEN = 8


@dataclass(frozen=True, slots=True)
class ModbusDevice:
    """One slave on the line.

    Attributes:
        name: Unique name, used as the counter and log source (e.g. ``"post-3"``).
        post: Post id the readings belong to.
        slave: Modbus slave address, 1..247.
        register_map: The device model's map.
        port: For a single-circuit meter measuring one port of a post: that port. Its current,
            power, energy and relay state are then reported for the port.
    """

    name: str
    post: str
    slave: int
    register_map: RegisterMap
    port: int | None = None

    def __post_init__(self) -> None:
        """Reject a slave address that Modbus does not allow for a unicast request."""
        if not 1 <= self.slave <= 247:  # noqa: PLR2004 - 0 is broadcast, 248+ reserved
            msg = f"device {self.name}: slave address must be 1..247 (got {self.slave})"
            raise ValueError(msg)


def inter_frame_gap_s(
    baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 1
) -> float:
    """Return the silence required between two frames at this line setting, in seconds."""
    if baudrate > FIXED_GAP_ABOVE_BAUD:
        return FIXED_INTER_FRAME_GAP_S
    bits_per_char = 1 + bytesize + (0 if parity == "N" else 1) + stopbits
    return INTER_FRAME_CHARS * bits_per_char / baudrate


class ModbusBus:
    """A Modbus RTU master on one serial port (device path or a pyserial URL).

    Thread-safe: every request holds the bus lock, so the runner may call `poll` and
    `set_relay` from worker threads. Faults come out as `BridgeError` subclasses and are
    counted in `counters`. When the port vanishes the bus closes it and reopens on later calls,
    waiting `reopen_initial_s`, then twice as long after each failed attempt, at most
    `reopen_max_s`; calls in between fail fast with `PortGoneError`.
    """

    def __init__(  # noqa: PLR0913
        self,
        port: str,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        counters: FaultCounters | None = None,
        reopen_initial_s: float = REOPEN_INITIAL_S,
        reopen_max_s: float = REOPEN_MAX_S,
    ) -> None:
        """Store the line settings; the port opens on `open()` or the first request."""
        self._port = port
        self._baudrate = baudrate
        self._bytesize = bytesize
        self._parity = parity
        self._stopbits = stopbits
        self._timeout_s = timeout_s
        self.counters = counters if counters is not None else FaultCounters()
        self._gap_s = inter_frame_gap_s(baudrate, bytesize, parity, stopbits)
        self._lock = threading.Lock()
        self._client: ModbusSerialClient | None = None
        self._rx_bytes = 0
        self._last_io = 0.0
        self._down = False
        self._backoff = ReopenBackoff(reopen_initial_s, reopen_max_s)
        self.reopen_count = 0

    @property
    def port(self) -> str:
        """The serial port path or URL."""
        return self._port

    @property
    def inter_frame_gap_s(self) -> float:
        """Silence kept between frames, in seconds."""
        return self._gap_s

    @property
    def is_open(self) -> bool:
        """True while the serial port is open."""
        return self._client is not None and self._client.connected

    def open(self) -> bool:
        """Open the port now if it is closed and not waiting for its backoff; return is_open."""
        with self._lock:
            try:
                self._ensure_open(self._port)
            except PortGoneError:
                return False
            return True

    def close(self) -> None:
        """Close the port; the next request opens it again without waiting."""
        with self._lock:
            if self._client is not None:
                self._client.close()  # type: ignore[no-untyped-call]
            self._down = False
            self._backoff.reset()

    def __enter__(self) -> ModbusBus:
        """Open the port (a missing port is retried on later calls)."""
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the port."""
        self.close()

    def poll(self, device: ModbusDevice) -> DeviceReading:
        """Read every point of the device's map in as few requests as the map allows.

        Returns:
            The reading; implausible values are left out, listed in `invalid` and counted.

        Raises:
            BridgeError: a subclass naming the fault; nothing of this poll is returned then.
        """
        raw: list[tuple[ReadRequest, Sequence[int] | Sequence[bool]]] = []
        with self._lock:
            raw.extend(
                (request, self._read(device, request))
                for request in plan_reads(device.register_map)
            )
        builder = ReadingBuilder(
            post=device.post, device=device.name, ts=time.time(), meter_port=device.port
        )
        for request, values in raw:
            builder.add_request(request, values)
        reading = builder.build()
        for problem in reading.invalid:
            self.counters.record(device.name, FaultReason.INVALID_VALUE, problem)
        return reading

    def set_relay(self, device: ModbusDevice, port: int, on: bool) -> bool:  # noqa: FBT001
        """Write the port's relay coil, then read it back.

        Returns:
            True if the coil reads back as written; False (counted as `relay_mismatch`) if not.

        Raises:
            RelayNotMappedError: the map has no coil for this port.
            BridgeError: the write or the read-back failed.
        """
        address = device.register_map.relay_address(port)
        if address is None:
            self._fail(device.name, RelayNotMappedError, f"no relay coil for port {port}")
        with self._lock:
            client = self._ensure_open(device.name)
            self._execute(
                device,
                f"write coil {address}",
                lambda: client.write_coil(address, on, device_id=device.slave),
                _WRITE_COIL_RESPONSE_LEN,
            )
            check = ReadRequest(FunctionCode.COILS, address, 1, ())
            state = bool(self._read(device, check)[0])
        if state != on:
            self.counters.record(
                device.name,
                FaultReason.RELAY_MISMATCH,
                f"port {port} relay reads {'on' if state else 'off'} after writing "
                f"{'on' if on else 'off'}",
            )
            return False
        logger.info("%s: port %d relay %s (read back)", device.name, port, "on" if on else "off")
        return True

    # --- internals (bus lock held) -------------------------------------------------------------

    def _fail(self, source: str, error: type[BridgeError], detail: str) -> NoReturn:
        self.counters.record(source, error.reason, detail)
        msg = f"serial {self._port}: {source}: {detail}"
        raise error(msg, device=source)

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:  # noqa: FBT001
        if not sending:
            self._rx_bytes = max(self._rx_bytes, len(data))
        return data

    def _ensure_open(self, source: str) -> ModbusSerialClient:  # noqa: RET503 - _fail never returns
        if self._client is None:
            self._client = ModbusSerialClient(
                self._port,
                baudrate=self._baudrate,
                bytesize=self._bytesize,
                parity=self._parity,
                stopbits=self._stopbits,
                timeout=self._timeout_s,
                retries=0,
                name=self._port,
                trace_packet=self._trace_packet,
            )
        if self._client.connected:
            return self._client
        if (remaining := self._backoff.remaining_s()) > 0:
            self._fail(source, PortGoneError, f"closed, next reopen in {remaining:.1f} s")
        if self._client.connect():
            if self._down:
                self.reopen_count += 1
                logger.info("serial %s: reopened", self._port)
            self._down = False
            self._backoff.reset()
            self._last_io = time.monotonic()
            return self._client
        self._schedule_reopen(f"cannot open {self._port}")
        self._fail(source, PortGoneError, "cannot open the port")

    def _schedule_reopen(self, why: str) -> None:
        self._backoff.failed()
        if not self._down:
            # Logged once per outage; the attempts in between are counted, not logged.
            logger.warning("serial %s: %s; reopening with backoff", self._port, why)
            self._down = True

    def _port_gone(self, source: str, err: BaseException) -> NoReturn:
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]
        self._backoff.reset()
        self._schedule_reopen(f"port gone ({err})")
        self._fail(source, PortGoneError, f"port gone ({err})")

    def _wait_gap(self) -> None:
        delay = self._last_io + self._gap_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _drain_stale(self, client: ModbusSerialClient, source: str) -> None:
        # Garbage on the line or a late answer to an earlier request would otherwise be parsed
        # as the start of the next response.
        socket = client.socket
        if socket is None:
            return
        waiting = socket.in_waiting
        if waiting:
            junk = socket.read(waiting)
            self.counters.record(
                source,
                FaultReason.STALE_BYTES,
                f"discarded {len(junk)} stray bytes before a request",
            )

    def _execute(
        self,
        device: ModbusDevice,
        what: str,
        call: Callable[[], ModbusPDU],
        expected_len: int,
    ) -> ModbusPDU:
        client = self._ensure_open(device.name)
        self._wait_gap()
        try:
            self._drain_stale(client, device.name)
            self._rx_bytes = 0
            response = call()
        except ConnectionException as err:
            self._port_gone(device.name, err)
        except ModbusIOException:
            if self._rx_bytes == 0:
                self._fail(device.name, NoResponseError, f"{what}: no answer")
            if self._rx_bytes < expected_len:
                self._fail(
                    device.name,
                    PartialFrameError,
                    f"{what}: {self._rx_bytes} of {expected_len} bytes before the timeout",
                )
            self._fail(device.name, CrcError, f"{what}: {self._rx_bytes} bytes, no valid frame")
        except ModbusException as err:
            self._fail(device.name, FrameError, f"{what}: {err}")
        except OSError as err:  # pyserial's SerialException is an OSError
            self._port_gone(device.name, err)
        finally:
            self._last_io = time.monotonic()
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            self.counters.record(
                device.name, FaultReason.EXCEPTION, f"{what}: exception code {code}"
            )
            msg = f"serial {self._port}: {device.name}: {what}: exception code {code}"
            raise ModbusExceptionError(msg, device=device.name, code=code)
        return response

    def _read(self, device: ModbusDevice, request: ReadRequest) -> Sequence[int] | Sequence[bool]:
        client = self._ensure_open(device.name)
        readers: dict[FunctionCode, Callable[..., ModbusPDU]] = {
            FunctionCode.COILS: client.read_coils,
            FunctionCode.DISCRETE_INPUTS: client.read_discrete_inputs,
            FunctionCode.HOLDING_REGISTERS: client.read_holding_registers,
            FunctionCode.INPUT_REGISTERS: client.read_input_registers,
        }
        reader = readers[request.function]
        what = f"read fc{int(request.function)} {request.address}+{request.count}"
        response = self._execute(
            device,
            what,
            lambda: reader(request.address, count=request.count, device_id=device.slave),
            request.response_length(),
        )
        # A late answer to another request of this slave can pass pymodbus's checks; refuse
        # any answer whose function code or size is not the one asked for.
        if request.function.is_bits:
            values: Sequence[int] | Sequence[bool] = response.bits
            size_ok = len(values) == (request.count + 7) // 8 * 8
        else:
            values = response.registers
            size_ok = len(values) == request.count
        if response.function_code != int(request.function) or not size_ok:
            self._fail(
                device.name,
                FrameError,
                f"{what}: answer does not match (function {response.function_code}, "
                f"{len(values)} values)",
            )
        return values[: request.count]
