"""Exceptions of the serial bridge library.

Hierarchy::

    BridgeError                      any failure talking to a device on the serial line
    ├── PortGoneError                the serial port vanished or cannot be opened (reopen backs off)
    ├── NoResponseError              the device did not answer within the timeout
    ├── FrameError                   bytes came back but no valid frame
    │   ├── CrcError                 a whole frame arrived with a wrong CRC (or garbage)
    │   └── PartialFrameError        a frame was cut short
    ├── ModbusExceptionError         the device answered with a Modbus exception response
    └── RelayNotMappedError          the register map has no relay coil for that port

Every error carries `device` (the device name, or the port for bus-wide faults) and `reason`
(the counter key, see `FaultReason`).
"""

from __future__ import annotations

from firmware_bridge.counters import FaultReason


class BridgeError(Exception):
    """Base class of every error raised by firmware_bridge."""

    reason: FaultReason = FaultReason.FRAME

    def __init__(self, message: str, *, device: str) -> None:
        """Store the message and the device it concerns."""
        super().__init__(message)
        self.device = device


class PortGoneError(BridgeError):
    """The serial port vanished (adapter unplugged, pty closed) or cannot be opened."""

    reason = FaultReason.PORT_GONE


class NoResponseError(BridgeError):
    """The device sent nothing back within the timeout."""

    reason = FaultReason.TIMEOUT


class FrameError(BridgeError):
    """Bytes arrived but pymodbus found no valid frame in them."""

    reason = FaultReason.FRAME


class CrcError(FrameError):
    """A frame of the expected length (or longer garbage) arrived with a wrong CRC."""

    reason = FaultReason.CRC


class PartialFrameError(FrameError):
    """Fewer bytes than the expected frame arrived before the timeout."""

    reason = FaultReason.PARTIAL


class ModbusExceptionError(BridgeError):
    """The device answered with a Modbus exception response."""

    reason = FaultReason.EXCEPTION

    def __init__(self, message: str, *, device: str, code: int) -> None:
        """Store the message, the device and the Modbus exception code (2 = illegal address)."""
        super().__init__(message, device=device)
        self.code = code


class RelayNotMappedError(BridgeError):
    """The device's register map has no relay coil for the requested port."""

    reason = FaultReason.NOT_MAPPED
