"""`gridedge bridge`: runs firmware_bridge's serial lines on MQTT (see docs/architecture.md).

The names below are loaded on first use: every gridedge command, the daemon included, imports
this package to list the ``bridge`` subcommand, and the bridge's code with pymodbus costs ~11 MiB
of memory that only the bridge needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "BridgeRunner": "runner",
    "CommandError": "messages",
    "JsonLinesWorker": "worker",
    "LineWorker": "worker",
    "ModbusWorker": "worker",
    "PollSchedule": "schedule",
    "PortCommand": "messages",
    "PostAvailability": "availability",
    "ReadingSink": "worker",
    "load_bridge": "setup",
    "load_register_maps": "maps",
    "parse_command": "messages",
    "telemetry_payload": "messages",
}

__all__ = [
    "BridgeRunner",
    "CommandError",
    "JsonLinesWorker",
    "LineWorker",
    "ModbusWorker",
    "PollSchedule",
    "PortCommand",
    "PostAvailability",
    "ReadingSink",
    "load_bridge",
    "load_register_maps",
    "parse_command",
    "telemetry_payload",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
