"""Charging posts: per-port and per-post overload protection (decoding lands here too).

``PostProtection`` is a pure state machine: readings with explicit timestamps in, trips,
re-cuts and sensor faults out. See ``edge.posts.protection`` for how the daemon drives it.
"""

# edge.config imports this package's settings module (limits on PostConfig); importing the config
# package first keeps that cycle harmless whichever of the two is imported first.
import edge.config  # noqa: F401
from edge.posts.protection import (
    Curve,
    CurveConstants,
    Decision,
    Latch,
    NotLatchedError,
    PortLimits,
    PostLimits,
    PostProtection,
    ProtectionError,
    Recut,
    RecutReason,
    ResetMode,
    ResetRecord,
    SensorFault,
    SnapshotError,
    Trip,
    TripCause,
    UnknownPortError,
    operate_time,
)

__all__ = [
    "Curve",
    "CurveConstants",
    "Decision",
    "Latch",
    "NotLatchedError",
    "PortLimits",
    "PostLimits",
    "PostProtection",
    "ProtectionError",
    "Recut",
    "RecutReason",
    "ResetMode",
    "ResetRecord",
    "SensorFault",
    "SnapshotError",
    "Trip",
    "TripCause",
    "UnknownPortError",
    "operate_time",
]
