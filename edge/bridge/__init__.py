"""`gridedge bridge`: runs firmware_bridge's serial lines on MQTT (see ARCHITECTURE.md)."""

from edge.bridge.availability import PostAvailability
from edge.bridge.maps import load_register_maps
from edge.bridge.messages import CommandError, PortCommand, parse_command, telemetry_payload
from edge.bridge.runner import BridgeRunner
from edge.bridge.schedule import PollSchedule
from edge.bridge.setup import load_bridge
from edge.bridge.worker import JsonLinesWorker, LineWorker, ModbusWorker, ReadingSink

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
