"""Serial bridge library: RS-485 bytes in, typed readings out, relay commands back.

Modbus RTU devices (through pymodbus) are described by register maps validated from YAML
(`device_profiles/serial/*.yaml`); DIY boards speak JSON lines. The library never touches MQTT
and never reads config.yaml: the `gridedge bridge` runner in edge/ does both.
"""

from firmware_bridge.const import CanonicalKey
from firmware_bridge.counters import FaultCounters, FaultReason
from firmware_bridge.decode import ReadingBuilder, check_value, decode_point
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
from firmware_bridge.jsonlines import JsonLinesBoard, PortLine, TelemetryLine
from firmware_bridge.modbus import ModbusBus, ModbusDevice, inter_frame_gap_s
from firmware_bridge.planner import ReadRequest, plan_reads
from firmware_bridge.readings import DeviceReading, PortReading
from firmware_bridge.registers import (
    FunctionCode,
    Order,
    RegisterMap,
    RegisterPoint,
    RegisterType,
    RelayBlock,
    load_register_map,
)

__all__ = [
    "BridgeError",
    "CanonicalKey",
    "CrcError",
    "DeviceReading",
    "FaultCounters",
    "FaultReason",
    "FrameError",
    "FunctionCode",
    "JsonLinesBoard",
    "ModbusBus",
    "ModbusDevice",
    "ModbusExceptionError",
    "NoResponseError",
    "Order",
    "PartialFrameError",
    "PortGoneError",
    "PortLine",
    "PortReading",
    "ReadRequest",
    "ReadingBuilder",
    "RegisterMap",
    "RegisterPoint",
    "RegisterType",
    "RelayBlock",
    "RelayNotMappedError",
    "TelemetryLine",
    "check_value",
    "decode_point",
    "inter_frame_gap_s",
    "load_register_map",
    "plan_reads",
]
