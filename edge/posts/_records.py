"""What protection decides (trips, re-cuts, sensor faults, resets) and the errors it raises.

Exceptions::

    ProtectionError
     ├── UnknownPortError     a port the post's limits do not list
     ├── NotLatchedError      a staff reset of a port that is not latched
     └── SnapshotError        persisted state that cannot be restored
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ProtectionError(Exception):
    """Base class of protection errors."""


class UnknownPortError(ProtectionError):
    """The port is not configured on this post."""


class NotLatchedError(ProtectionError):
    """A staff reset was asked for a port that is not latched."""


class SnapshotError(ProtectionError):
    """Persisted protection state is malformed or belongs to another post."""


class TripCause(StrEnum):
    """Why a port was cut off."""

    INSTANTANEOUS = "instantaneous"
    INVERSE_TIME = "inverse_time"
    OVERPOWER = "overpower"
    POST_TOTAL_CURRENT = "post_total_current"
    OVERTEMP = "overtemp"
    DEVICE_FAULT = "device_fault"


class RecutReason(StrEnum):
    """Why a latched port is cut again."""

    RESTARTED = "restarted"
    """Seen off after the cut, then on again: someone restarted it (app, QR code, button)."""
    STILL_ON = "still_on"
    """Never seen off since the cut and still on after a retry interval: the cut did not take."""


@dataclass(frozen=True, slots=True)
class Latch:
    """A port held off until staff reset it.

    Attributes:
        cause: The trip that latched the port.
        at: When it latched (epoch seconds).
    """

    cause: TripCause
    at: float


@dataclass(frozen=True)
class Trip:
    """Cut ``ports`` now and keep them off: each is latched until a staff reset.

    Attributes:
        post: Post id.
        port: The port that tripped, or None for a post-wide trip (post over-temperature or a
            fault the post reports for itself) that cuts every port.
        ports: Ports to cut. ``(port,)`` for a port trip; every configured port for a post-wide
            trip (ports already latched are included: cutting them again is harmless).
        cause: The element that operated.
        at: When the decision was made (the timestamp passed to the call that returned it).
        measured: The value that operated the element (A, W or °C; None for a device fault).
            Definite-time elements give the highest value since pickup; the inverse-time
            element gives the current standing when it operated.
        limit: The setting it was compared with (same unit; None for a device fault).
        unit: Unit of ``measured`` and ``limit``.
        evidence: JSON-serialisable details for the alert a grid worker reads: curve, TMS,
            I/Is, accumulated fraction, when the element picked up and operated, recent samples.
    """

    post: str
    port: int | None
    ports: tuple[int, ...]
    cause: TripCause
    at: float
    measured: float | None
    limit: float | None
    unit: str | None
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable copy."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class Recut:
    """A latched port was seen on: cut it again and log who got around the latch.

    Attributes:
        post: Post id.
        port: The latched port.
        at: Timestamp of the reading that showed the port on.
        reason: Restarted after being off, or never went off after the cut.
        latch: The latch in force.
    """

    post: str
    port: int
    at: float
    reason: RecutReason
    latch: Latch

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable copy."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class SensorFault:
    """A reading was rejected as implausible; it was not used (never taken as 0).

    The last valid reading keeps standing for at most ``max_hold_s``; after that the elements
    freeze. Whether to cut the port on a sensor fault is the caller's policy.

    Attributes:
        post: Post id.
        port: Port, or None for a post-level reading.
        at: Timestamp of the reading.
        quantity: ``current_a``, ``power_w`` or ``temp_c``.
        value: ``repr`` of the rejected value (NaN and inf are not valid JSON numbers).
        reason: ``not_finite``, ``negative`` or ``implausible``.
    """

    post: str
    port: int | None
    at: float
    quantity: str
    value: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable copy."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class ResetRecord:
    """Audit record of a staff reset.

    Attributes:
        post: Post id.
        port: The port released.
        at: When it was reset.
        by: Who reset it (staff id as given to the CLI or MQTT command).
        latch: The latch that was cleared.
    """

    post: str
    port: int
    at: float
    by: str
    latch: Latch

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable copy."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


Decision = Trip | Recut | SensorFault
"""Everything ``PostProtection`` asks the daemon to act on or log."""


def _plain(value: object) -> object:
    """Turn nested dataclasses, mappings and tuples into JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
